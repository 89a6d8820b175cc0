"""Lab 09 starter: multi-head cross-attention, the decoder's queries over the encoder's features.

Fill in the TODOs, then run:
    kerasllm lab check cross_attention docs/labs/starters/cross_attention.py:MyCrossAttention
"""

import math

import keras
from keras import ops


class MyCrossAttention(keras.layers.Layer):
    def __init__(self, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads

    def build(self, query_shape, memory_shape=None):
        hidden = query_shape[-1]  # the memory has the same width (encoder and decoder share hidden_dim)
        self.head_dim = hidden // self.num_heads
        # TODO 1: four keras.layers.Dense(hidden) layers, built in this order:
        #   self.query_dense (build it with query_shape), self.key_dense and self.value_dense (memory_shape, or
        #   query_shape when memory_shape is None), self.output_dense (query_shape)
        raise NotImplementedError("TODO 1: create and build the query, key, value and output Dense layers")

    def call(self, query, memory, padding_mask=None, return_attention_scores=False):
        batch = ops.shape(query)[0]
        # TODO 2: q from the query (batch, T, hidden), k and v from the memory (batch, S, hidden); split the heads:
        #         (batch, L, hidden) -> (batch, L, num_heads, head_dim)
        # TODO 3: scores = einsum("bthd,bshd->bhts", q, k) / sqrt(head_dim)            (batch, heads, T, S)
        #         hide padded source positions: ops.where(padding_mask[:, None, None, :], scores, -1e9)
        #         (no causal mask: the decoder may read the whole source); weights = softmax over the last axis
        # TODO 4: out = einsum("bhts,bshd->bthd", weights, v); merge the heads back to (batch, T, hidden);
        #         apply self.output_dense
        raise NotImplementedError("TODO 2-4: project, split heads, attend over the memory, merge heads, project")
        if return_attention_scores:
            return output, weights
        return output

    def get_config(self):
        config = super().get_config()
        # TODO 5: add num_heads to the config
        return config
