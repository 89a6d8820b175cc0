"""Scaled dot-product attention, written out with `keras.ops` (the teaching layer of lab 04)."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasllm")
class ScaledDotProductAttention(keras.layers.Layer):
    """`Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V`, with padding and causal masks.

    Each query scores every key by a dot product scaled by `1 / sqrt(d_k)` (so the scores do not
    grow with the width), the softmax over the keys turns the scores into weights that sum to 1,
    and the output is the weighted sum of the values
    ([Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)). The layer has no weights; the
    projections live in `MultiHeadSelfAttention`. It matches
    `keras.ops.dot_product_attention` (one head) with the same mask.

    Masking: `padding_mask` `(batch, S)` hides padded keys; `causal=True` hides keys after the
    query (query `t` sees keys `0..t`, the queries being the last `T` of the `S` positions).
    A query with no visible key gets all-zero weights, so its output is zero (never NaN).

    Override point: `compute_scores(query, key)` returns the unnormalized scores
    `(batch, T, S)`; replace it to try another similarity.

    Args:
        causal: bool. Hide future keys. Defaults to `False`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        query: float tensor `(batch, T, d_k)`.
        key: float tensor `(batch, S, d_k)`.
        value: float tensor `(batch, S, d_v)`.
        padding_mask: bool/int tensor `(batch, S)`, true for real keys, or None.
        return_attention_scores: bool. Also return the weights `(batch, T, S)`.
            Defaults to `False`.

    Example:
    >>> import numpy as np
    >>> from kerasllm.labs.reference import ScaledDotProductAttention
    >>> x = np.random.rand(1, 3, 4).astype("float32")
    >>> out, weights = ScaledDotProductAttention(causal=True)(x, x, x, return_attention_scores=True)
    >>> tuple(out.shape), np.allclose(np.sum(weights, axis=-1), 1.0), float(weights[0, 0, 1])
    ((1, 3, 4), True, 0.0)

    Cosine-similarity attention only overrides `compute_scores`:
    >>> class CosineAttention(ScaledDotProductAttention):
    ...     def compute_scores(self, query, key):
    ...         q = query / ops.norm(query, axis=-1, keepdims=True)
    ...         k = key / ops.norm(key, axis=-1, keepdims=True)
    ...         return 10.0 * ops.einsum("btd,bsd->bts", q, k)
    >>> tuple(CosineAttention()(x, x, x).shape)
    (1, 3, 4)
    """

    def __init__(self, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.causal = causal

    def compute_scores(self, query, key):
        """`Q K^T / sqrt(d_k)`: `(batch, T, d_k)`, `(batch, S, d_k)` -> `(batch, T, S)`."""
        scale = 1.0 / math.sqrt(query.shape[-1])
        return ops.einsum("btd,bsd->bts", query, key) * scale

    def attention_mask(self, padding_mask, query_length, key_length):
        """Bool `(batch or 1, T, S)`, true where query t may see key s, or None."""
        mask = None
        if padding_mask is not None:
            mask = ops.cast(padding_mask, "bool")[:, None, :]  # (B, 1, S)
        if self.causal:
            query_pos = ops.arange(query_length)[:, None] + (key_length - query_length)
            causal = ops.greater_equal(query_pos, ops.arange(key_length)[None, :])[None]  # (1, T, S)
            mask = causal if mask is None else ops.logical_and(mask, causal)
        return mask

    def call(self, query, key, value, padding_mask=None, return_attention_scores=False):
        scores = ops.cast(self.compute_scores(query, key), "float32")  # (B, T, S)
        mask = self.attention_mask(padding_mask, ops.shape(query)[1], ops.shape(key)[1])
        if mask is not None:
            scores = ops.where(mask, scores, -1e9)
        weights = ops.softmax(scores, axis=-1)
        if mask is not None:
            weights = ops.where(mask, weights, 0.0)  # a query with no visible key attends to nothing
        weights = ops.cast(weights, self.compute_dtype)
        output = ops.einsum("bts,bsd->btd", weights, value)  # (B, T, d_v)
        if return_attention_scores:
            return output, weights
        return output

    def get_config(self):
        config = super().get_config()
        config["causal"] = self.causal
        return config
