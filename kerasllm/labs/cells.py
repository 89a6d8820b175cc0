"""Labs 01-03: a recurrent cell (`rnn`, `lstm`, `gru`) checked against the Keras cell with the same weights.

Convention: the class is built as `Class(units)`, follows the Keras cell protocol
(`call(inputs, states) -> (output, new_states)`, `state_size`, `output_size`) and has the weights of
`keras.layers.SimpleRNNCell` / `LSTMCell` / `GRUCell` with the same names, shapes and order
(`kernel`, `recurrent_kernel`, `bias`).

Example (`kerasllm lab check gru FILE.py:Class` runs `GRULab`; an LSTM cell fails its first check, with a hint):
>>> from kerasllm.labs.reference import LSTMCell
>>> report = GRULab().run(LSTMCell, "kerasllm.labs.reference:LSTMCell", train=False)
>>> report.passed
False
>>> print(report.lines()[0])  # doctest: +ELLIPSIS
FAIL  built as Class(units) with the Keras cell protocol: state_size is [6, 6], expected 6 (the state is h): ...
"""

import json

import keras
import numpy as np

from kerasllm.labs.base import (
    Lab,
    LabFailure,
    check,
    check_config_round_trip,
    close,
    max_error,
    register_lab,
    to_numpy,
    weights_without_gradient,
)
from kerasllm.labs.training import tiny_config, train_briefly

UNITS, INPUT_DIM, BATCH, STEPS = 6, 4, 3, 5
LENGTHS = (STEPS, 3, 1)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _random(*shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


class CellLab(Lab):
    """The checks shared by the three cell labs; a subclass names the Keras cell and its known mistakes."""

    keras_cell = None  # e.g. keras.layers.SimpleRNNCell
    keras_layer = None  # e.g. keras.layers.SimpleRNN
    state_names = ("h",)

    def mistakes(self, x, states, kernel, recurrent_kernel, bias):
        """`(hint, output, new_states)` for the common wrong versions of one step (numpy)."""
        return []

    # ----------------------------------------------------------------------------- helpers
    def expected_state_size(self):
        return UNITS if len(self.state_names) == 1 else [UNITS] * len(self.state_names)

    def reference_cell(self):
        keras.utils.set_random_seed(7)
        cell = self.keras_cell(UNITS, bias_initializer="random_normal")
        cell.build((None, INPUT_DIM))
        return cell

    def student_cell(self, weights_from=None):
        cell = self.cls(UNITS)
        cell.build((None, INPUT_DIM))
        if weights_from is not None:
            cell.set_weights(weights_from.get_weights())
        return cell

    def _states(self, seed):
        if seed is None:
            return [np.zeros((BATCH, UNITS), "float32") for _ in self.state_names]
        return [_random(BATCH, UNITS, seed=seed + i) for i, _ in enumerate(self.state_names)]

    def _step(self, cell, x, states):
        output, new_states = cell(x, [keras.ops.convert_to_tensor(s) for s in states])
        if not isinstance(new_states, (list, tuple)):
            new_states = [new_states]
        return to_numpy(output), [to_numpy(s) for s in new_states]

    # ------------------------------------------------------------------------------- checks
    @check("built as Class(units) with the Keras cell protocol", fatal=True)
    def protocol(self):
        cell = self.cls(UNITS)
        if not isinstance(cell, keras.layers.Layer):
            raise LabFailure("the cell must subclass keras.layers.Layer")
        expected = self.expected_state_size()
        state_size = getattr(cell, "state_size", None)
        if isinstance(state_size, tuple):
            state_size = list(state_size)
        if state_size != expected:
            what = " and ".join(self.state_names)
            code = "units" if len(self.state_names) == 1 else "[units, units]"
            raise LabFailure(f"state_size is {state_size!r}, expected {expected!r} (the state is {what}): "
                             f"set self.state_size = {code} in __init__")
        if getattr(cell, "output_size", None) != UNITS:
            raise LabFailure(f"output_size is {getattr(cell, 'output_size', None)!r}, expected units={UNITS}: "
                             "set self.output_size = units in __init__")

    @check("weights named and shaped like the Keras cell (kernel, recurrent_kernel, bias)", fatal=True)
    def weights(self):
        expected = [(w.name, tuple(w.shape)) for w in self.reference_cell().weights]
        actual = [(w.name, tuple(w.shape)) for w in self.student_cell().weights]
        if [n for n, _ in actual] != [n for n, _ in expected]:
            raise LabFailure(f"the weights are {[n for n, _ in actual]}, expected {[n for n, _ in expected]} "
                             "in this order: create them in build with add_weight(name=...)")
        for (name, shape), (_, want) in zip(actual, expected):
            if shape != want:
                raise LabFailure(f"{name} has shape {shape}, expected {want} (input_dim={INPUT_DIM}, "
                                 f"units={UNITS}): {self.shape_reason(name)}")

    def shape_reason(self, name):
        blocks = f"{self.gates} * " if self.gates > 1 else ""
        return {"kernel": f"kernel maps x_t, so it is (input_dim, {blocks}units)",
                "recurrent_kernel": f"recurrent_kernel maps h_(t-1), so it is (units, {blocks}units)",
                "bias": self.bias_reason}[name]

    @check("one step returns (output, new_states) with the right shapes and dtype", fatal=True)
    def step_contract(self):
        cell = self.student_cell()
        result = cell(_random(BATCH, INPUT_DIM, seed=1), [keras.ops.zeros((BATCH, UNITS)) for _ in self.state_names])
        if not (isinstance(result, (list, tuple)) and len(result) == 2):
            raise LabFailure("call must return a pair (output, new_states), e.g. return h, [h]")
        output, new_states = result
        if tuple(output.shape) != (BATCH, UNITS):
            raise LabFailure(f"the output has shape {tuple(output.shape)}, expected (batch, units) = {(BATCH, UNITS)}")
        if keras.backend.standardize_dtype(output.dtype) != "float32":
            raise LabFailure(f"the output is {output.dtype}, expected float32 (the dtype of the inputs)")
        if not isinstance(new_states, (list, tuple)) or len(new_states) != len(self.state_names):
            names = ", ".join(self.state_names)
            raise LabFailure(f"new_states must be a list of {len(self.state_names)} tensor(s) [{names}], "
                             f"got {type(new_states).__name__}")
        for name, state in zip(self.state_names, new_states):
            if tuple(state.shape) != (BATCH, UNITS):
                raise LabFailure(f"the new state {name} has shape {tuple(state.shape)}, expected {(BATCH, UNITS)}")

    @check("one step equals the Keras cell with the same weights")
    def matches_keras(self):
        reference = self.reference_cell()
        cell = self.student_cell(weights_from=reference)
        kernel, recurrent_kernel, bias = (to_numpy(w) for w in reference.weights)
        probes = [("with x_t = 0 and h_(t-1) = 0 (the first step of a zero input)",
                   np.zeros((BATCH, INPUT_DIM), "float32"), None),
                  ("with a random x_t at t = 0", _random(BATCH, INPUT_DIM, seed=2), None),
                  ("with a random x_t and previous state", _random(BATCH, INPUT_DIM, seed=3), 10)]
        for description, x, state_seed in probes:
            states = self._states(state_seed)
            want_out, want_states = self._step(reference, x, states)
            out, new_states = self._step(cell, x, states)
            if close(out, want_out) and all(close(a, b) for a, b in zip(new_states, want_states)):
                continue
            for hint, mistake_out, mistake_states in self.mistakes(x, states, kernel, recurrent_kernel, bias):
                if close(out, mistake_out, 1e-4) and (
                        mistake_states is None or all(close(a, b, 1e-4) for a, b in zip(new_states, mistake_states))):
                    raise LabFailure(hint)
            if not close(out, want_out):
                raise LabFailure(f"the output differs from {self.keras_cell.__name__} {description} by up to "
                                 f"{max_error(out, want_out):.3g}: compare your call with the formula in the lab")
            for name, a, b in zip(self.state_names, new_states, want_states):
                if not close(a, b):
                    raise LabFailure(f"the output is right but the new state {name} differs {description} by up "
                                     f"to {max_error(a, b):.3g}: return the states in the order "
                                     f"[{', '.join(self.state_names)}]")

    @check("a padded batch through keras.layers.RNN equals the Keras layer (masking)")
    def masked_sequence(self):
        x = _random(BATCH, STEPS, INPUT_DIM, seed=4)
        mask = np.arange(STEPS)[None, :] < np.array(LENGTHS)[:, None]
        keras.utils.set_random_seed(7)
        reference = self.keras_layer(UNITS, return_sequences=True, bias_initializer="random_normal")
        expected = to_numpy(reference(x, mask=mask))
        layer = keras.layers.RNN(self.cls(UNITS), return_sequences=True)
        layer.build(x.shape)
        layer.cell.set_weights(reference.cell.get_weights())
        actual = to_numpy(layer(x, mask=mask))
        alone = to_numpy(layer(x[2:3, :1]))
        if not close(alone, actual[2:3, :1]):
            raise LabFailure("padded positions change the output: the mask is not applied (let keras.layers.RNN "
                             "handle it: return new_states as a list with one tensor per state)")
        if not close(actual, expected):
            raise LabFailure(f"over a {STEPS}-step masked sequence the outputs differ from "
                             f"{self.keras_layer.__name__} by up to {max_error(actual, expected):.3g}: the state "
                             "carried from step to step is wrong (return the new state, not the old one)")

    @check("gradients reach every weight")
    def gradients(self):
        inputs = keras.Input((STEPS, INPUT_DIM))
        cell = self.cls(UNITS)
        model = keras.Model(inputs, keras.layers.RNN(cell, return_sequences=True)(inputs))
        stuck = weights_without_gradient(model, _random(BATCH, STEPS, INPUT_DIM, seed=5), cell)
        if stuck:
            raise LabFailure(f"no gradient reaches {', '.join(stuck)}: use every weight in call, with keras.ops "
                             "(numpy or .numpy() cuts the gradient)")

    @check("get_config round-trip")
    def config_round_trip(self):
        cell = self.cls(UNITS)
        clone = check_config_round_trip(cell, ["units"])
        if clone.state_size != cell.state_size:
            raise LabFailure("from_config(get_config()) built a cell with another state_size: keep units in the config")
        json.dumps(clone.get_config())

    @check("trains through the Trainer on negation_sentiment (arch rnn, your cell)")
    def trains(self):
        metrics = train_briefly(tiny_config("rnn", cell=self.spec))
        self.note(f"{metrics['steps']} steps, validation accuracy {metrics['validation_accuracy']:.2f}")


@register_lab("rnn")
class RNNLab(CellLab):
    number, title = "01", "The RNN recurrence: h_t = tanh(x_t W + h_(t-1) U + b)"
    convention = ("Class(units); Keras cell protocol call(inputs, states) -> (h, [h]); state_size = output_size = "
                  "units; weights kernel (input_dim, units), recurrent_kernel (units, units), bias (units,) "
                  "as keras.layers.SimpleRNNCell")
    reference = "kerasllm.labs.reference.cells:SimpleRNNCell"
    starter = "rnn_cell.py"
    keras_cell, keras_layer = keras.layers.SimpleRNNCell, keras.layers.SimpleRNN
    gates = 1
    bias_reason = "bias is added to all units, so it is (units,)"

    def mistakes(self, x, states, kernel, recurrent_kernel, bias):
        h = states[0]
        pre = x @ kernel + h @ recurrent_kernel
        return [
            ("the output at t=0 ignores the bias: add bias to x_t W + h_(t-1) U", np.tanh(pre), None),
            ("the tanh is missing: h_t = tanh(x_t W + h_(t-1) U + b)", pre + bias, None),
            ("the previous state is ignored: add h_(t-1) @ recurrent_kernel", np.tanh(x @ kernel + bias), None),
            ("the input is ignored: add x_t @ kernel", np.tanh(h @ recurrent_kernel + bias), None),
            ("h_(t-1) is multiplied by the transposed recurrent_kernel: use h_(t-1) @ recurrent_kernel",
             np.tanh(x @ kernel + h @ recurrent_kernel.T + bias), None),
            ("sigmoid is used where the recurrence needs tanh", _sigmoid(pre + bias), None),
        ]


@register_lab("lstm")
class LSTMLab(CellLab):
    number, title = "02", "LSTM gates: input, forget, cell candidate, output"
    convention = ("Class(units); call(inputs, [h, c]) -> (h, [h, c]); state_size = [units, units]; weights kernel "
                  "(input_dim, 4 units), recurrent_kernel (units, 4 units), bias (4 units,) with the gates in "
                  "Keras' order i, f, c, o, as keras.layers.LSTMCell")
    reference = "kerasllm.labs.reference.cells:LSTMCell"
    starter = "lstm_cell.py"
    keras_cell, keras_layer = keras.layers.LSTMCell, keras.layers.LSTM
    state_names = ("h", "c")
    gates = 4
    bias_reason = "bias holds the 4 gates' biases side by side, so it is (4 * units,)"

    def mistakes(self, x, states, kernel, recurrent_kernel, bias):
        h_prev, c_prev = states
        blocks = np.split(x @ kernel + h_prev @ recurrent_kernel + bias, 4, axis=-1)  # Keras: i, f, c, o
        i, f, g, o = blocks

        def lstm(i, f, g, o, forget=True, squash_cell=True, candidate=np.tanh):
            c = (_sigmoid(f) * c_prev if forget else 0.0) + _sigmoid(i) * candidate(g)
            h = _sigmoid(o) * (np.tanh(c) if squash_cell else c)
            return h, [h, c]

        out = []
        for order in ("ifoc", "fico", "icfo", "cifo", "oifc"):
            # A student reading block p as gate order[p]: gate n is the block at position order.index(n).
            h, s = lstm(*(blocks[order.index(n)] for n in "ifco"))
            out.append((f"the gates are read in the order {', '.join(order)}; Keras packs them as i, f, c, o "
                        "(input, forget, cell candidate, output)", h, s))
        h, s = lstm(i, f, g, o, forget=False)
        out.append(("the cell state is not carried: c_t = sigmoid(f) * c_(t-1) + sigmoid(i) * tanh(g)", h, s))
        h, s = lstm(i, f, g, o, squash_cell=False)
        out.append(("the output needs tanh of the cell: h_t = sigmoid(o) * tanh(c_t)", h, s))
        h, s = lstm(i, f, g, o, candidate=_sigmoid)
        out.append(("the cell candidate uses sigmoid; it is tanh(g) (only the gates use sigmoid)", h, s))
        h, s = lstm(i, f, g, o)
        out.append(("the states are returned as [c, h]; Keras expects [h, c]", h, s[::-1]))
        return out


@register_lab("gru")
class GRULab(CellLab):
    number, title = "03", "GRU: update and reset gates (Keras' reset_after convention)"
    convention = ("Class(units); call(inputs, [h]) -> (h, [h]); state_size = output_size = units; weights kernel "
                  "(input_dim, 3 units), recurrent_kernel (units, 3 units), bias (2, 3 units) (input and "
                  "recurrent rows), gates in the order z, r, h, as keras.layers.GRUCell (reset_after=True)")
    reference = "kerasllm.labs.reference.cells:GRUCell"
    starter = "gru_cell.py"
    keras_cell, keras_layer = keras.layers.GRUCell, keras.layers.GRU
    gates = 3
    bias_reason = "bias has one row for the input part and one for the recurrent part, so it is (2, 3 * units)"

    def mistakes(self, x, states, kernel, recurrent_kernel, bias):
        h_prev = states[0]
        x_z, x_r, x_h = np.split(x @ kernel + bias[0], 3, axis=-1)
        h_z, h_r, h_h = np.split(h_prev @ recurrent_kernel + bias[1], 3, axis=-1)

        def gru(z_pre, r_pre, candidate_pre, keep_old_with_z=True):
            z, r = _sigmoid(z_pre), _sigmoid(r_pre)
            candidate = np.tanh(candidate_pre(r))
            h = z * h_prev + (1 - z) * candidate if keep_old_with_z else (1 - z) * h_prev + z * candidate
            return h, [h]

        after = lambda r: x_h + r * h_h  # noqa: E731 (Keras: reset after the matmul)
        u_h = recurrent_kernel[:, 2 * UNITS:]
        before = lambda r: x_h + (r * h_prev) @ u_h + bias[1][2 * UNITS:]  # noqa: E731
        x_all, h_all = x @ kernel, h_prev @ recurrent_kernel
        one_bias = [np.split(x_all + bias[0], 3, -1), np.split(h_all, 3, -1)]
        return [
            ("h_t mixes the states the other way round: Keras keeps the old state with z, "
             "h_t = z * h_(t-1) + (1 - z) * candidate", *gru(x_z + h_z, x_r + h_r, after, keep_old_with_z=False)),
            ("the reset gate is applied before the recurrent matmul; Keras' GRUCell applies it after: "
             "candidate = tanh(x_h + r * (h_(t-1) U_h + b_rh))", *gru(x_z + h_z, x_r + h_r, before)),
            ("the gates are read in the order r, z, h; Keras packs them as z (update), r (reset), h (candidate)",
             *gru(x_r + h_r, x_z + h_z, after)),
            ("the recurrent bias (bias[1]) is missing: bias has two rows, bias[0] for x_t W and bias[1] for h_(t-1) U",
             *gru(one_bias[0][0] + one_bias[1][0], one_bias[0][1] + one_bias[1][1],
                  lambda r: one_bias[0][2] + r * one_bias[1][2])),
        ]
