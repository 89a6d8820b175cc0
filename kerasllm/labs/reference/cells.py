"""Recurrent cells written out with `keras.ops` (teaching layers for labs 01-03).

Each cell computes one time step and follows the Keras cell protocol, so `keras.layers.RNN` runs
the loop (and the padding mask) for it: `call(inputs, states) -> (output, new_states)` with
`state_size` and `output_size`. The weights have the names, shapes and order of
`keras.layers.SimpleRNNCell` / `LSTMCell` / `GRUCell` (`kernel`, `recurrent_kernel`, `bias`), so a
cell's weights copy into the Keras one and back.

The override point of every cell is `call(inputs, states, training=None)`: the step itself.
"""

import keras
from keras import ops

from kerasllm.errors import ConfigError


def _check_units(units, kind):
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ConfigError(f"{kind} units must be a positive integer, got {units!r}. Use e.g. {kind}(16).")


def _previous(states):
    """The first state whether `states` is a list (as `keras.layers.RNN` passes it) or a tensor."""
    return states[0] if isinstance(states, (list, tuple)) else states


class _Cell(keras.layers.Layer):
    """Shared constructor and config of the cells: `units` plus the Layer keywords."""

    #: How many blocks of `units` columns the kernels hold (1 for SimpleRNN, 4 LSTM, 3 GRU).
    gates = 1

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        _check_units(units, type(self).__name__)
        self.units = units
        self.output_size = units

    def build(self, inputs_shape):
        width = self.gates * self.units
        self.kernel = self.add_weight(shape=(inputs_shape[-1], width), name="kernel",
                                      initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), name="recurrent_kernel",
                                                initializer="orthogonal")
        self.bias = self.add_weight(shape=self.bias_shape(), name="bias", initializer="zeros")

    def bias_shape(self):
        return (self.gates * self.units,)

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config


@keras.saving.register_keras_serializable(package="kerasllm")
class SimpleRNNCell(_Cell):
    """One step of the Elman RNN: `h_t = tanh(x_t W + h_{t-1} U + b)`.

    Weights as in `keras.layers.SimpleRNNCell`: `kernel` W `(input_dim, units)`,
    `recurrent_kernel` U `(units, units)`, `bias` b `(units,)`. The output is the new state.
    Reference: [Elman, 1990](https://doi.org/10.1207/s15516709cog1402_1).

    Args:
        units: int. Width of the state (and the output).
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, input_dim)`, the input at step t.
        states: list `[h_{t-1}]` with `h_{t-1}` of shape `(batch, units)`.

    Returns:
        `(h_t, [h_t])`.

    Example:
    >>> import keras, numpy as np
    >>> from kerasllm.labs.reference import SimpleRNNCell
    >>> rnn = keras.layers.RNN(SimpleRNNCell(8), return_sequences=True)
    >>> tuple(rnn(np.ones((2, 5, 4), "float32")).shape)
    (2, 5, 8)

    Override `call` to try another recurrence, e.g. a ReLU RNN:
    >>> class ReLURNNCell(SimpleRNNCell):
    ...     def call(self, inputs, states, training=None):
    ...         h = ops.relu(ops.matmul(inputs, self.kernel)
    ...                      + ops.matmul(states[0], self.recurrent_kernel) + self.bias)
    ...         return h, [h]
    >>> tuple(keras.layers.RNN(ReLURNNCell(8))(np.ones((2, 5, 4), "float32")).shape)
    (2, 8)
    """

    gates = 1

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.state_size = units

    def call(self, inputs, states, training=None):
        h_prev = _previous(states)  # (B, units)
        h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias)
        return h, [h]


@keras.saving.register_keras_serializable(package="kerasllm")
class LSTMCell(_Cell):
    """One step of the LSTM ([Hochreiter & Schmidhuber, 1997](https://doi.org/10.1162/neco.1997.9.8.1735)).

    ```
    i, f, g, o = split(x_t W + h_{t-1} U + b, 4)     # Keras' gate order: input, forget, cell, output
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(c_t)
    ```

    Weights as in `keras.layers.LSTMCell`: `kernel` `(input_dim, 4 units)`, `recurrent_kernel`
    `(units, 4 units)`, `bias` `(4 units,)`. The forget-gate bias starts at 1 (Keras'
    `unit_forget_bias=True`). The state is `[h, c]`; the output is `h`.

    Args:
        units: int. Width of `h` and `c`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Example:
    >>> import keras, numpy as np
    >>> from kerasllm.labs.reference import LSTMCell
    >>> cell = LSTMCell(8)
    >>> out, (h, c) = cell(np.ones((2, 4), "float32"), cell.get_initial_state(2))
    >>> tuple(out.shape), tuple(c.shape)
    ((2, 8), (2, 8))

    Override `call` to try a variant, e.g. an LSTM without an output gate:
    >>> class NoOutputGateLSTMCell(LSTMCell):
    ...     def call(self, inputs, states, training=None):
    ...         h_prev, c_prev = states
    ...         z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias
    ...         i, f, g, _ = ops.split(z, 4, axis=-1)
    ...         c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
    ...         return ops.tanh(c), [ops.tanh(c), c]
    >>> tuple(keras.layers.RNN(NoOutputGateLSTMCell(8))(np.ones((2, 5, 4), "float32")).shape)
    (2, 8)
    """

    gates = 4

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.state_size = [units, units]

    def build(self, inputs_shape):
        super().build(inputs_shape)
        # Forget gate bias 1 (as unit_forget_bias=True): remember by default at the start of training.
        u = self.units
        self.bias.assign(ops.concatenate([ops.zeros((u,)), ops.ones((u,)), ops.zeros((2 * u,))]))

    def call(self, inputs, states, training=None):
        h_prev, c_prev = states  # (B, units) each
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias  # (B, 4u)
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="kerasllm")
class GRUCell(_Cell):
    """One step of the GRU ([Cho et al., 2014](https://arxiv.org/abs/1406.1078)) in Keras' convention.

    ```
    x_z, x_r, x_h = split(x_t W + b_input, 3)          # gate order: update z, reset r, candidate h
    h_z, h_r, h_h = split(h_{t-1} U + b_recurrent, 3)
    z = sigmoid(x_z + h_z);  r = sigmoid(x_r + h_r)
    candidate = tanh(x_h + r * h_h)                    # reset applied after the matmul (reset_after=True)
    h_t = z * h_{t-1} + (1 - z) * candidate
    ```

    Weights as in `keras.layers.GRUCell(reset_after=True)` (the Keras default): `kernel`
    `(input_dim, 3 units)`, `recurrent_kernel` `(units, 3 units)`, `bias` `(2, 3 units)` whose
    rows are the input bias and the recurrent bias.

    Args:
        units: int. Width of the state (and the output).
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Example:
    >>> import keras, numpy as np
    >>> from kerasllm.labs.reference import GRUCell
    >>> tuple(keras.layers.RNN(GRUCell(8))(np.ones((2, 5, 4), "float32")).shape)
    (2, 8)

    Override `call` to try a variant, e.g. the minimal gated unit (one gate, no reset):
    >>> class NoResetGRUCell(GRUCell):
    ...     def call(self, inputs, states, training=None):
    ...         h_prev = states[0]
    ...         x_z, _, x_h = ops.split(ops.matmul(inputs, self.kernel) + self.bias[0], 3, axis=-1)
    ...         h_z, _, h_h = ops.split(ops.matmul(h_prev, self.recurrent_kernel) + self.bias[1], 3, axis=-1)
    ...         z = ops.sigmoid(x_z + h_z)
    ...         h = z * h_prev + (1 - z) * ops.tanh(x_h + h_h)
    ...         return h, [h]
    >>> tuple(keras.layers.RNN(NoResetGRUCell(8))(np.ones((2, 5, 4), "float32")).shape)
    (2, 8)
    """

    gates = 3

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.state_size = units

    def bias_shape(self):
        return (2, 3 * self.units)

    def call(self, inputs, states, training=None):
        h_prev = _previous(states)  # (B, units)
        x_z, x_r, x_h = ops.split(ops.matmul(inputs, self.kernel) + self.bias[0], 3, axis=-1)
        h_z, h_r, h_h = ops.split(ops.matmul(h_prev, self.recurrent_kernel) + self.bias[1], 3, axis=-1)
        z = ops.sigmoid(x_z + h_z)
        r = ops.sigmoid(x_r + h_r)
        candidate = ops.tanh(x_h + r * h_h)
        h = z * h_prev + (1.0 - z) * candidate
        return h, [h]
