"""One residual 1D-convolution block that never mixes padding into real tokens."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasllm")
class ResidualConvBlock(keras.layers.Layer):
    """Pre-LayerNorm residual Conv1D block.

    ```
    h = LayerNorm(x) * padding_mask          # padded positions are zero before the conv
    x = x + Dropout(activation(Conv1D(h)))
    ```

    Zeroing padded positions before the convolution makes a right-padded sequence look exactly
    like the same sequence followed by the convolution's own zero padding, so padding never
    changes the features of real tokens. With `causal=True` the convolution is left-padded
    (`padding="causal"`): position `t` only sees `t, t - d, ..., t - (kernel_size - 1) d`.
    Otherwise it is centred (`padding="same"`).

    Reference: dilated residual convolutions as in ByteNet,
    [Kalchbrenner et al., 2016](https://arxiv.org/abs/1610.10099).

    Args:
        kernel_size: int. Width of the convolution window. Defaults to `5`.
        dilation_rate: int. Spacing between the taps. Defaults to `1`.
        causal: bool. Left padding only, so no position sees the future. Defaults to `False`.
        dropout: float. Dropout on the residual branch. Defaults to `0.0`.
        activation: str. Activation after the convolution. Defaults to `"gelu"`.
        layer_norm_epsilon: float. Defaults to `1e-5`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, seq, hidden_dim)`.
        padding_mask: bool/int tensor `(batch, seq)`, true for real tokens, or None.
        training: bool. Whether dropout is active.

    Example:
    >>> import numpy as np
    >>> from kerasllm.layers import ResidualConvBlock
    >>> block = ResidualConvBlock(kernel_size=3, dilation_rate=2, causal=True)
    >>> tuple(block(np.ones((2, 7, 8), "float32")).shape)
    (2, 7, 8)
    """

    def __init__(
        self,
        kernel_size=5,
        dilation_rate=1,
        causal=False,
        dropout=0.0,
        activation="gelu",
        layer_norm_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.dilation_rate = dilation_rate
        self.causal = causal
        self.dropout = dropout
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="norm", dtype=self.dtype_policy
        )
        self.norm.build(inputs_shape)
        self.conv = keras.layers.Conv1D(
            hidden_dim,
            self.kernel_size,
            padding="causal" if self.causal else "same",
            dilation_rate=self.dilation_rate,
            activation=self.activation,
            name="conv",
            dtype=self.dtype_policy,
        )
        self.conv.build(inputs_shape)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, name="residual_dropout", dtype=self.dtype_policy
        )

    def call(self, inputs, padding_mask=None, training=None):
        h = self.norm(inputs)  # (B, T, C)
        if padding_mask is not None:
            h = h * ops.cast(padding_mask, h.dtype)[:, :, None]
        h = self.conv(h)  # (B, T, C)
        return inputs + self.dropout_layer(h, training=training)

    @property
    def receptive_field(self):
        """How many past inputs one causal output reads besides the current one."""
        return (self.kernel_size - 1) * self.dilation_rate

    def initial_cache(self, batch_size):
        """Zero buffer `(batch_size, receptive_field, hidden_dim)` of past normalized inputs,
        the same zeros the causal convolution pads with."""
        return ops.zeros((batch_size, self.receptive_field, self.conv.filters), self.compute_dtype)

    def step(self, inputs, cache):
        """The causal block for one new token per row, `(batch, hidden_dim)`.

        `cache` holds the last `receptive_field` normalized inputs; the new one is appended,
        the dilated taps are read from the buffer and the oldest input is dropped. Equal to
        `call` with `causal=True` on the whole prefix, at its last position.

        Returns `(output (batch, hidden_dim), cache)`.
        """
        h = self.norm(inputs)  # (B, C)
        window = ops.concatenate([cache, h[:, None, :]], axis=1)  # (B, R + 1, C)
        taps = ops.take(window, ops.arange(0, self.receptive_field + 1, self.dilation_rate), axis=1)
        h = ops.einsum("bkc,kcf->bf", taps, ops.cast(self.conv.kernel, taps.dtype))  # (B, C)
        if self.conv.use_bias:
            h = h + ops.cast(self.conv.bias, h.dtype)
        h = self.conv.activation(h)
        return inputs + h, window[:, 1:, :]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate,
                "causal": self.causal,
                "dropout": self.dropout,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
