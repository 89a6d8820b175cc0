"""Stacked recurrent backbones: SimpleRNN (`rnn`), GRU (`gru`) and LSTM (`lstm`)."""

import keras
from keras import ops

from kerasllm.checks import require
from kerasllm.models.backbone import Backbone, register_backbone
from kerasllm.layers.plugged import plugged_config, plugged_layer


class RecurrentBackbone(Backbone):
    """Base class of the stacked recurrent backbones.

    `num_layers` Keras recurrent layers with `return_sequences=True` run one after the other,
    with dropout between them. The padding mask goes to every layer, so padded steps never
    update the state and never reach real tokens. The layers keep Keras' defaults (tanh /
    sigmoid activations, `recurrent_dropout=0`, `unroll=False`, biases, `reset_after=True`
    for GRU), so on a GPU with the TensorFlow backend they run on cuDNN.

    With `bidirectional=True` (only when `causal=False`) each layer has a forward and a
    backward (`go_backwards=True`) recurrent layer of `hidden_dim // 2` units each, whose
    outputs are concatenated, so the output width stays `hidden_dim` (which must then be even);
    the recurrent layers then hold about three quarters of the unidirectional parameters.

    Override point: `make_recurrent_layer(units, name, go_backwards=False)` returns one Keras
    recurrent layer with `return_sequences=True`. A student's cell plugs in through
    `keras.layers.RNN`:

    ```python
    @register_backbone("my_rnn")
    class MyRNNBackbone(RecurrentBackbone):
        def make_recurrent_layer(self, units, name, go_backwards=False):
            return keras.layers.RNN(MyCell(units), return_sequences=True,
                                    go_backwards=go_backwards, name=name,
                                    dtype=self.dtype_policy)
    ```

    Or, without a subclass, pass the cell: `get_backbone("rnn", ..., cell=MyCell)` (a class built as
    `MyCell(units)`, an instance whose config is reused with each layer's `units`, or an import path
    `"my_cell.py:MyCell"`); every layer is then `keras.layers.RNN(cell)`.

    Args:
        vocab_size: int. Number of token ids (0 is padding).
        hidden_dim: int. Width of the embeddings, the states and the output features.
        num_layers: int. Number of stacked recurrent layers.
        dropout: float. Dropout after the embedding and between layers. Defaults to `0.0`.
        causal: bool. Must be False when `bidirectional=True`. A forward RNN is causal either
            way. Defaults to `False`.
        position: str. Defaults to `"none"` (the recurrence sees the order);
            `"learned"` and `"sinusoidal"` are allowed.
        max_length: int. Longest sequence with learned positions. Defaults to `512`.
        bidirectional: bool. Read the sequence in both directions. Defaults to `False`.
        cell: a Keras RNN cell class, instance or import path (see above), or None for the
            architecture's own layer. Defaults to `None`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).
    """

    default_position = "none"
    #: Measured in docs/benchmarks.md ("Training recipes"). Language models: plain SGD at a high rate with a
    #: tight global clip, as in the PyTorch word-language-model example (Zaremba et al. 2014 use SGD too), so
    #: every step moves the weights by about lr x clipnorm = 5: with AdamW at 1e-3 to 1e-2 the LSTM is still
    #: on the unigram plateau of PTB after 300 steps, with this it leaves it. Sequence to sequence (copying,
    #: recall): AdamW at 1e-2 (this SGD leaves the LSTM at the frequent-token level of selective copy).
    #: Classification: AdamW at 3e-3 (this SGD leaves LSTM classifiers at chance on negation_sentiment).
    recipe = {
        "lm": {"optimizer": "sgd", "learning_rate": 20.0, "clipnorm": 0.25, "weight_decay": 0.0, "warmup_ratio": 0.0},
        "seq2seq": {"learning_rate": 1e-2},
        "classification": {"learning_rate": 3e-3},
    }
    #: A seq2seq encoder may read both ways (`arch_options.bidirectional=true`); its decoder reads forward.
    encoder_only_options = ("bidirectional",)

    def __init__(
        self,
        vocab_size,
        hidden_dim,
        num_layers,
        dropout=0.0,
        causal=False,
        position=None,
        max_length=512,
        bidirectional=False,
        cell=None,
        **kwargs,
    ):
        super().__init__(
            vocab_size=vocab_size,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            dropout=dropout,
            causal=causal,
            position=position,
            max_length=max_length,
            **kwargs,
        )
        kind = type(self).__name__
        require(
            isinstance(bidirectional, bool),
            f"{kind} bidirectional must be True or False, got {bidirectional!r}.",
        )
        require(
            not (bidirectional and causal),
            f"{kind} cannot be bidirectional and causal: the backward pass reads the future. "
            "Set bidirectional=False for language models, or causal=False for classifiers.",
        )
        require(
            not bidirectional or hidden_dim % 2 == 0,
            f"{kind} with bidirectional=True splits hidden_dim={hidden_dim} between two "
            "directions. Use an even hidden_dim.",
        )
        self.bidirectional = bidirectional
        self.cell = plugged_config(cell, "cell", lambda cls: cls(hidden_dim))

    #: The Keras recurrent layer each subclass stacks (`keras.layers.SimpleRNN`, `GRU`, `LSTM`).
    recurrent_layer_class = None

    def make_recurrent_layer(self, units, name, go_backwards=False):
        """Returns one Keras recurrent layer with `units` units and `return_sequences=True`.

        `go_backwards=True` asks for the backward direction of a bidirectional layer. The default
        builds `recurrent_layer_class` with Keras' defaults.
        """
        if self.recurrent_layer_class is None:
            raise NotImplementedError(
                f"{type(self).__name__} must set recurrent_layer_class or implement "
                "make_recurrent_layer(units, name, go_backwards)."
            )
        return self.recurrent_layer_class(
            units, return_sequences=True, go_backwards=go_backwards, name=name, dtype=self.dtype_policy
        )

    def build(self, token_ids_shape):
        super().build(token_ids_shape)
        features_shape = (*token_ids_shape, self.hidden_dim)
        units = self.hidden_dim // 2 if self.bidirectional else self.hidden_dim
        # Both directions are built here rather than with keras.layers.Bidirectional, whose
        # internal clone-by-config can swap directions when several are created during
        # `load_model` (its object-sharing scope matches recycled object ids).
        self.forward_layers = []
        self.backward_layers = []
        self.between_dropouts = []
        for i in range(self.num_layers):
            layer = self._recurrent_layer(units, name=f"recurrent_{i}")
            layer.build(features_shape)
            self.forward_layers.append(layer)
            if self.bidirectional:
                layer = self._recurrent_layer(units, name=f"recurrent_{i}_backward", go_backwards=True)
                layer.build(features_shape)
                self.backward_layers.append(layer)
        for i in range(self.num_layers - 1):
            self.between_dropouts.append(
                keras.layers.Dropout(self.dropout, name=f"dropout_{i}", dtype=self.dtype_policy)
            )

    def _recurrent_layer(self, units, name, go_backwards=False):
        if self.cell is None:
            return self.make_recurrent_layer(units, name=name, go_backwards=go_backwards)
        cell = plugged_layer(self.cell, "cell", units=units, name=f"{name}_cell", dtype=self.dtype_policy)
        return keras.layers.RNN(
            cell, return_sequences=True, go_backwards=go_backwards, name=name, dtype=self.dtype_policy
        )

    def encode(self, x, padding_mask, training=None):
        for i, forward in enumerate(self.forward_layers):
            if i > 0:
                x = self.between_dropouts[i - 1](x, training=training)
            h = forward(x, mask=padding_mask, training=training)  # (B, T, C or C/2)
            if self.bidirectional:
                # A backward layer returns its outputs in reading order: last step first.
                backward = self.backward_layers[i](x, mask=padding_mask, training=training)
                h = ops.concatenate([h, ops.flip(backward, axis=1)], axis=-1)  # (B, T, C)
            x = h
        return x

    def initial_encode_state(self, batch_size, max_length):
        """Zero states of every layer's cell: a list (per layer) of lists of `(batch, size)`."""
        states = []
        for layer in self.forward_layers:
            sizes = layer.cell.state_size
            sizes = sizes if isinstance(sizes, (list, tuple)) else [sizes]
            states.append([ops.zeros((batch_size, size), self.compute_dtype) for size in sizes])
        return states

    def encode_step(self, x, state, index):
        """One recurrence step of every layer through its Keras cell (`layer.cell`)."""
        new_state = []
        for layer, cell_states in zip(self.forward_layers, state):
            x, cell_states = layer.cell(x, cell_states, training=False)
            is_list = isinstance(cell_states, (list, tuple))
            new_state.append(list(cell_states) if is_list else [cell_states])
        return x, new_state

    def get_config(self):
        config = super().get_config()
        config["bidirectional"] = self.bidirectional
        config["cell"] = self.cell
        return config


@register_backbone("rnn")
class SimpleRNNBackbone(RecurrentBackbone):
    """Stacked Elman RNNs, `h_t = tanh(W x_t + U h_{t-1} + b)` (`keras.layers.SimpleRNN`).

    Same arguments as `RecurrentBackbone`.

    Example:
    >>> import numpy as np
    >>> from kerasllm.models import get_backbone
    >>> backbone = get_backbone("rnn", vocab_size=50, hidden_dim=16, num_layers=2)
    >>> tuple(backbone(np.array([[5, 6, 7, 0]])).shape)
    (1, 4, 16)
    """

    recurrent_layer_class = keras.layers.SimpleRNN


@register_backbone("gru")
class GRUBackbone(RecurrentBackbone):
    """Stacked GRUs ([Cho et al., 2014](https://arxiv.org/abs/1406.1078); `keras.layers.GRU`).

    Same arguments as `RecurrentBackbone`.

    Example:
    >>> import numpy as np
    >>> from kerasllm.models import get_backbone
    >>> backbone = get_backbone("gru", vocab_size=50, hidden_dim=16, num_layers=2,
    ...                         bidirectional=True)
    >>> tuple(backbone(np.array([[5, 6, 7, 0]])).shape)
    (1, 4, 16)
    """

    recurrent_layer_class = keras.layers.GRU


@register_backbone("lstm")
class LSTMBackbone(RecurrentBackbone):
    """Stacked LSTMs ([Hochreiter & Schmidhuber, 1997]; `keras.layers.LSTM`).

    Reference: https://doi.org/10.1162/neco.1997.9.8.1735

    Same arguments as `RecurrentBackbone`.

    Example:
    >>> import numpy as np
    >>> from kerasllm.models import get_backbone
    >>> backbone = get_backbone("lstm", vocab_size=50, hidden_dim=16, num_layers=2, causal=True)
    >>> tuple(backbone(np.array([[5, 6, 7, 0]])).shape)
    (1, 4, 16)
    """

    recurrent_layer_class = keras.layers.LSTM
