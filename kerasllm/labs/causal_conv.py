"""Lab 06: a residual causal convolution block, checked against `keras.layers.Conv1D(padding="causal")`.

Convention: `Class(kernel_size=3, dilation_rate=1)`, called as `layer(x, padding_mask=None)` with x
`(batch, T, channels)`; weights `kernel` `(kernel_size, channels, channels)` and `bias` `(channels,)`
(as `keras.layers.Conv1D`); output `x + relu(causal_conv(x * mask))`, where tap `kernel_size - 1` reads
step t and tap j reads step `t - (kernel_size - 1 - j) * dilation_rate`.

Example (the reference solution passes every check):
>>> from kerasllm.labs.reference import CausalConvBlock
>>> report = CausalConvLab().run(CausalConvBlock, "kerasllm.labs.reference:CausalConvBlock", train=False)
>>> print(report.lines()[2])
PASS  causal: the output at t never depends on t + 1
>>> report.passed
True
"""

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

BATCH, T, C, KERNEL, DILATION = 2, 9, 4, 3, 2


def _random(*shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _numpy_block(x, kernel, bias, dilation=DILATION, residual=True, activation=True, reverse=False):
    k = kernel[::-1] if reverse else kernel
    reach = (KERNEL - 1) * dilation
    padded = np.pad(x, [(0, 0), (reach, 0), (0, 0)])
    y = sum(padded[:, j * dilation: j * dilation + x.shape[1]] @ k[j] for j in range(KERNEL)) + bias
    y = np.maximum(y, 0.0) if activation else y
    return x + y if residual else y


@register_lab("causal_conv")
class CausalConvLab(Lab):
    number, title = "06", "A causal CNN block: y = x + relu(causal_conv(x))"
    convention = ("Class(kernel_size=3, dilation_rate=1); layer(x, padding_mask=None) -> (batch, T, channels); "
                  "weights kernel (kernel_size, channels, channels), bias (channels,) as keras.layers.Conv1D; "
                  "output x + relu(conv) with padding='causal'")
    reference = "kerasllm.labs.reference.causal_conv:CausalConvBlock"
    starter = "causal_conv_block.py"

    def _pair(self):
        keras.utils.set_random_seed(5)
        conv = keras.layers.Conv1D(C, KERNEL, padding="causal", dilation_rate=DILATION, activation="relu",
                                   bias_initializer="random_normal")
        conv.build((None, T, C))
        layer = self.cls(kernel_size=KERNEL, dilation_rate=DILATION)
        layer.build((None, T, C))
        layer.set_weights(conv.get_weights())
        return conv, layer

    @check("built as Class(kernel_size, dilation_rate) with Conv1D's kernel and bias", fatal=True)
    def weights(self):
        layer = self.cls(kernel_size=KERNEL, dilation_rate=DILATION)
        if not isinstance(layer, keras.layers.Layer):
            raise LabFailure("the class must subclass keras.layers.Layer")
        layer.build((None, T, C))
        actual = [(w.name, tuple(w.shape)) for w in layer.weights]
        expected = [("kernel", (KERNEL, C, C)), ("bias", (C,))]
        if actual != expected:
            raise LabFailure(f"the weights are {actual}, expected {expected}: kernel is (kernel_size, channels, "
                             "channels), one (channels, channels) matrix per tap")

    @check("returns (batch, T, channels) float32", fatal=True)
    def contract(self):
        _, layer = self._pair()
        out = layer(_random(BATCH, T, C, seed=1))
        if tuple(out.shape) != (BATCH, T, C):
            raise LabFailure(f"the output has shape {tuple(out.shape)}, expected {(BATCH, T, C)}: pad "
                             "(kernel_size - 1) * dilation_rate steps on the left so every step keeps an output")
        if keras.backend.standardize_dtype(out.dtype) != "float32":
            raise LabFailure(f"the output is {out.dtype}, expected float32")

    @check("causal: the output at t never depends on t + 1")
    def causal(self):
        _, layer = self._pair()
        x = _random(BATCH, T, C, seed=2)
        changed = x.copy()
        changed[:, 5:] += 1.0
        before, after = to_numpy(layer(x)), to_numpy(layer(changed))
        if not close(before[:, :5], after[:, :5]):
            raise LabFailure("the output at t depends on t + 1: pad (kernel_size - 1) * dilation_rate zeros on the "
                             "left only, never on the right")

    @check("equals x + keras.layers.Conv1D(padding='causal', activation='relu')(x) with the same weights")
    def matches_keras(self):
        conv, layer = self._pair()
        x = _random(BATCH, T, C, seed=3)
        expected = x + to_numpy(conv(x))
        out = to_numpy(layer(x))
        if close(out, expected):
            return
        kernel, bias = (to_numpy(w) for w in conv.weights)
        for hint, kwargs in (
            ("the residual connection is missing: return inputs + relu(conv)", {"residual": False}),
            ("the activation is missing: return inputs + relu(conv)", {"activation": False}),
            ("the taps are reversed: kernel[kernel_size - 1] reads step t and kernel[0] the oldest step "
             "(t - (kernel_size - 1) * dilation_rate)", {"reverse": True}),
            ("dilation_rate is ignored: tap j reads step t - (kernel_size - 1 - j) * dilation_rate", {"dilation": 1}),
        ):
            if close(out, _numpy_block(x, kernel, bias, **kwargs), 1e-4):
                raise LabFailure(hint)
        raise LabFailure(f"the output differs from Conv1D(padding='causal') by up to {max_error(out, expected):.3g}")

    @check("padding mask: padded steps are zeroed before the convolution")
    def padding(self):
        conv, layer = self._pair()
        x = _random(BATCH, T, C, seed=4)
        mask = np.arange(T)[None, :] < np.array([T, 4])[:, None]
        expected = x + to_numpy(conv(x * mask[:, :, None]))
        out = to_numpy(layer(x, padding_mask=mask))
        if not close(out, expected):
            raise LabFailure("padded positions change the output: the mask is not applied (multiply the inputs "
                             "by the mask before the convolution)")

    @check("gradients reach every weight")
    def gradients(self):
        x = keras.Input((T, C))
        layer = self.cls(kernel_size=KERNEL, dilation_rate=DILATION)
        model = keras.Model(x, layer(x))
        stuck = weights_without_gradient(model, _random(BATCH, T, C, seed=5), layer)
        if stuck:
            raise LabFailure(f"no gradient reaches {', '.join(stuck)}: use every weight in call, with keras.ops")

    @check("get_config round-trip")
    def config_round_trip(self):
        check_config_round_trip(self.cls(kernel_size=KERNEL, dilation_rate=DILATION), ["kernel_size", "dilation_rate"])

    @check("trains through the Trainer on negation_sentiment (arch cnn, your block)")
    def trains(self):
        metrics = train_briefly(tiny_config("cnn", block=self.spec, kernel_size=3))
        self.note(f"{metrics['steps']} steps, validation accuracy {metrics['validation_accuracy']:.2f}")
