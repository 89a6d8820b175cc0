"""Lab 04 starter: softmax(Q K^T / sqrt(d_k)) V with padding and causal masks.

Fill in the TODOs, then run:
    kerasllm lab check attention docs/labs/starters/scaled_dot_product_attention.py:MyAttention
"""

import keras
from keras import ops


class MyAttention(keras.layers.Layer):
    def __init__(self, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.causal = causal

    def call(self, query, key, value, padding_mask=None, return_attention_scores=False):
        # query (batch, T, d_k), key (batch, S, d_k), value (batch, S, d_v), padding_mask (batch, S) true = real key
        # TODO 1: scores = Q K^T / sqrt(d_k), shape (batch, T, S)  (ops.einsum("btd,bsd->bts", ...) or ops.matmul)
        # TODO 2: build a bool mask (batch or 1, T, S): padding_mask[:, None, :], and when self.causal also
        #         "key position <= query position" (ops.arange); hide masked scores: ops.where(mask, scores, -1e9)
        # TODO 3: weights = ops.softmax(scores, axis=-1); output = weights @ value, shape (batch, T, d_v)
        raise NotImplementedError("TODO 1-3: compute the scores, mask them, softmax over the keys, weight the values")
        if return_attention_scores:
            return output, weights
        return output

    def get_config(self):
        config = super().get_config()
        # TODO 4: add causal to the config
        return config
