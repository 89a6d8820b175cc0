"""Residual dilated 1D-convolution backbone."""

from kerasllm.layers.conv_block import ResidualConvBlock
from kerasllm.checks import require
from kerasllm.models.backbone import Backbone, register_backbone
from kerasllm.layers.plugged import plugged_config, plugged_layer


@register_backbone("cnn")
class CNNBackbone(Backbone):
    """A stack of residual dilated Conv1D blocks (`ResidualConvBlock`).

    Block `i` has dilation `2 ** i` (1, 2, 4, ...), so the receptive field grows
    exponentially with depth: `1 + (kernel_size - 1) * (2 ** num_layers - 1)` tokens
    (one side of it when causal). Non-causal blocks are centred (`padding="same"`); causal
    blocks are left-padded, so position `t` never sees `t + 1`. Each block zeroes padded
    positions before its convolution, so padding never changes real tokens. The default
    `position="none"` relies on the convolutions for word order (they see relative order
    within the window).

    Reference: [Kalchbrenner et al., 2016](https://arxiv.org/abs/1610.10099) (ByteNet),
    [Bai et al., 2018](https://arxiv.org/abs/1803.01271) (TCN).

    Args:
        vocab_size: int. Number of token ids (0 is padding).
        hidden_dim: int. Width of the embeddings, the channels and the output features.
        num_layers: int. Number of residual blocks.
        dropout: float. Dropout after the embedding and on each residual branch.
            Defaults to `0.0`.
        causal: bool. Left-padded convolutions. Defaults to `False`.
        position: str. Defaults to `"none"`; `"learned"` and `"sinusoidal"` are allowed.
        max_length: int. Longest sequence with learned positions. Defaults to `512`.
        kernel_size: int. Width of each convolution window. Defaults to `5`.
        activation: str. Activation after each convolution. Defaults to `"gelu"`.
        block: your block instead of `ResidualConvBlock`: a class built as
            `Block(kernel_size=..., dilation_rate=...)` and called as `block(x, padding_mask=...)`
            (e.g. `kerasllm.labs.reference.CausalConvBlock`), an instance, or an import path
            `"my_block.py:MyBlock"`. Defaults to `None`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> from kerasllm.models import get_backbone
    >>> backbone = get_backbone("cnn", vocab_size=50, hidden_dim=16, num_layers=3, kernel_size=3)
    >>> tuple(backbone(np.array([[5, 6, 7, 0]])).shape)
    (1, 4, 16)
    """

    default_position = "none"
    #: Measured in docs/benchmarks.md ("Training recipes"): AdamW at 3e-3 beats 1e-3 on PTB text and MQAR.
    recipe = {"lm": {"learning_rate": 3e-3}, "seq2seq": {"learning_rate": 3e-3}}

    def __init__(
        self,
        vocab_size,
        hidden_dim,
        num_layers,
        dropout=0.0,
        causal=False,
        position=None,
        max_length=512,
        kernel_size=5,
        activation="gelu",
        block=None,
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
        require(
            isinstance(kernel_size, int) and not isinstance(kernel_size, bool) and kernel_size > 0,
            f"CNNBackbone kernel_size must be a positive integer, got {kernel_size!r}. "
            "Use e.g. kernel_size=5.",
        )
        self.kernel_size = kernel_size
        self.activation = activation
        self.block = plugged_config(block, "block", lambda cls: cls(kernel_size=kernel_size))

    def build(self, token_ids_shape):
        super().build(token_ids_shape)
        features_shape = (*token_ids_shape, self.hidden_dim)
        self.blocks = []
        for i in range(self.num_layers):
            if self.block is not None:
                block = plugged_layer(self.block, "block", kernel_size=self.kernel_size, dilation_rate=2**i,
                                     name=f"conv_block_{i}", dtype=self.dtype_policy)
                block.build(features_shape)
                self.blocks.append(block)
                continue
            block = ResidualConvBlock(
                kernel_size=self.kernel_size,
                dilation_rate=2**i,
                causal=self.causal,
                dropout=self.dropout,
                activation=self.activation,
                name=f"conv_block_{i}",
                dtype=self.dtype_policy,
            )
            block.build(features_shape)
            self.blocks.append(block)

    def encode(self, x, padding_mask, training=None):
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask, training=training)  # (B, T, C)
        return x

    def initial_encode_state(self, batch_size, max_length):
        """Per block, a buffer of the inputs its receptive field still needs."""
        if self.block is not None:  # a user's block has no step: rerun encode on the prefix
            return super().initial_encode_state(batch_size, max_length)
        return [block.initial_cache(batch_size) for block in self.blocks]

    def encode_step(self, x, state, index):
        """Every block once for the new token, rolling its buffer."""
        if self.block is not None:
            return super().encode_step(x, state, index)
        buffers = []
        for block, buffer in zip(self.blocks, state):
            x, buffer = block.step(x, buffer)  # (B, C)
            buffers.append(buffer)
        return x, buffers

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_size": self.kernel_size, "activation": self.activation, "block": self.block})
        return config
