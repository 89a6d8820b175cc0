"""Cross-attention: a decoder's queries read an encoder's features (the memory), and the block around it."""

import keras
from keras import ops

from kerasllm.layers.attention import MultiHeadSelfAttention
from kerasllm.layers.plugged import plugged_layer


@keras.saving.register_keras_serializable(package="kerasllm")
class MultiHeadCrossAttention(MultiHeadSelfAttention):
    """Multi-head attention from one sequence (queries) to another (keys and values).

    `softmax(Q K^T / sqrt(d_k)) V` with `Q` projected from `query` `(batch, T, hidden_dim)` and `K`, `V`
    from `memory` `(batch, S, hidden_dim)`, the encoder's features. `padding_mask` `(batch, S)` hides the
    source's padding; nothing is causal, since the whole source is known. The weights are, in order, the
    `query`, `key`, `value` and `attention_output` Dense layers, as in `MultiHeadSelfAttention`, and the math
    matches `keras.layers.MultiHeadAttention(num_heads, key_dim)(query, memory, attention_mask=...)` with the
    same weights (lab 09 checks a student's layer against it).

    For decoding, `memory_cache(memory)` projects the memory's keys and values once per source and
    `attend(query, cache, padding_mask)` reuses them at every step.

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int or None. Width of each head. Defaults to `hidden_dim // num_heads`.
        dropout: float. Dropout rate on the attention weights. Defaults to `0.0`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        query: float tensor `(batch, T, hidden_dim)`.
        memory: float tensor `(batch, S, hidden_dim)`.
        padding_mask: bool/int tensor `(batch, S)`, true for real source tokens, or None.
        training: bool. Whether dropout is active.
        return_attention_scores: bool. Also return the weights `(batch, num_heads, T, S)`.

    Example:
    >>> import numpy as np
    >>> layer = MultiHeadCrossAttention(num_heads=2)
    >>> query, memory = np.ones((1, 3, 8), "float32"), np.random.rand(1, 5, 8).astype("float32")
    >>> out, weights = layer(query, memory, padding_mask=np.array([[1, 1, 1, 0, 0]]),
    ...                      return_attention_scores=True)
    >>> tuple(out.shape), float(weights[0, 0, 0, 3])  # the padded source position gets no weight
    ((1, 3, 8), 0.0)
    """

    def __init__(self, num_heads, key_dim=None, dropout=0.0, **kwargs):
        super().__init__(num_heads=num_heads, key_dim=key_dim, dropout=dropout, **kwargs)

    def build(self, query_shape, memory_shape=None):
        super().build(query_shape)

    def memory_cache(self, memory):
        """The memory's keys and values, `[key, value]`, each `(batch, S, num_heads, head_dim)`."""
        return [self._split_heads(self.key_dense(memory)), self._split_heads(self.value_dense(memory))]

    def attend(self, query, cache, padding_mask=None, training=None, return_attention_scores=False):
        """Attention of `query` `(batch, T, hidden_dim)` over keys and values from `memory_cache`."""
        key, value = cache
        projected = self._split_heads(self.query_dense(query))  # (B, T, H, D)
        mask = None if padding_mask is None else ops.cast(padding_mask, "bool")[:, None, None, :]  # (B, 1, 1, S)
        output, weights = self._attend(projected, key, value, mask, training=training,
                                       return_attention_scores=return_attention_scores)
        batch, length = ops.shape(output)[0], ops.shape(output)[1]
        output = self.output_dense(ops.reshape(output, (batch, length, self.num_heads * self.head_dim)))
        return (output, weights) if return_attention_scores else output

    def call(self, query, memory, padding_mask=None, training=None, return_attention_scores=False):
        return self.attend(query, self.memory_cache(memory), padding_mask, training=training,
                           return_attention_scores=return_attention_scores)

    def get_config(self):
        config = super().get_config()
        for key in ("causal", "rotary", "rotary_max_wavelength", "head_attention"):
            config.pop(key)
        return config


@keras.saving.register_keras_serializable(package="kerasllm")
class CrossAttentionBlock(keras.layers.Layer):
    """A decoder's read of the source, pre-LayerNorm: cross-attention, then an MLP, each residual.

    ```
    x = x + Dropout(CrossAttention(LayerNorm(x), memory, padding_mask))
    x = x + Dropout(Dense(hidden_dim)(Dense(intermediate_dim, gelu)(LayerNorm(x))))
    ```

    Each position reads the memory on its own, so a decoder that steps token by token calls `step` with
    the memory's keys and values from `memory_cache`, computed once per source.

    Args:
        num_heads: int. Attention heads; `hidden_dim` must be divisible by it.
        intermediate_dim: int or None. Width of the MLP. Defaults to `4 * hidden_dim`.
        dropout: float. Dropout on both residual branches. Defaults to `0.0`.
        layer_norm_epsilon: float. Defaults to `1e-5`.
        attention: a serialized user cross-attention layer (`keras.saving.serialize_keras_object`) built as
            `Class(num_heads=...)` and called as `layer(query, memory, padding_mask=...)`, or None for
            `MultiHeadCrossAttention`. Defaults to `None`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> block = CrossAttentionBlock(num_heads=2)
    >>> tuple(block(np.zeros((2, 4, 8), "float32"), np.ones((2, 6, 8), "float32")).shape)
    (2, 4, 8)
    """

    def __init__(self, num_heads, intermediate_dim=None, dropout=0.0, layer_norm_epsilon=1e-5, attention=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.attention_config = attention

    def build(self, query_shape, memory_shape=None):
        hidden_dim = query_shape[-1]
        memory_shape = query_shape if memory_shape is None else memory_shape

        def norm(name):
            layer = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name=name,
                                                    dtype=self.dtype_policy)
            layer.build(query_shape)
            return layer

        self.attention_norm, self.mlp_norm = norm("attention_norm"), norm("mlp_norm")
        if self.attention_config is None:
            self.attention = MultiHeadCrossAttention(self.num_heads, name="cross_attention", dtype=self.dtype_policy)
        else:
            self.attention = plugged_layer(self.attention_config, "cross_attention", num_heads=self.num_heads,
                                           name="cross_attention", dtype=self.dtype_policy)
        self.attention.build(query_shape, memory_shape)
        self.mlp_in = keras.layers.Dense(self.intermediate_dim or 4 * hidden_dim, activation="gelu",
                                         name="mlp_in", dtype=self.dtype_policy)
        self.mlp_in.build(query_shape)
        self.mlp_out = keras.layers.Dense(hidden_dim, name="mlp_out", dtype=self.dtype_policy)
        self.mlp_out.build((*query_shape[:-1], self.intermediate_dim or 4 * hidden_dim))
        self.residual_dropout = keras.layers.Dropout(self.dropout, name="residual_dropout", dtype=self.dtype_policy)

    def _mlp(self, x, training=None):
        return x + self.residual_dropout(self.mlp_out(self.mlp_in(self.mlp_norm(x))), training=training)

    def memory_cache(self, memory):
        """What `step` reads of the memory: its projected keys and values, or the memory itself for a
        user's attention layer without `memory_cache`."""
        if hasattr(self.attention, "memory_cache"):
            return self.attention.memory_cache(memory)
        return memory

    def step(self, x, cache, padding_mask=None):
        """The block for queries `x` `(batch, T, hidden_dim)` given `memory_cache(memory)`."""
        normed = self.attention_norm(x)
        if hasattr(self.attention, "attend"):
            read = self.attention.attend(normed, cache, padding_mask)
        else:
            read = self.attention(normed, cache, padding_mask=padding_mask)
        return self._mlp(x + read)

    def call(self, query, memory, padding_mask=None, training=None):
        read = self.attention(self.attention_norm(query), memory, padding_mask=padding_mask, training=training)
        return self._mlp(query + self.residual_dropout(read, training=training), training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
                       "dropout": self.dropout, "layer_norm_epsilon": self.layer_norm_epsilon,
                       "attention": self.attention_config})
        return config
