"""A residual causal convolution block, the convolution written out with `keras.ops` (lab 06)."""

import keras
from keras import ops

from kerasllm.errors import ConfigError


@keras.saving.register_keras_serializable(package="kerasllm")
class CausalConvBlock(keras.layers.Layer):
    """`y = x + activation(causal_conv(x))`: a residual block whose output at t never sees t + 1.

    The convolution is written out: the sequence is padded on the left with
    `(kernel_size - 1) * dilation_rate` zeros, and the output at t is
    `sum_j x[t - (kernel_size - 1 - j) * dilation_rate] @ kernel[j] + bias`, so tap `kernel_size - 1`
    reads the current step and earlier taps reach back `dilation_rate` steps each
    ([van den Oord et al., 2016](https://arxiv.org/abs/1609.03499), WaveNet;
    [Bai et al., 2018](https://arxiv.org/abs/1803.01271), TCN). Padded positions are zeroed before
    the convolution. It matches `x + keras.layers.Conv1D(channels, kernel_size, padding="causal",
    dilation_rate=dilation_rate, activation=activation)(x)` with the same `kernel`
    `(kernel_size, channels, channels)` and `bias` `(channels,)`.

    Override point: `convolve(x)` computes the causal convolution `(batch, T, C) -> (batch, T, C)`
    (without the activation and the residual).

    Args:
        kernel_size: int. Taps of the convolution. Defaults to `3`.
        dilation_rate: int. Steps between taps. Defaults to `1`.
        activation: str. Activation after the convolution. Defaults to `"relu"`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, T, channels)`.
        padding_mask: bool/int tensor `(batch, T)`, true for real tokens, or None.

    Example:
    >>> import numpy as np
    >>> from kerasllm.labs.reference import CausalConvBlock
    >>> block = CausalConvBlock(kernel_size=3, dilation_rate=2)
    >>> tuple(block(np.ones((2, 7, 8), "float32")).shape)
    (2, 7, 8)

    A depthwise (per-channel) causal convolution only overrides `convolve` (and `build`):
    >>> class DepthwiseCausalConv(CausalConvBlock):
    ...     def build(self, inputs_shape):
    ...         channels = inputs_shape[-1]
    ...         self.kernel = self.add_weight(shape=(self.kernel_size, channels), name="kernel")
    ...         self.bias = self.add_weight(shape=(channels,), name="bias", initializer="zeros")
    ...     def convolve(self, x):
    ...         taps = self.shifted_inputs(x)
    ...         return sum(tap * self.kernel[j] for j, tap in enumerate(taps)) + self.bias
    >>> tuple(DepthwiseCausalConv()(np.ones((2, 7, 8), "float32")).shape)
    (2, 7, 8)
    """

    def __init__(self, kernel_size=3, dilation_rate=1, activation="relu", **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("kernel_size", kernel_size), ("dilation_rate", dilation_rate)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"CausalConvBlock {arg} must be a positive integer, got {value!r}.")
        self.kernel_size = kernel_size
        self.dilation_rate = dilation_rate
        self.activation = activation
        self.activation_fn = keras.activations.get(activation)

    def build(self, inputs_shape):
        channels = inputs_shape[-1]
        self.kernel = self.add_weight(shape=(self.kernel_size, channels, channels), name="kernel",
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(channels,), name="bias", initializer="zeros")

    def shifted_inputs(self, x):
        """The `kernel_size` copies of `x` the taps read: tap j is `x` delayed by `(k - 1 - j) d` steps."""
        reach = (self.kernel_size - 1) * self.dilation_rate
        padded = ops.pad(x, [[0, 0], [reach, 0], [0, 0]])  # (B, reach + T, C), zeros on the left only
        taps = []
        for j in range(self.kernel_size):
            start = j * self.dilation_rate
            end = start - reach  # negative (or 0: to the end), so every tap keeps T steps
            taps.append(padded[:, start : end if end < 0 else None, :])  # (B, T, C)
        return taps

    def convolve(self, x):
        """`sum_j shifted_j @ kernel[j] + bias`: `(batch, T, C) -> (batch, T, C)`."""
        taps = self.shifted_inputs(x)
        return sum(ops.matmul(tap, self.kernel[j]) for j, tap in enumerate(taps)) + self.bias

    def call(self, inputs, padding_mask=None):
        x = inputs
        if padding_mask is not None:
            x = x * ops.cast(padding_mask, x.dtype)[:, :, None]
        return inputs + self.activation_fn(self.convolve(x))

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_size": self.kernel_size, "dilation_rate": self.dilation_rate,
                       "activation": self.activation})
        return config
