"""Multi-head self-attention on Keras' fused kernel, with the formula written out as its reference."""

import math

import keras
import keras_hub
from keras import ops

from kerasllm.errors import ConfigError
from kerasllm.layers.plugged import plugged_layer


def cache_buckets(max_length, smallest=128):
    """The key lengths a cached `step` attends over: `smallest`, then each at most 1.5x the one before
    (128, 192, 256, 384, 512, 768, ...), ending at `max_length`.

    A step reads the shortest bucket that holds the tokens so far, so its cost follows the prefix, not the
    cache's size, with few distinct shapes to compile (about 2 log2(max_length / smallest)).

    >>> cache_buckets(1000)
    [128, 192, 256, 384, 512, 768, 1000]
    """
    lengths, size = [], smallest
    while size < max_length:
        lengths.append(size)
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3  # 2^k -> 1.5 * 2^k -> 2^(k+1)
    return lengths + [max_length]


@keras.saving.register_keras_serializable(package="kerasllm")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head scaled dot-product self-attention.

    `Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V`, computed for `num_heads` heads in
    parallel from the same input ([Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)).
    The inputs are projected to queries, keys and values with `query`, `key` and `value`
    `Dense` layers (each `hidden_dim -> num_heads * key_dim`), the heads are concatenated and
    projected back to `hidden_dim` by `attention_output`. The math matches
    `keras.layers.MultiHeadAttention(num_heads, key_dim)(x, x)` with the same weights.

    Masking: `padding_mask` hides padded keys; `causal=True` also hides keys after the query
    (position `t` sees `0..t`). The softmax runs in float32, and a query row with no visible
    key gets all-zero weights and output (never NaN). With `rotary=True`, queries and keys are
    rotated by `keras_hub.layers.RotaryEmbedding` before the dot product.

    Kernels: attention runs through `keras.ops.dot_product_attention`, the backend's own
    attention op (as the LSTM gets Keras' fused cells): cuDNN flash attention on JAX GPUs in
    half precision, splash attention on TPUs, one einsum-softmax-einsum graph on TensorFlow
    and on CPUs. The formula written out step by step, `_softmax_attention`, is the teaching
    reference; it runs when the weights are needed (`return_attention_scores=True`, or
    attention dropout while training), and a test checks that both paths agree.

    Override point: `_compute_attention(query, key, value, attention_mask, training)` turns
    projected heads into attended values `(output, weights)`; replace it to try another
    attention rule (it then runs in `call` and `step`, also when scores are asked for).

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int or None. Width of each head. Defaults to `hidden_dim // num_heads`.
        dropout: float. Dropout rate on the attention weights. Defaults to `0.0`.
        causal: bool. Hide future positions. Defaults to `False`.
        rotary: bool. Apply rotary position embeddings to queries and keys.
            Defaults to `False`.
        rotary_max_wavelength: int. Longest wavelength of the rotary embedding.
            Defaults to `10000`.
        head_attention: a serialized one-head attention layer following
            `kerasllm.labs.reference.ScaledDotProductAttention` (`Layer(causal=...)`, called as
            `layer(query, key, value, padding_mask=...)`), run on every head instead of
            `_compute_attention`; how a student's attention (lab 04) enters the Transformer.
            Defaults to `None`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, seq, hidden_dim)`.
        padding_mask: bool/int tensor `(batch, seq)`, true for real tokens, or None.
        training: bool. Whether dropout is active.
        return_attention_scores: bool. Also return the weights
            `(batch, num_heads, seq, seq)`. Defaults to `False`.

    Example:
    >>> import numpy as np
    >>> from kerasllm.layers import MultiHeadSelfAttention
    >>> layer = MultiHeadSelfAttention(num_heads=2, causal=True)
    >>> x = np.random.rand(1, 3, 8).astype("float32")
    >>> out, weights = layer(x, return_attention_scores=True)
    >>> tuple(out.shape), tuple(weights.shape)
    ((1, 3, 8), (1, 2, 3, 3))
    >>> bool(weights[0, 0, 0, 1] == 0.0)  # the first token cannot see the second
    True

    A different attention rule only overrides `_compute_attention`:
    >>> class ReLUAttention(MultiHeadSelfAttention):
    ...     def _compute_attention(self, query, key, value, attention_mask, training=None):
    ...         scores = ops.einsum("bqhd,bkhd->bhqk", query, key)
    ...         weights = ops.relu(scores) / ops.cast(ops.shape(key)[1], scores.dtype)
    ...         if attention_mask is not None:
    ...             weights = weights * ops.cast(attention_mask, weights.dtype)
    ...         return ops.einsum("bhqk,bkhd->bqhd", weights, value), weights
    >>> tuple(ReLUAttention(num_heads=2)(x).shape)
    (1, 3, 8)
    """

    def __init__(
        self,
        num_heads,
        key_dim=None,
        dropout=0.0,
        causal=False,
        rotary=False,
        rotary_max_wavelength=10000,
        head_attention=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_heads, int) or num_heads <= 0:
            raise ConfigError(
                f"num_heads must be a positive integer, got {num_heads!r}. Use e.g. 4."
            )
        if key_dim is not None and (not isinstance(key_dim, int) or key_dim <= 0):
            raise ConfigError(
                f"key_dim must be a positive integer or None, got {key_dim!r}. "
                "Leave it None to use hidden_dim // num_heads."
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(
                f"Attention dropout must be in [0, 1), got {dropout!r}. Use e.g. 0.1."
            )
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.dropout = dropout
        self.causal = causal
        self.rotary = rotary
        self.rotary_max_wavelength = rotary_max_wavelength
        self.head_attention = head_attention

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        head_dim = self.key_dim
        if head_dim is None:
            if hidden_dim % self.num_heads:
                raise ConfigError(
                    f"hidden_dim={hidden_dim} is not divisible by num_heads={self.num_heads}. "
                    "Pick a hidden_dim that is a multiple of num_heads."
                )
            head_dim = hidden_dim // self.num_heads
        if self.rotary and head_dim % 2:
            raise ConfigError(
                f"Rotary embeddings need an even head width, got {head_dim}. "
                "Pick hidden_dim // num_heads even."
            )
        self.head_dim = head_dim
        projected_shape = (*inputs_shape[:-1], self.num_heads * head_dim)
        for name in ("query", "key", "value"):
            dense = keras.layers.Dense(
                self.num_heads * head_dim, name=name, dtype=self.dtype_policy
            )
            dense.build(inputs_shape)
            setattr(self, f"{name}_dense", dense)
        self.output_dense = keras.layers.Dense(
            hidden_dim, name="attention_output", dtype=self.dtype_policy
        )
        self.output_dense.build(projected_shape)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, name="attention_dropout", dtype=self.dtype_policy
        )
        self.head_layers = None
        if self.head_attention is not None:
            # Two instances of the (weightless) head: masked causally for `call`, by the cache for `step`.
            self.head_layers = {
                causal: plugged_layer(self.head_attention, "attention", causal=causal,
                                     name=f"head_attention{'_causal' if causal else ''}", dtype=self.dtype_policy)
                for causal in {self.causal, False}
            }
        if self.rotary:
            self.rotary_embedding = keras_hub.layers.RotaryEmbedding(
                max_wavelength=self.rotary_max_wavelength,
                sequence_axis=1,
                feature_axis=-1,
                name="rotary_embedding",
                dtype=self.dtype_policy,
            )
        else:
            self.rotary_embedding = None

    def _split_heads(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        return ops.reshape(x, (batch, length, self.num_heads, self.head_dim))  # (B, T, H, D)

    def compute_attention_mask(self, padding_mask, query_length, key_length):
        """Boolean mask `(batch or 1, 1, query_length, key_length)`, or None.

        True where a query may attend to a key: the key is a real token and, when causal,
        the key is not after the query (queries are the last `query_length` positions).
        """
        mask = None
        if padding_mask is not None:
            mask = ops.cast(padding_mask, "bool")[:, None, None, :]  # (B, 1, 1, S)
        if self.causal:
            offset = key_length - query_length
            query_pos = ops.arange(query_length)[:, None] + offset
            causal = ops.greater_equal(query_pos, ops.arange(key_length)[None, :])
            causal = causal[None, None, :, :]  # (1, 1, T, S)
            mask = causal if mask is None else ops.logical_and(mask, causal)
        return mask

    def _heads_through(self, layer, query, key, value, padding_mask):
        """Runs a one-head attention layer on every head: heads fold into the batch."""
        batch, heads = ops.shape(query)[0], self.num_heads

        def fold(x):  # (B, T, H, D) -> (B * H, T, D)
            x = ops.transpose(x, (0, 2, 1, 3))
            return ops.reshape(x, (batch * heads, ops.shape(x)[2], self.head_dim))

        if padding_mask is not None:
            padding_mask = ops.repeat(ops.cast(padding_mask, "bool"), heads, axis=0)  # (B * H, S)
        output, weights = layer(fold(query), fold(key), fold(value), padding_mask=padding_mask,
                                return_attention_scores=True)
        output = ops.reshape(output, (batch, heads, ops.shape(query)[1], self.head_dim))
        weights = ops.reshape(weights, (batch, heads, ops.shape(query)[1], ops.shape(key)[1]))
        return ops.transpose(output, (0, 2, 1, 3)), weights  # (B, T, H, D), (B, H, T, S)

    def _compute_attention(self, query, key, value, attention_mask, training=None):
        """softmax(Q K^T / sqrt(d_k)) V for all heads at once: the override point.

        Runs the fused `keras.ops.dot_product_attention`, which returns no weights; while
        attention dropout is active (training with `dropout > 0`) it runs the explicit
        `_softmax_attention` instead, which drops the weights.

        Args:
            query: `(batch, T, num_heads, head_dim)`.
            key: `(batch, S, num_heads, head_dim)`.
            value: `(batch, S, num_heads, head_dim)`.
            attention_mask: bool `(batch or 1, 1, T, S)` (true = may attend) or None.
            training: bool. Whether dropout is active.

        Returns:
            `(output, weights)`: output `(batch, T, num_heads, head_dim)` and attention
            weights `(batch, num_heads, T, S)`, or None where the fused kernel ran.
        """
        if training and self.dropout > 0:
            return self._softmax_attention(query, key, value, attention_mask, training=training)
        output = ops.dot_product_attention(
            query, key, value, mask=attention_mask, scale=1.0 / math.sqrt(self.head_dim)
        )  # (B, T, H, D)
        if attention_mask is not None:
            # The kernel spreads a row with no visible key evenly over all keys; zero it, as
            # `_softmax_attention` does.
            any_visible = ops.any(attention_mask, axis=-1)  # (B or 1, 1, T)
            any_visible = ops.transpose(any_visible, (0, 2, 1))[..., None]  # (B or 1, T, 1, 1)
            output = ops.where(any_visible, output, ops.zeros_like(output))
        return output, None

    def _softmax_attention(self, query, key, value, attention_mask, training=None):
        """softmax(Q K^T / sqrt(d_k)) V written out: scores, mask, softmax, weighted sum.

        The teaching reference for `_compute_attention` (same arguments and shapes); it also
        returns the weights `(batch, num_heads, T, S)`.
        """
        scale = 1.0 / math.sqrt(self.head_dim)
        scores = ops.einsum("bqhd,bkhd->bhqk", query * scale, key)  # (B, H, T, S)
        scores = ops.cast(scores, "float32")
        if attention_mask is not None:
            scores = ops.where(attention_mask, scores, -1e9)
        weights = ops.softmax(scores, axis=-1)
        if attention_mask is not None:
            # A row with no visible key would be uniform; make it zero instead.
            weights = ops.where(attention_mask, weights, 0.0)
        weights = ops.cast(weights, self.compute_dtype)
        dropped = self.dropout_layer(weights, training=training)
        output = ops.einsum("bhqk,bkhd->bqhd", dropped, value)  # (B, T, H, D)
        return output, weights

    def _attend(self, query, key, value, attention_mask, training=None, return_attention_scores=False):
        """`_compute_attention`; the explicit reference when weights are asked of the fused default."""
        if return_attention_scores and type(self)._compute_attention is MultiHeadSelfAttention._compute_attention:
            return self._softmax_attention(query, key, value, attention_mask, training=training)
        return self._compute_attention(query, key, value, attention_mask, training=training)

    def call(
        self,
        inputs,
        padding_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        length = ops.shape(inputs)[1]
        query = self._split_heads(self.query_dense(inputs))  # (B, T, H, D)
        key = self._split_heads(self.key_dense(inputs))  # (B, T, H, D)
        value = self._split_heads(self.value_dense(inputs))  # (B, T, H, D)
        if self.rotary_embedding is not None:
            query = self.rotary_embedding(query)
            key = self.rotary_embedding(key)
        if self.head_layers is not None:
            output, weights = self._heads_through(self.head_layers[self.causal], query, key, value, padding_mask)
        else:
            mask = self.compute_attention_mask(padding_mask, length, length)
            output, weights = self._attend(query, key, value, mask, training=training,
                                           return_attention_scores=return_attention_scores)
        batch = ops.shape(output)[0]
        output = ops.reshape(output, (batch, length, self.num_heads * self.head_dim))
        output = self.output_dense(output)  # (B, T, C)
        if return_attention_scores:
            return output, weights
        return output

    def initial_cache(self, batch_size, max_length):
        """Zero key and value caches for `step`: `[key, value]`, keys
        `(batch_size, num_heads, max_length, head_dim)` and values stored transposed,
        `(batch_size, num_heads, head_dim, max_length)`, so that both products of a step read
        the cache in place (no per-step transpose)."""
        return [
            ops.zeros((batch_size, self.num_heads, max_length, self.head_dim), self.compute_dtype),
            ops.zeros((batch_size, self.num_heads, self.head_dim, max_length), self.compute_dtype),
        ]

    def step(self, inputs, cache, index):
        """Causal attention for one new token per row, reading earlier keys from a cache.

        The new token's key and value are written into the cache at `index`, and its query
        attends to cache positions `0..index` only, so the output equals `call` with
        `causal=True` on the whole prefix, at its last position. It reads only the shortest of
        `cache_buckets(max_length)` that holds those positions, so a step's cost grows with the
        tokens so far, not with the size of the cache.

        Args:
            inputs: float tensor `(batch, hidden_dim)`, the new token of each row.
            cache: `[key, value]` from `initial_cache` or an earlier `step`.
            index: int tensor `(batch,)`, the position of the new token in each row. Rows
                advance together (every `Backbone.step` moves all of them by one), so the
                new key and value are written in place at `index[0]`.

        Returns:
            `(output, cache)`: output `(batch, hidden_dim)` and the updated cache.
        """
        x = inputs[:, None, :]  # (B, 1, C)
        query = self._split_heads(self.query_dense(x))  # (B, 1, H, D)
        key = self._split_heads(self.key_dense(x))
        value = self._split_heads(self.value_dense(x))
        if self.rotary_embedding is not None:
            query = self.rotary_embedding(query, positions=ops.cast(index[:, None], "float32"))
            key = self.rotary_embedding(key, positions=ops.cast(index[:, None], "float32"))
        key_cache, value_cache = cache  # (B, H, S, D), (B, H, D, S)
        # An in-place update: rewriting the whole cache each step costs O(length) memory traffic.
        position = ops.cast(index[0], "int32")
        key = ops.transpose(ops.cast(key, key_cache.dtype), (0, 2, 1, 3))  # (B, H, 1, D)
        value = ops.transpose(ops.cast(value, value_cache.dtype), (0, 2, 3, 1))  # (B, H, D, 1)
        key_cache = ops.slice_update(key_cache, [0, 0, position, 0], key)
        value_cache = ops.slice_update(value_cache, [0, 0, 0, position], value)
        output = self._attend_cache(query, key_cache, value_cache, index)  # (B, 1, H, D)
        batch = ops.shape(output)[0]
        output = ops.reshape(output, (batch, self.num_heads * self.head_dim))
        return self.output_dense(output), [key_cache, value_cache]

    def _attend_cache(self, query, key_cache, value_cache, index):
        """The new queries `(B, 1, H, D)` over cache positions `0..index`, through the shortest of
        `cache_buckets` that holds them: a static prefix of the cache, one compiled branch per bucket.

        Masked keys add exact zeros, so the bucket changes the cost, not the result. A cache whose
        length is unknown while tracing is read whole.
        """
        max_length = key_cache.shape[2]
        lengths = cache_buckets(max_length) if isinstance(max_length, int) else [None]
        default = self.head_layers is None and (
            type(self)._compute_attention is MultiHeadSelfAttention._compute_attention
        )

        def attend(length):
            def branch(query, key_cache, value_cache, index):
                key, value = key_cache, value_cache
                if length is not None:
                    key, value = key_cache[:, :, :length], value_cache[..., :length]
                # Cache positions 0..index are visible (an explicit mask: `is_causal` would align the
                # query with the first key, not the last).
                visible = ops.less_equal(ops.arange(ops.shape(key)[2])[None, :], index[:, None])  # (B, S)
                if default:
                    return self._cached_attention(query, key, value, visible)
                key = ops.transpose(key, (0, 2, 1, 3))  # (B, S, H, D), as `call` has them
                value = ops.transpose(value, (0, 3, 1, 2))
                if self.head_layers is not None:
                    return self._heads_through(self.head_layers[False], query, key, value, visible)[0]
                return self._compute_attention(query, key, value, visible[:, None, None, :], training=False)[0]

            return branch

        if len(lengths) == 1:
            return attend(lengths[0])(query, key_cache, value_cache, index)
        # Rows advance together: the first row's position picks the bucket.
        bucket = ops.sum(ops.cast(ops.greater_equal(index[0], ops.convert_to_tensor(lengths[:-1])), "int32"))
        return ops.switch(bucket, [attend(length) for length in lengths], query, key_cache, value_cache, index)

    def _cached_attention(self, query, key, value, visible):
        """`_compute_attention` for one query per row over cached keys `(B, H, S, D)` and transposed
        values `(B, H, D, S)`: two matrix-vector products that read the cache where it lies."""
        query = ops.transpose(query, (0, 2, 3, 1)) * (1.0 / math.sqrt(self.head_dim))  # (B, H, D, 1)
        scores = ops.cast(ops.matmul(key, query), "float32")  # (B, H, S, 1)
        scores = ops.where(visible[:, None, :, None], scores, -1e9)
        weights = ops.cast(ops.softmax(scores, axis=2), self.compute_dtype)
        output = ops.matmul(value, weights)  # (B, H, D, 1)
        return ops.transpose(output, (0, 3, 1, 2))  # (B, 1, H, D)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "dropout": self.dropout,
                "causal": self.causal,
                "rotary": self.rotary,
                "rotary_max_wavelength": self.rotary_max_wavelength,
                "head_attention": self.head_attention,
            }
        )
        return config
