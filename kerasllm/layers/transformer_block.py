"""One pre-LayerNorm Transformer block: attention and MLP, each with a residual connection."""

import keras

from kerasllm.layers.attention import MultiHeadSelfAttention
from kerasllm.layers.plugged import is_multi_head, plugged_layer


@keras.saving.register_keras_serializable(package="kerasllm")
class TransformerBlock(keras.layers.Layer):
    """Pre-LayerNorm Transformer block (as in GPT-2).

    ```
    x = x + Dropout(MultiHeadSelfAttention(LayerNorm(x)))
    x = x + Dropout(Dense(hidden_dim)(Dense(intermediate_dim, gelu)(LayerNorm(x))))
    ```

    Reference: [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762); the pre-norm
    placement follows [Xiong et al., 2020](https://arxiv.org/abs/2002.04745).

    Args:
        num_heads: int. Attention heads; `hidden_dim` must be divisible by it.
        intermediate_dim: int or None. Width of the MLP. Defaults to `4 * hidden_dim`.
        dropout: float. Dropout on both residual branches (and on the attention weights unless
            `attention_dropout` is given). Defaults to `0.0`.
        causal: bool. Position `t` only attends to `0..t`. Defaults to `False`.
        rotary: bool. Rotary position embeddings inside attention. Defaults to `False`.
        activation: str. MLP activation. Defaults to `"gelu"`.
        layer_norm_epsilon: float. Defaults to `1e-5`.
        attention_dropout: float or None. Dropout on the attention weights; None uses `dropout`.
            Above 0 the attention runs its explicit softmax path while training (no fused kernel).
            Defaults to `None`.
        attention: a serialized user attention layer (`keras.saving.serialize_keras_object`), or
            None for `MultiHeadSelfAttention`: a multi-head class (built with `num_heads` and
            `causal`) replaces it, a one-head class (built with `causal`) runs inside it.
            Defaults to `None`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, seq, hidden_dim)`.
        padding_mask: bool/int tensor `(batch, seq)`, true for real tokens, or None.
        training: bool. Whether dropout is active.

    Example:
    >>> import numpy as np
    >>> from kerasllm.layers import TransformerBlock
    >>> block = TransformerBlock(num_heads=2, causal=True)
    >>> tuple(block(np.zeros((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim=None,
        dropout=0.0,
        causal=False,
        rotary=False,
        activation="gelu",
        layer_norm_epsilon=1e-5,
        attention=None,
        attention_dropout=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.attention_dropout_rate = attention_dropout
        self.causal = causal
        self.rotary = rotary
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.custom_attention = attention

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        intermediate_dim = self.intermediate_dim or 4 * hidden_dim
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="attention_norm", dtype=self.dtype_policy
        )
        self.attention_norm.build(inputs_shape)
        if self.custom_attention is not None and is_multi_head(self.custom_attention):
            self.attention = plugged_layer(self.custom_attention, "attention", num_heads=self.num_heads,
                                          causal=self.causal, name="attention", dtype=self.dtype_policy)
        else:
            self.attention = MultiHeadSelfAttention(
                num_heads=self.num_heads,
                dropout=self.dropout if self.attention_dropout_rate is None else self.attention_dropout_rate,
                causal=self.causal,
                rotary=self.rotary,
                head_attention=self.custom_attention,
                name="attention",
                dtype=self.dtype_policy,
            )
        self.attention.build(inputs_shape)
        self.attention_dropout = keras.layers.Dropout(
            self.dropout, name="attention_residual_dropout", dtype=self.dtype_policy
        )
        self.mlp_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="mlp_norm", dtype=self.dtype_policy
        )
        self.mlp_norm.build(inputs_shape)
        self.mlp_intermediate = keras.layers.Dense(
            intermediate_dim,
            activation=self.activation,
            name="mlp_intermediate",
            dtype=self.dtype_policy,
        )
        self.mlp_intermediate.build(inputs_shape)
        self.mlp_output = keras.layers.Dense(
            hidden_dim, name="mlp_output", dtype=self.dtype_policy
        )
        self.mlp_output.build((*inputs_shape[:-1], intermediate_dim))
        self.mlp_dropout = keras.layers.Dropout(
            self.dropout, name="mlp_residual_dropout", dtype=self.dtype_policy
        )

    def call(self, inputs, padding_mask=None, training=None):
        x = inputs  # (B, T, C)
        h = self.attention_norm(x)
        h = self.attention(h, padding_mask=padding_mask, training=training)
        x = x + self.attention_dropout(h, training=training)
        h = self.mlp_norm(x)
        h = self.mlp_output(self.mlp_intermediate(h))  # (B, T, C)
        return x + self.mlp_dropout(h, training=training)

    def initial_cache(self, batch_size, max_length):
        """The attention's zero key/value cache for `step`."""
        return self.attention.initial_cache(batch_size, max_length)

    def step(self, inputs, cache, index):
        """The block for one new token per row, `(batch, hidden_dim)`, with a key/value cache.

        Returns `(output (batch, hidden_dim), cache)`; see `MultiHeadSelfAttention.step`.
        """
        x = inputs  # (B, C)
        h, cache = self.attention.step(self.attention_norm(x), cache, index)
        x = x + h
        h = self.mlp_output(self.mlp_intermediate(self.mlp_norm(x)))
        return x + h, cache

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "causal": self.causal,
                "rotary": self.rotary,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "attention": self.custom_attention,
                "attention_dropout": self.attention_dropout_rate,
            }
        )
        return config
