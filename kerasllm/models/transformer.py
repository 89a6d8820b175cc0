"""Pre-LayerNorm Transformer backbone (GPT-2 style blocks)."""

import keras

from kerasllm.layers.transformer_block import TransformerBlock
from kerasllm.checks import require
from kerasllm.models.backbone import Backbone, register_backbone
from kerasllm.layers.plugged import is_multi_head, plugged_config, takes


@register_backbone("transformer")
class TransformerBackbone(Backbone):
    """A stack of pre-LayerNorm Transformer blocks and a final LayerNorm.

    Each `TransformerBlock` does `x + Attention(LN(x))` then `x + MLP(LN(x))` with a
    `4 * hidden_dim` GELU MLP; attention ignores padded keys and, when `causal=True`, future
    positions. Positions come from the embedding (`"learned"`, `"sinusoidal"`) or from
    rotating queries and keys inside attention (`"rotary"`).

    Reference: [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762),
    [Radford et al., 2019](https://openai.com/research/better-language-models) (GPT-2).

    Args:
        vocab_size: int. Number of token ids (0 is padding).
        hidden_dim: int. Model width; must be divisible by `num_heads`.
        num_layers: int. Number of Transformer blocks.
        dropout: float. Dropout after the embedding and on every residual branch.
            Defaults to `0.0`.
        attention_dropout: float. Dropout on the attention weights. Defaults to `0.0`, so training
            runs the fused `keras.ops.dot_product_attention` kernel as evaluation does (Llama-style);
            set it to `dropout` for GPT-2's placement (the explicit softmax path then trains).
        causal: bool. Position `t` attends to `0..t` only. Defaults to `False`.
        position: str. `"learned"` (default), `"sinusoidal"`, `"rotary"` or `"none"`.
        max_length: int. Longest sequence with learned positions. Defaults to `512`.
        num_heads: int. Attention heads per block. Defaults to `4`.
        intermediate_dim: int or None. MLP width. Defaults to `4 * hidden_dim`.
        layer_norm_epsilon: float. Defaults to `1e-5`.
        attention: your attention, as a class, an instance or an import path
            `"my_attention.py:MyAttention"`: either a multi-head layer built as
            `MyAttention(num_heads=..., causal=...)` and called as `layer(x, padding_mask=...)` (it
            replaces `MultiHeadSelfAttention`), or one head built as `MyAttention(causal=...)` and
            called as `layer(query, key, value, padding_mask=...)` (`MultiHeadSelfAttention` calls it
            for every head). Defaults to `None`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> from kerasllm.models import get_backbone
    >>> backbone = get_backbone("transformer", vocab_size=50, hidden_dim=16, num_layers=2,
    ...                         causal=True, position="rotary", num_heads=2)
    >>> tuple(backbone(np.array([[5, 6, 7, 0]])).shape)
    (1, 4, 16)
    """

    default_position = "learned"
    supports_rotary = True

    def __init__(
        self,
        vocab_size,
        hidden_dim,
        num_layers,
        dropout=0.0,
        causal=False,
        position=None,
        max_length=512,
        num_heads=4,
        intermediate_dim=None,
        layer_norm_epsilon=1e-5,
        attention=None,
        attention_dropout=0.0,
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
            isinstance(num_heads, int) and not isinstance(num_heads, bool) and num_heads > 0,
            f"TransformerBackbone num_heads must be a positive integer, got {num_heads!r}. "
            "Use e.g. num_heads=4.",
        )
        require(
            hidden_dim % num_heads == 0,
            f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}. "
            "Pick a hidden_dim that is a multiple of num_heads.",
        )
        require(
            self.position != "rotary" or (hidden_dim // num_heads) % 2 == 0,
            f"Rotary positions need an even head width, got hidden_dim // num_heads = "
            f"{hidden_dim // num_heads}. Change hidden_dim or num_heads.",
        )
        require(
            intermediate_dim is None
            or (isinstance(intermediate_dim, int) and intermediate_dim > 0),
            f"intermediate_dim must be a positive integer or None, got {intermediate_dim!r}. "
            "Leave it None for 4 * hidden_dim.",
        )
        require(
            isinstance(attention_dropout, (int, float)) and not isinstance(attention_dropout, bool)
            and 0.0 <= attention_dropout < 1.0,
            f"TransformerBackbone attention_dropout must be in [0, 1), got {attention_dropout!r}. Use e.g. 0.1.",
        )
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.layer_norm_epsilon = layer_norm_epsilon
        self.attention_dropout = float(attention_dropout)
        self.attention = plugged_config(
            attention, "attention",
            lambda cls: cls(num_heads=num_heads, causal=causal) if takes(cls, "num_heads") else cls(causal=causal),
        )
        require(
            self.attention is None or self.position != "rotary" or not is_multi_head(self.attention),
            "position='rotary' rotates queries and keys inside MultiHeadSelfAttention, which your multi-head "
            "attention replaces. Use position='learned' or 'sinusoidal' with it.",
        )

    def build(self, token_ids_shape):
        super().build(token_ids_shape)
        features_shape = (*token_ids_shape, self.hidden_dim)
        self.blocks = []
        for i in range(self.num_layers):
            block = TransformerBlock(
                num_heads=self.num_heads,
                intermediate_dim=self.intermediate_dim,
                dropout=self.dropout,
                attention_dropout=self.attention_dropout,
                causal=self.causal,
                rotary=self.position == "rotary",
                layer_norm_epsilon=self.layer_norm_epsilon,
                attention=self.attention,
                name=f"transformer_block_{i}",
                dtype=self.dtype_policy,
            )
            block.build(features_shape)
            self.blocks.append(block)
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="final_norm", dtype=self.dtype_policy
        )
        self.final_norm.build(features_shape)

    def encode(self, x, padding_mask, training=None):
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask, training=training)  # (B, T, C)
        return self.final_norm(x)

    def attention_flops_per_token(self, context):
        """2 x num_layers x context x hidden_dim: Kaplan et al. (2020)'s attention term, not halved
        for causal masking (every score is computed, then masked); see `kerasllm.models.flops`."""
        return 2 * self.num_layers * context * self.hidden_dim

    def initial_encode_state(self, batch_size, max_length):
        """Per block, a preallocated key/value cache of `max_length` positions."""
        if not all(hasattr(block.attention, "step") for block in self.blocks):
            return super().initial_encode_state(batch_size, max_length)  # a user's layer without a cache
        return [block.initial_cache(batch_size, max_length) for block in self.blocks]

    def encode_step(self, x, state, index):
        """Every block once for the new token, writing its key and value at `index`."""
        if not all(hasattr(block.attention, "step") for block in self.blocks):
            return super().encode_step(x, state, index)
        caches = []
        for block, cache in zip(self.blocks, state):
            x, cache = block.step(x, cache, index)  # (B, C)
            caches.append(cache)
        return self.final_norm(x), caches

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "attention": self.attention,
                "attention_dropout": self.attention_dropout,
            }
        )
        return config
