"""Deliberately wrong solutions of the labs: the checker must catch each with the right hint (tests/test_labs.py)."""

import keras
from keras import ops

from kerasllm.labs.bpe import BytePairMergeStep
from kerasllm.labs.sampling import NucleusSampler
from kerasllm.labs.reference import (
    CausalConvBlock,
    GRUCell,
    LSTMCell,
    ScaledDotProductAttention,
    SimpleRNNCell,
    TokenPerplexity,
)
from kerasllm.layers import MultiHeadSelfAttention


class RNNWithoutBias(SimpleRNNCell):
    def call(self, inputs, states, training=None):
        h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel))
        return h, [h]


class RNNWithoutConfig(SimpleRNNCell):
    def get_config(self):
        config = super().get_config()
        del config["units"]
        return config


class RNNThroughNumpy(SimpleRNNCell):
    """Uses the bias as a constant: no gradient reaches it."""

    def call(self, inputs, states, training=None):
        bias = ops.stop_gradient(self.bias)
        h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel) + bias)
        return h, [h]


class LSTMWrongGateOrder(LSTMCell):
    def call(self, inputs, states, training=None):
        h_prev, c_prev = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias
        i, f, o, g = ops.split(z, 4, axis=-1)  # the paper's order, not Keras' i, f, c, o
        c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]


class GRUPaperMix(GRUCell):
    def call(self, inputs, states, training=None):
        h_prev = states[0]
        x_z, x_r, x_h = ops.split(ops.matmul(inputs, self.kernel) + self.bias[0], 3, axis=-1)
        h_z, h_r, h_h = ops.split(ops.matmul(h_prev, self.recurrent_kernel) + self.bias[1], 3, axis=-1)
        z, r = ops.sigmoid(x_z + h_z), ops.sigmoid(x_r + h_r)
        h = (1 - z) * h_prev + z * ops.tanh(x_h + r * h_h)
        return h, [h]


class UnscaledAttention(ScaledDotProductAttention):
    def compute_scores(self, query, key):
        return ops.einsum("btd,bsd->bts", query, key)


class UnmaskedAttention(ScaledDotProductAttention):
    def attention_mask(self, padding_mask, query_length, key_length):
        return None


class SoftmaxOverQueries(keras.layers.Layer):
    def __init__(self, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.causal = causal

    def call(self, query, key, value, padding_mask=None, return_attention_scores=False):
        scores = ops.einsum("btd,bsd->bts", query, key) / ops.sqrt(float(query.shape[-1]))
        weights = ops.softmax(scores, axis=1)
        output = ops.einsum("bts,bsd->btd", weights, value)
        return (output, weights) if return_attention_scores else output


class MultiHeadScaledByWidth(MultiHeadSelfAttention):
    def _compute_attention(self, query, key, value, attention_mask, training=None):
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key) / ops.sqrt(float(self.num_heads * self.head_dim))
        if attention_mask is not None:
            scores = ops.where(attention_mask, scores, -1e9)
        weights = ops.softmax(scores, axis=-1)
        return ops.einsum("bhqk,bkhd->bqhd", weights, value), weights


class CenteredConvBlock(CausalConvBlock):
    """Pads both sides ('same' padding): the output sees the future."""

    def convolve(self, x):
        reach = (self.kernel_size - 1) * self.dilation_rate
        padded = ops.pad(x, [[0, 0], [reach // 2, reach - reach // 2], [0, 0]])
        length = x.shape[1]
        return sum(ops.matmul(padded[:, j * self.dilation_rate: j * self.dilation_rate + length], self.kernel[j])
                   for j in range(self.kernel_size)) + self.bias


class NucleusOneShort(NucleusSampler):
    def nucleus_mask(self, sorted_probabilities):
        keep = ops.less_equal(ops.cumsum(sorted_probabilities, axis=-1), self.p)
        first = ops.arange(ops.shape(keep)[1])[None, :] == 0
        return ops.logical_or(keep, first)


class UniformNucleus(NucleusSampler):
    def get_next_token(self, probabilities):
        order = ops.flip(ops.argsort(probabilities, axis=-1), axis=-1)
        sorted_probabilities = ops.take_along_axis(probabilities, order, axis=-1)
        kept = ops.where(self.nucleus_mask(sorted_probabilities), 1.0, 0.0)
        choice = keras.random.categorical(ops.log(kept), 1, seed=self.seed_generator, dtype="int32")
        return ops.squeeze(ops.take_along_axis(order, choice, axis=-1), axis=-1)


class LargestPairOnTies(BytePairMergeStep):
    def choose(self, pair_counts):
        return max(pair_counts, key=lambda pair: (pair_counts[pair], pair))


class OverlappingMerge(BytePairMergeStep):
    def merge(self, symbols, pair):
        out = list(symbols)
        for i in range(len(out) - 1):
            if (symbols[i], symbols[i + 1]) == pair:
                out[i], out[i + 1] = pair[0] + pair[1], None
        return tuple(s for s in out if s is not None)


class UnweightedCounts(BytePairMergeStep):
    def count_pairs(self, words):
        counts = super().count_pairs({symbols: 1 for symbols in words})
        return counts


class PerBatchPerplexity(TokenPerplexity):
    """Adds each batch's mean NLL and counts batches: a batch of 2 tokens weighs as much as one of 80."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        nll = self.token_nll(y_true, y_pred)
        weight = ops.ones_like(nll) if sample_weight is None else ops.cast(sample_weight, "float32")
        if self.mask_token_id is not None:
            weight = weight * ops.cast(ops.not_equal(ops.cast(y_true, "int32"), self.mask_token_id), "float32")
        self.total_nll.assign_add(ops.sum(nll * weight) / ops.sum(weight))
        self.token_count.assign_add(1.0)


class PaddingCounted(TokenPerplexity):
    """Ignores sample_weight and mask_token_id: every position counts."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        nll = self.token_nll(y_true, y_pred)
        self.total_nll.assign_add(ops.sum(nll))
        self.token_count.assign_add(ops.cast(ops.size(nll), "float32"))


class PaddingInTheCount(TokenPerplexity):
    """Weighs the NLL but counts every position."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        nll = self.token_nll(y_true, y_pred)
        weight = ops.ones_like(nll) if sample_weight is None else ops.cast(sample_weight, "float32")
        self.total_nll.assign_add(ops.sum(nll * weight))
        self.token_count.assign_add(ops.cast(ops.size(nll), "float32"))


class MaskTokenIgnored(TokenPerplexity):
    """Uses sample_weight but not mask_token_id."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        nll = self.token_nll(y_true, y_pred)
        weight = ops.ones_like(nll) if sample_weight is None else ops.cast(sample_weight, "float32")
        self.total_nll.assign_add(ops.sum(nll * weight))
        self.token_count.assign_add(ops.sum(weight))


class LogOfSoftmax(TokenPerplexity):
    """-log(softmax(logits)[y]): -log(0) = inf where the softmax underflows."""

    def token_nll(self, y_true, y_pred):
        probabilities = ops.softmax(ops.cast(y_pred, "float32"), axis=-1)
        picked = ops.take_along_axis(probabilities, ops.expand_dims(ops.cast(y_true, "int32"), -1), axis=-1)
        return -ops.log(ops.squeeze(picked, -1))


class LogitsAsProbabilities(TokenPerplexity):
    """Keras' cross-entropy without from_logits=True: the logits are read as probabilities."""

    def token_nll(self, y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)


class MeanNLLNotPerplexity(TokenPerplexity):
    def result(self):
        return ops.divide_no_nan(self.total_nll, self.token_count)


class ForgetsToResetTheCount(TokenPerplexity):
    def reset_state(self):
        self.total_nll.assign(0.0)


class PerplexityWithoutConfig(TokenPerplexity):
    def get_config(self):
        config = super().get_config()
        del config["mask_token_id"]
        return config


class PythonTotals(TokenPerplexity):
    """Keeps the totals in Python floats: fine eagerly, impossible inside model.evaluate."""

    def __init__(self, mask_token_id=None, name="python_totals", **kwargs):
        super().__init__(mask_token_id=mask_token_id, name=name, **kwargs)
        self.total, self.count = 0.0, 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        nll = self.token_nll(y_true, y_pred)
        weight = ops.ones_like(nll) if sample_weight is None else ops.cast(sample_weight, "float32")
        if self.mask_token_id is not None:
            weight = weight * ops.cast(ops.not_equal(ops.cast(y_true, "int32"), self.mask_token_id), "float32")
        self.total += float(ops.sum(nll * weight))
        self.count += float(ops.sum(weight))

    def result(self):
        return ops.exp(ops.convert_to_tensor(self.total / max(self.count, 1e-12)))

    def reset_state(self):
        self.total, self.count = 0.0, 0.0
