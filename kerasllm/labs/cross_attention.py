"""Lab 09: multi-head cross-attention, a decoder's read of the encoder, against keras.layers.MultiHeadAttention.

Convention: `Class(num_heads)`, built as `layer.build(query_shape, memory_shape)` and called as
`layer(query, memory, padding_mask=None, return_attention_scores=False)` with query `(batch, T, hidden_dim)`
(the decoder's states), memory `(batch, S, hidden_dim)` (the encoder's features) and padding_mask
`(batch, S)` true for real source tokens; four Dense projections built in `build`, so the weights are, in
order, query kernel `(hidden_dim, hidden_dim)` and bias, key, value, then the output kernel and bias; heads
of width `hidden_dim // num_heads`; returns `(batch, T, hidden_dim)` (and the weights
`(batch, num_heads, T, S)`). Checked against `keras.layers.MultiHeadAttention(num_heads,
key_dim=hidden_dim // num_heads)(query, memory, attention_mask=padding_mask[:, None, :])`, always with
T != S, so a layer that attends over the query instead of the memory cannot pass by accident.

Example (the reference solution passes every check; self-attention on the query fails with a hint):
>>> from kerasllm.layers import MultiHeadCrossAttention
>>> report = CrossAttentionLab().run(MultiHeadCrossAttention, "reference", train=False)
>>> report.passed, len(report.results)
(True, 12)
>>> class SelfAttention(MultiHeadCrossAttention):  # attends over the query, never reads the memory
...     def call(self, query, memory, padding_mask=None, return_attention_scores=False):
...         return super().call(query, query, return_attention_scores=return_attention_scores)
>>> print(CrossAttentionLab().run(SelfAttention, "inline", train=False).lines()[2])  # doctest: +ELLIPSIS
FAIL  keys and values are read from the memory: the weights have shape (2, 2, 5, 5), one column per query ...
"""

import inspect
import math

import keras
import numpy as np

from kerasllm.labs.attention import _padding, _random, _softmax, copy_from_keras
from kerasllm.labs.base import (
    Lab,
    LabFailure,
    check,
    check_config_round_trip,
    close,
    max_error,
    register_lab,
    to_numpy,
    weights_without_gradient,
)
from kerasllm.labs.training import TINY_RUN, train_briefly

BATCH, T, S, HIDDEN, HEADS = 2, 5, 7, 8, 2  # T != S: queries and memory have different lengths
HEAD_DIM = HIDDEN // HEADS
SOURCE_LENGTHS = (S, 4)  # real source tokens per row; row 1 has 3 padded positions

#: The experiment: a generated copy task modelled as encoder-decoder, so the target can only be written by
#: reading the source through cross-attention (well under a minute on a laptop CPU).
TINY_SEQ2SEQ_RUN = {**TINY_RUN, "task": "selective_copy", "arch": "transformer", "seq2seq_form": "encoder_decoder",
                    "arch_options": {"num_heads": 2},
                    "task_options": {"num_train": 128, "num_validation": 32, "num_test": 32, "length": 12,
                                     "num_tokens": 3, "vocab_size": 8}}
SELF_ATTENTION_HINT = ("this is self-attention over the query: in cross-attention the queries come from query "
                       "(the decoder) and the keys and values from memory (the encoder's features): "
                       "k = key_dense(memory), v = value_dense(memory)")


def _causal_masks(t, s):
    """The two causal masks a lab 05 layer may carry over, `(T, S)`, true = visible: aligned at the first
    key (`tril`, `is_causal`) or at the last one (lab 05's `offset = S - T` for a cache)."""
    rows, cols = np.arange(t)[:, None], np.arange(s)[None, :]
    return [rows >= cols, rows + (s - t) >= cols]


def _numpy_cross(query, memory, params, scale=None, split="hd", project=True, weighted="value"):
    """Multi-head cross-attention in numpy, `(output, weights)`, with one deliberate change (for the hints)."""
    wq, bq, wk, bk, wv, bv, wo, bo = params
    batch = query.shape[0]

    def heads(x):  # (B, L, C) -> (B, L, H, D)
        if split == "hd":
            return x.reshape(batch, x.shape[1], HEADS, HEAD_DIM)
        return x.reshape(batch, x.shape[1], HEAD_DIM, HEADS).transpose(0, 1, 3, 2)

    q, k, v = heads(query @ wq + bq), heads(memory @ wk + bk), heads(memory @ wv + bv)
    scale = 1 / math.sqrt(HEAD_DIM) if scale is None else scale
    weights = _softmax(np.einsum("bthd,bshd->bhts", q, k) * scale)  # (B, H, T, S)
    out = np.einsum("bhts,bshd->bthd", weights, v if weighted == "value" else k)  # (B, T, H, D)
    out = out.reshape(batch, query.shape[1], HIDDEN) if split == "hd" else \
        out.transpose(0, 1, 3, 2).reshape(batch, query.shape[1], HIDDEN)
    return (out @ wo + bo if project else out), weights


@register_lab("cross_attention")
class CrossAttentionLab(Lab):
    number, title = "09", "Cross-attention: the decoder's queries read the encoder's features"
    convention = ("Class(num_heads); build(query_shape, memory_shape); layer(query, memory, padding_mask=None, "
                  "return_attention_scores=False) -> (batch, T, hidden_dim) [and weights (batch, num_heads, T, S)]; "
                  "query (batch, T, hidden) from the decoder, memory (batch, S, hidden) from the encoder, "
                  "padding_mask (batch, S) true for real source tokens; weights in order: query kernel (hidden, "
                  "hidden) and bias, key, value, output kernel and bias; as keras.layers.MultiHeadAttention"
                  "(query, memory)")
    reference = "kerasllm.layers.cross_attention:MultiHeadCrossAttention"
    starter = "cross_attention.py"

    def _query(self):
        return _random(BATCH, T, HIDDEN, seed=11)

    def _memory(self, seed=12):
        return _random(BATCH, S, HIDDEN, seed=seed)

    def _pair(self):
        """keras.layers.MultiHeadAttention and the student's layer with the same weights."""
        keras.utils.set_random_seed(9)
        reference = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=HEAD_DIM,
                                                    bias_initializer="random_normal")
        reference(self._query(), self._memory())
        layer = self.cls(num_heads=HEADS)
        layer.build((None, None, HIDDEN), (None, None, HIDDEN))
        params = copy_from_keras(reference, layer)
        return reference, layer, params

    def _attend(self, layer, memory=None, padding_mask=None):
        memory = self._memory() if memory is None else memory
        out, weights = layer(self._query(), memory, padding_mask=padding_mask, return_attention_scores=True)
        return to_numpy(out), to_numpy(weights)

    @check("built as Class(num_heads); build(query_shape, memory_shape) makes 8 weights in the documented order",
           fatal=True)
    def weights(self):
        layer = self.cls(num_heads=HEADS)
        if not isinstance(layer, keras.layers.Layer):
            raise LabFailure("the class must subclass keras.layers.Layer")
        try:
            inspect.signature(layer.build).bind((None, None, HIDDEN), (None, None, HIDDEN))
        except TypeError:
            raise LabFailure("build cannot take (query_shape, memory_shape): the encoder-decoder builds your layer "
                             "as layer.build(query_shape, memory_shape); write def build(self, query_shape, "
                             "memory_shape=None)") from None
        layer.build((None, None, HIDDEN), (None, None, HIDDEN))
        shapes = [tuple(w.shape) for w in layer.weights]
        expected = [(HIDDEN, HIDDEN), (HIDDEN,)] * 4
        if shapes != expected:
            raise LabFailure(f"the weights have shapes {shapes}, expected {expected}: build four Dense(hidden_dim) "
                             "layers (query, key, value, output) in build, in that order")

    @check(f"returns (batch, T, hidden_dim) for T={T} queries over S={S} memory positions, and the weights",
           fatal=True)
    def contract(self):
        _, layer, _ = self._pair()
        result = layer(self._query(), self._memory(), return_attention_scores=True)
        if not (isinstance(result, (list, tuple)) and len(result) == 2):
            raise LabFailure("with return_attention_scores=True, return the pair (output, weights)")
        out, weights = result
        if tuple(out.shape) == (BATCH, S, HIDDEN):
            raise LabFailure(f"the output has shape {tuple(out.shape)}, one row per memory position: query and "
                             "memory are swapped. The queries come from query (the decoder) and give the output its "
                             f"length T; keys and values come from memory. Expected {(BATCH, T, HIDDEN)}")
        if tuple(out.shape) != (BATCH, T, HIDDEN):
            raise LabFailure(f"the output has shape {tuple(out.shape)}, expected (batch, T, hidden_dim) = "
                             f"{(BATCH, T, HIDDEN)}: merge the heads back and apply the output projection")
        if len(weights.shape) != 4 or tuple(weights.shape[:3]) != (BATCH, HEADS, T):
            raise LabFailure(f"the weights have shape {tuple(weights.shape)}, expected (batch, num_heads, T, S) = "
                             f"{(BATCH, HEADS, T, S)}")
        if keras.backend.standardize_dtype(out.dtype) != "float32":
            raise LabFailure(f"the output is {out.dtype}, expected float32 like the inputs")
        if isinstance(layer(self._query(), self._memory()), (list, tuple)):
            raise LabFailure("without return_attention_scores, return the output tensor alone")

    @check("keys and values are read from the memory", fatal=True)
    def reads_memory(self):
        _, layer, _ = self._pair()
        out, weights = self._attend(layer)
        if weights.shape[-1] == T:
            raise LabFailure(f"the weights have shape {weights.shape}, one column per query (T={T}) instead of per "
                             f"memory position (S={S}): {SELF_ATTENTION_HINT}")
        if tuple(weights.shape) != (BATCH, HEADS, T, S):
            raise LabFailure(f"the weights have shape {weights.shape}, expected (batch, num_heads, T, S) = "
                             f"{(BATCH, HEADS, T, S)}")
        other, _ = self._attend(layer, memory=self._memory(seed=13))
        if close(out, other):
            raise LabFailure(f"the output does not change when the memory does: {SELF_ATTENTION_HINT}")

    @check("attention weights sum to 1 over the source positions")
    def weights_sum_to_one(self):
        _, layer, _ = self._pair()
        _, weights = self._attend(layer)
        if close(weights.sum(-1), np.ones((BATCH, HEADS, T)), 1e-4):
            return
        if close(weights.sum(2), np.ones((BATCH, HEADS, S)), 1e-4):
            raise LabFailure("attention weights do not sum to 1 over the source positions: the softmax runs over "
                             "the queries; use ops.softmax(scores, axis=-1)")
        raise LabFailure("attention weights do not sum to 1 over the source positions: turn the scores "
                         "(batch, heads, T, S) into weights with ops.softmax(scores, axis=-1)")

    def _masked(self):
        """The student's output and weights with row 1's last source positions padded, and where they are padded."""
        _, layer, _ = self._pair()
        mask = _padding(SOURCE_LENGTHS, S)
        out, weights = self._attend(layer, padding_mask=mask)
        return layer, mask, out, weights, ~np.broadcast_to(mask[:, None, None, :], weights.shape)

    def _padded_weight(self, weights, padded):
        largest = float(np.abs(weights[padded]).max())
        if largest > 1e-6:
            raise LabFailure(f"padded source positions get weight up to {largest:.3g}: the padding mask is not "
                             "applied; hide them in every head before the softmax, e.g. "
                             "ops.where(padding_mask[:, None, None, :], scores, -1e9)")

    @check("padding mask: padded source positions get weight 0")
    def padding(self):
        _, _, _, weights, padded = self._masked()
        self._padded_weight(weights, padded)

    @check("padding mask: the weights of the real source positions sum to 1")
    def masked_weights_sum_to_one(self):
        *_, weights, padded = self._masked()
        self._padded_weight(weights, padded)
        real = weights.sum(-1)  # the padded weights are 0 (checked above)
        if not close(real, np.ones((BATCH, HEADS, T)), 1e-4):
            raise LabFailure(f"the weights of the real source positions sum to {real.min():.3g}..{real.max():.3g}: "
                             "the mask is applied after the softmax (zeroing weights there leaves the rest summing "
                             "to less than 1); mask the scores with -1e9 before the softmax instead")

    @check("padding mask: what sits at padded source positions does not change the output")
    def padding_content(self):
        layer, mask, out, _, _ = self._masked()
        memory = self._memory()
        memory[~mask] = _random(int((~mask).sum()), HIDDEN, seed=14) * 10  # other content where padded
        changed, _ = self._attend(layer, memory=memory, padding_mask=mask)
        if not close(out, changed):
            raise LabFailure(f"changing what sits at padded source positions changes the output by up to "
                             f"{max_error(changed, out):.3g}: padded keys and values must take no part in it")

    @check("no causal mask: every query may read every real source position")
    def not_causal(self):
        _, layer, _ = self._pair()
        _, weights = self._attend(layer)
        hidden = (weights < 1e-7).any(axis=(0, 1))  # (T, S): positions some head never reads
        if not hidden.any():
            return
        for visible in _causal_masks(T, S):
            if hidden[~visible].all() and not hidden[visible].any():
                raise LabFailure("query t gets weight 0 on the source positions after it: a causal mask, as in "
                                 "lab 05's self-attention. The decoder may read the whole source (it is known "
                                 "before decoding starts): hide only the padding in cross-attention")
        raise LabFailure("some source positions get weight 0 without a padding mask: only the padding may hide "
                         "memory positions in cross-attention")

    @check("attention weights equal softmax(Q K^T / sqrt(head_dim)) in every head")
    def scaled_scores(self):
        _, layer, params = self._pair()
        _, weights = self._attend(layer)
        query, memory = self._query(), self._memory()
        if close(weights, _numpy_cross(query, memory, params)[1], 1e-4):
            return
        for hint, kwargs in (
            ("the scores are scaled by 1/sqrt(hidden_dim); scale by 1/sqrt(head_dim), the width of one head",
             {"scale": 1 / math.sqrt(HIDDEN)}),
            ("the scores are not scaled: divide Q K^T by sqrt(head_dim)", {"scale": 1.0}),
            ("the scores are divided by head_dim; divide by sqrt(head_dim)", {"scale": 1 / HEAD_DIM}),
            ("the heads are split the wrong way: reshape (batch, L, hidden) to (batch, L, num_heads, head_dim), "
             "not (batch, L, head_dim, num_heads)", {"split": "dh"}),
        ):
            if close(weights, _numpy_cross(query, memory, params, **kwargs)[1], 1e-4):
                raise LabFailure(hint)
        raise LabFailure(f"the weights differ from softmax(Q K^T / sqrt(head_dim)) by up to "
                         f"{max_error(weights, _numpy_cross(query, memory, params)[1]):.3g}: Q = query_dense(query), "
                         "K = key_dense(memory), split into heads, scores = einsum('bthd,bshd->bhts', Q, K)")

    @check(f"equals keras.layers.MultiHeadAttention(query, memory) with T={T}, S={S} and the same weights")
    def matches_keras(self):
        reference, layer, params = self._pair()
        query, memory = self._query(), self._memory()
        out, _ = self._attend(layer)
        expected = to_numpy(reference(query, memory))
        if not close(out, expected):
            for hint, kwargs in (
                ("the output projection is missing: apply the fourth Dense to the merged heads", {"project": False}),
                ("the output weights the keys; take the weighted sum of the values (weights @ v)",
                 {"weighted": "key"}),
            ):
                if close(out, _numpy_cross(query, memory, params, **kwargs)[0], 1e-4):
                    raise LabFailure(hint)
            raise LabFailure(f"the output differs from keras.layers.MultiHeadAttention by up to "
                             f"{max_error(out, expected):.3g}: project, split heads, attend, merge, project")
        mask = _padding(SOURCE_LENGTHS, S)
        out, _ = self._attend(layer, padding_mask=mask)
        expected = to_numpy(reference(query, memory, attention_mask=np.broadcast_to(mask[:, None, :], (BATCH, T, S))))
        if not close(out, expected):
            raise LabFailure(f"with a padding mask the output differs from keras.layers.MultiHeadAttention("
                             f"attention_mask=padding_mask[:, None, :]) by up to {max_error(out, expected):.3g}")

    @check("gradients reach every weight and the memory")
    def gradients(self):
        query, memory = keras.Input((T, HIDDEN)), keras.Input((S, HIDDEN))
        encoder = keras.layers.Dense(HIDDEN, name="encoder")  # stands in for the encoder below the memory
        layer = self.cls(num_heads=HEADS)
        model = keras.Model([query, memory], layer(query, encoder(memory)))
        stuck = weights_without_gradient(model, [self._query(), self._memory()], [layer, encoder])
        if any(name.startswith("encoder/") for name in stuck):
            raise LabFailure("no gradient reaches the memory, so the encoder below it would never learn: compute "
                             "keys and values from memory with keras.ops (numpy, .numpy() or ops.stop_gradient "
                             "cut the gradient)")
        if stuck:
            raise LabFailure(f"no gradient reaches {', '.join(stuck)}: use every projection in call, with keras.ops")

    @check("get_config round-trip")
    def config_round_trip(self):
        clone = check_config_round_trip(self.cls(num_heads=HEADS + 1), ["num_heads"])
        if clone.get_config().get("num_heads") != HEADS + 1:
            raise LabFailure("from_config(get_config()) lost num_heads: store it in get_config")

    @check("trains through the Trainer on selective_copy as encoder-decoder (your layer in the cross-attention)")
    def trains(self):
        metrics = train_briefly({**TINY_SEQ2SEQ_RUN, "cross_attention": self.spec})
        accuracy = metrics.get("validation_token_accuracy")
        self.note(f"{metrics['steps']} steps" + ("" if accuracy is None else
                                                  f", validation token accuracy {accuracy:.2f}"))
