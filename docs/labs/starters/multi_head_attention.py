"""Lab 05 starter: multi-head self-attention with four Dense projections.

Fill in the TODOs, then run:
    kerasllm lab check multi_head_attention docs/labs/starters/multi_head_attention.py:MyMultiHeadAttention
"""

import math

import keras
from keras import ops


class MyMultiHeadAttention(keras.layers.Layer):
    def __init__(self, num_heads, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.causal = causal

    def build(self, input_shape):
        hidden = input_shape[-1]
        self.head_dim = hidden // self.num_heads
        # TODO 1: four keras.layers.Dense(hidden) layers, built in this order (call .build(input_shape) on each):
        #   self.query_dense, self.key_dense, self.value_dense, self.output_dense
        raise NotImplementedError("TODO 1: create and build the query, key, value and output Dense layers")

    def call(self, inputs, padding_mask=None, return_attention_scores=False):
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        # TODO 2: project inputs to q, k, v and split the heads: (batch, T, hidden) -> (batch, T, num_heads, head_dim)
        # TODO 3: scores = einsum("bqhd,bkhd->bhqk", q, k) / sqrt(head_dim); mask padded keys (and the future when
        #         self.causal) with ops.where(mask, scores, -1e9); weights = softmax over the last axis
        # TODO 4: out = einsum("bhqk,bkhd->bqhd", weights, v); merge the heads back to (batch, T, hidden);
        #         apply self.output_dense
        raise NotImplementedError("TODO 2-4: split heads, attend with masks, merge heads, project")
        if return_attention_scores:
            return output, weights
        return output

    def get_config(self):
        config = super().get_config()
        # TODO 5: add num_heads and causal to the config
        return config
