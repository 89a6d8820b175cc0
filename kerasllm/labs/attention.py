"""Labs 04-05: scaled dot-product attention, then multi-head self-attention, against the Keras built-ins.

Lab 04 convention: `Class(causal=False)`, called as `layer(query, key, value, padding_mask=None,
return_attention_scores=False)` with query `(batch, T, d_k)`, key `(batch, S, d_k)`, value
`(batch, S, d_v)`, padding_mask `(batch, S)` true for real keys; returns `(batch, T, d_v)` (and the
weights `(batch, T, S)`). Checked against `keras.ops.dot_product_attention`.

Lab 05 convention: `Class(num_heads, causal=False)`, called as `layer(x, padding_mask=None,
return_attention_scores=False)` with x `(batch, T, hidden_dim)`; four Dense projections built in
`build`, so the weights are, in order, query kernel `(hidden_dim, hidden_dim)` and bias, key, value,
then the output kernel `(hidden_dim, hidden_dim)` and bias; heads of width `hidden_dim // num_heads`.
Checked against `keras.layers.MultiHeadAttention(num_heads, key_dim=hidden_dim // num_heads)`.

Example (the reference solution of lab 04 passes every check):
>>> from kerasllm.labs.reference import ScaledDotProductAttention
>>> report = ScaledDotProductAttentionLab().run(ScaledDotProductAttention, "reference", train=False)
>>> report.passed, len(report.results)
(True, 7)
"""

import math

import keras
import numpy as np
from keras import ops

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
from kerasllm.labs.training import tiny_config, train_briefly

BATCH, T, S, DK, DV = 2, 5, 7, 8, 6
LENGTHS = (S, 4)


def _random(*shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _padding(lengths, length):
    return np.arange(length)[None, :] < np.array(lengths)[:, None]


def _causal(t, s):
    return (np.arange(t)[:, None] + (s - t)) >= np.arange(s)[None, :]


@register_lab("attention")
class ScaledDotProductAttentionLab(Lab):
    number, title = "04", "Scaled dot-product attention: softmax(Q K^T / sqrt(d_k)) V"
    convention = ("Class(causal=False); layer(query, key, value, padding_mask=None, return_attention_scores=False) "
                  "-> (batch, T, d_v) [and weights (batch, T, S)]; padding_mask (batch, S) true for real keys; "
                  "as keras.ops.dot_product_attention")
    reference = "kerasllm.labs.reference.scaled_dot_product_attention:ScaledDotProductAttention"
    starter = "scaled_dot_product_attention.py"

    def _inputs(self, length=S, value_dim=DK):
        """Query, key and value; the value width equals d_k (as keras.ops.dot_product_attention needs on JAX)
        except in the shape check, which uses d_v != d_k to tell values from keys."""
        return (_random(BATCH, T, DK, seed=1), _random(BATCH, length, DK, seed=2),
                _random(BATCH, length, value_dim, seed=3))

    def _attend(self, causal=False, padding_mask=None, length=S):
        q, k, v = self._inputs(length)
        out, weights = self.cls(causal=causal)(q, k, v, padding_mask=padding_mask, return_attention_scores=True)
        return to_numpy(out), to_numpy(weights)

    def _keras(self, causal=False, padding_mask=None, length=S):
        q, k, v = self._inputs(length)
        mask = None if padding_mask is None else padding_mask[:, None, None, :]
        out = ops.dot_product_attention(q[:, :, None], k[:, :, None], v[:, :, None], mask=mask, is_causal=causal)
        return to_numpy(out)[:, :, 0]

    @check("built as Class(causal=...); returns (batch, T, d_v) and weights (batch, T, S)", fatal=True)
    def contract(self):
        layer = self.cls(causal=False)
        if not isinstance(layer, keras.layers.Layer):
            raise LabFailure("the class must subclass keras.layers.Layer")
        q, k, v = self._inputs(value_dim=DV)
        result = layer(q, k, v, padding_mask=None, return_attention_scores=True)
        if not (isinstance(result, (list, tuple)) and len(result) == 2):
            raise LabFailure("with return_attention_scores=True, return the pair (output, weights)")
        out, weights = result
        if tuple(out.shape) == (BATCH, T, DK) and DK != DV:
            raise LabFailure(f"the output has shape {tuple(out.shape)}: it is a weighted sum of the keys; "
                             "take the weighted sum of the values (weights @ value)")
        if tuple(out.shape) != (BATCH, T, DV):
            raise LabFailure(f"the output has shape {tuple(out.shape)}, expected (batch, T, d_v) = {(BATCH, T, DV)}")
        if tuple(weights.shape) != (BATCH, T, S):
            raise LabFailure(f"the weights have shape {tuple(weights.shape)}, expected (batch, T, S) = "
                             f"{(BATCH, T, S)}: one row of key weights per query")
        if keras.backend.standardize_dtype(out.dtype) != "float32":
            raise LabFailure(f"the output is {out.dtype}, expected float32 like the inputs")
        plain = layer(q, k, v)
        if isinstance(plain, (list, tuple)):
            raise LabFailure("without return_attention_scores, return the output tensor alone")

    @check("attention weights sum to 1 over the keys")
    def weights_sum_to_one(self):
        _, weights = self._attend()
        if close(weights.sum(-1), np.ones((BATCH, T)), 1e-4):
            return
        if S == T or close(weights.sum(1), np.ones((BATCH, S)), 1e-4):
            raise LabFailure("attention weights do not sum to 1 over the keys: the softmax runs over the queries; "
                             "use ops.softmax(scores, axis=-1)")
        raise LabFailure("attention weights do not sum to 1 over the keys: turn the scores into weights with "
                         "ops.softmax(scores, axis=-1)")

    @check("equals keras.ops.dot_product_attention (no mask)")
    def matches_keras(self):
        out, _ = self._attend()
        expected = self._keras()
        if close(out, expected):
            return
        q, k, v = self._inputs()
        scores = np.einsum("btd,bsd->bts", q, k)
        mistakes = [
            ("the scores are not scaled: divide Q K^T by sqrt(d_k)", _softmax(scores) @ v),
            ("the scores are divided by d_k; divide by sqrt(d_k)", _softmax(scores / DK) @ v),
            ("the scores are multiplied by sqrt(d_k); divide by it", _softmax(scores * math.sqrt(DK)) @ v),
            ("the output weights the keys; take the weighted sum of the values (weights @ value)",
             _softmax(scores / math.sqrt(DK)) @ k),
        ]
        for hint, wrong in mistakes:
            if close(out, wrong, 1e-4):
                raise LabFailure(hint)
        raise LabFailure(f"the output differs from keras.ops.dot_product_attention by up to "
                         f"{max_error(out, expected):.3g}: compute softmax(Q K^T / sqrt(d_k)) V")

    @check("padding mask: padded keys get weight 0 and do not change the output")
    def padding(self):
        mask = _padding(LENGTHS, S)
        out, weights = self._attend(padding_mask=mask)
        if np.abs(weights[~np.broadcast_to(mask[:, None, :], weights.shape)]).max() > 1e-6:
            raise LabFailure("padded positions change the output: the mask is not applied (set the scores of "
                             "padded keys to a large negative number, e.g. ops.where(mask, scores, -1e9), "
                             "before the softmax)")
        expected = self._keras(padding_mask=mask)
        if not close(out, expected):
            raise LabFailure(f"with a padding mask the output differs from keras.ops.dot_product_attention by up to "
                             f"{max_error(out, expected):.3g}")

    @check("causal mask: query t never sees a key after t")
    def causal(self):
        out, weights = self._attend(causal=True, length=T)
        future = ~_causal(T, T)
        if np.abs(weights[:, future]).max() > 1e-6:
            raise LabFailure("query t attends to a later key: with causal=True hide the keys s > t "
                             "(a lower-triangular mask of ones, ops.tril or arange comparisons)")
        expected = self._keras(causal=True, length=T)
        if not close(out, expected):
            raise LabFailure(f"with causal=True the output differs from keras.ops.dot_product_attention by up to "
                             f"{max_error(out, expected):.3g}")
        both = _padding((T, 3), T)
        q, k, v = self._inputs(T)
        out = to_numpy(self.cls(causal=True)(q, k, v, padding_mask=both))
        expected = self._keras(causal=True, padding_mask=both, length=T)
        if not close(out, expected):
            raise LabFailure("with causal=True and a padding mask together the output is wrong: combine the two "
                             "masks with a logical and")

    @check("gradients reach the query, key and value")
    def gradients(self):
        x = keras.Input((T, DK))
        projections = [keras.layers.Dense(DK, name=name) for name in ("query", "key", "value")]
        q, k, v = (p(x) for p in projections)
        model = keras.Model(x, self.cls(causal=False)(q, k, v))
        stuck = weights_without_gradient(model, _random(BATCH, T, DK, seed=4), projections)
        stuck = [name for name in ("query", "key", "value") if any(w.startswith(name) for w in stuck)]
        if stuck:
            raise LabFailure(f"no gradient reaches the {', '.join(stuck)}: compute the output from query, key and "
                             "value with keras.ops (numpy, .numpy() or ops.stop_gradient cut the gradient)")

    @check("get_config round-trip")
    def config_round_trip(self):
        clone = check_config_round_trip(self.cls(causal=True), ["causal"])
        if clone.get_config().get("causal") is not True:
            raise LabFailure("from_config(get_config()) lost causal=True: store it in get_config")

    @check("trains through the Trainer on negation_sentiment (arch transformer, your attention in every head)")
    def trains(self):
        metrics = train_briefly(tiny_config("transformer", attention=self.spec, num_heads=2))
        self.note(f"{metrics['steps']} steps, validation accuracy {metrics['validation_accuracy']:.2f}")


HIDDEN, HEADS = 8, 2


def copy_from_keras(reference, layer, hidden=HIDDEN):
    """Copies keras.layers.MultiHeadAttention weights into a layer with the lab 05 weight layout."""
    values = []
    for dense in (reference.query_dense, reference.key_dense, reference.value_dense):
        kernel, bias = dense.get_weights()  # (C, H, D), (H, D)
        values += [kernel.reshape(hidden, -1), bias.reshape(-1)]
    kernel, bias = reference.output_dense.get_weights()  # (H, D, C), (C,)
    values += [kernel.reshape(-1, hidden), bias]
    layer.set_weights(values)
    return values


@register_lab("multi_head_attention")
class MultiHeadAttentionLab(Lab):
    number, title = "05", "Multi-head self-attention (and the sinusoidal position encoding)"
    convention = ("Class(num_heads, causal=False); layer(x, padding_mask=None, return_attention_scores=False) -> "
                  "(batch, T, hidden_dim) [and weights (batch, num_heads, T, T)]; weights in order: query kernel "
                  "(hidden, hidden) and bias, key, value, output kernel and bias; as keras.layers.MultiHeadAttention")
    reference = "kerasllm.layers.attention:MultiHeadSelfAttention"
    starter = "multi_head_attention.py"

    def _x(self):
        return _random(BATCH, T, HIDDEN, seed=5)

    def _pair(self, causal=False):
        keras.utils.set_random_seed(3)
        reference = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=HIDDEN // HEADS,
                                                    bias_initializer="random_normal")
        x = self._x()
        reference(x, x)
        layer = self.cls(num_heads=HEADS, causal=causal)
        layer.build(x.shape)
        copy_from_keras(reference, layer)
        return reference, layer

    @check("built as Class(num_heads, causal=...) with 8 weights in the documented order", fatal=True)
    def weights(self):
        layer = self.cls(num_heads=HEADS, causal=False)
        if not isinstance(layer, keras.layers.Layer):
            raise LabFailure("the class must subclass keras.layers.Layer")
        layer.build((None, None, HIDDEN))
        shapes = [tuple(w.shape) for w in layer.weights]
        expected = [(HIDDEN, HIDDEN), (HIDDEN,)] * 4
        if shapes != expected:
            raise LabFailure(f"the weights have shapes {shapes}, expected {expected}: build four Dense(hidden_dim) "
                             "layers (query, key, value, output) in build, in that order")

    @check("returns (batch, T, hidden_dim) and weights (batch, num_heads, T, T)", fatal=True)
    def contract(self):
        _, layer = self._pair()
        result = layer(self._x(), return_attention_scores=True)
        if not (isinstance(result, (list, tuple)) and len(result) == 2):
            raise LabFailure("with return_attention_scores=True, return the pair (output, weights)")
        out, weights = result
        if tuple(out.shape) != (BATCH, T, HIDDEN):
            raise LabFailure(f"the output has shape {tuple(out.shape)}, expected (batch, T, hidden_dim) = "
                             f"{(BATCH, T, HIDDEN)}: merge the heads back and apply the output projection")
        if tuple(weights.shape) != (BATCH, HEADS, T, T):
            raise LabFailure(f"the weights have shape {tuple(weights.shape)}, expected (batch, num_heads, T, T) = "
                             f"{(BATCH, HEADS, T, T)}")

    @check("equals keras.layers.MultiHeadAttention with the same weights")
    def matches_keras(self):
        reference, layer = self._pair()
        x = self._x()
        expected = to_numpy(reference(x, x))
        out, weights = (to_numpy(t) for t in layer(x, return_attention_scores=True))
        if close(out, expected):
            return
        if not close(weights.sum(-1), np.ones(weights.shape[:-1]), 1e-4):
            raise LabFailure("attention weights do not sum to 1 over the keys: softmax over the last axis")
        values = [to_numpy(w) for w in layer.weights]
        for hint, kwargs in (
            ("the scores are scaled by 1/sqrt(hidden_dim); scale by 1/sqrt(head_dim), the width of one head",
             {"scale": 1 / math.sqrt(HIDDEN)}),
            ("the scores are not scaled: divide by sqrt(head_dim)", {"scale": 1.0}),
            ("the heads are split the wrong way: reshape (batch, T, hidden) to (batch, T, num_heads, head_dim), "
             "not (batch, T, head_dim, num_heads)", {"split": "dh"}),
            ("the output projection is missing: apply the fourth Dense to the merged heads", {"project": False}),
        ):
            if close(out, _numpy_mha(x, values, **kwargs), 1e-4):
                raise LabFailure(hint)
        raise LabFailure(f"the output differs from keras.layers.MultiHeadAttention by up to "
                         f"{max_error(out, expected):.3g}: project, split heads, attend, merge, project")

    @check("padding and causal masks match keras.layers.MultiHeadAttention")
    def masks(self):
        x = self._x()
        mask = _padding((T, 3), T)
        reference, layer = self._pair()
        out = to_numpy(layer(x, padding_mask=mask))
        expected = to_numpy(reference(x, x, attention_mask=np.broadcast_to(mask[:, None, :], (BATCH, T, T))))
        if not close(out[mask], expected[mask]):
            raise LabFailure("padded positions change the output: the mask is not applied (hide padded keys in "
                             "every head before the softmax)")
        reference, layer = self._pair(causal=True)
        out = to_numpy(layer(x))
        expected = to_numpy(reference(x, x, use_causal_mask=True))
        if not close(out, expected):
            raise LabFailure("with causal=True position t sees later positions, or the output differs from "
                             "keras.layers.MultiHeadAttention(use_causal_mask=True): hide keys s > t")

    @check("gradients reach every weight")
    def gradients(self):
        x = keras.Input((T, HIDDEN))
        layer = self.cls(num_heads=HEADS, causal=False)
        model = keras.Model(x, layer(x))
        stuck = weights_without_gradient(model, self._x(), layer)
        if stuck:
            raise LabFailure(f"no gradient reaches {', '.join(stuck)}: use every projection in call, with keras.ops")

    @check("get_config round-trip")
    def config_round_trip(self):
        check_config_round_trip(self.cls(num_heads=HEADS, causal=True), ["num_heads", "causal"])

    @check("trains through the Trainer on negation_sentiment (arch transformer, your attention layer)")
    def trains(self):
        metrics = train_briefly(tiny_config("transformer", attention=self.spec, num_heads=2))
        self.note(f"{metrics['steps']} steps, validation accuracy {metrics['validation_accuracy']:.2f}")


def _numpy_mha(x, weights, scale=None, split="hd", project=True):
    """Multi-head self-attention in numpy with one deliberate change (for the checker's hints)."""
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    head_dim = HIDDEN // HEADS

    def heads(t):
        if split == "hd":
            return t.reshape(BATCH, T, HEADS, head_dim)
        return t.reshape(BATCH, T, head_dim, HEADS).transpose(0, 1, 3, 2)

    q, k, v = heads(x @ wq + bq), heads(x @ wk + bk), heads(x @ wv + bv)
    scale = 1 / math.sqrt(head_dim) if scale is None else scale
    weights = _softmax(np.einsum("bqhd,bkhd->bhqk", q, k) * scale)
    out = np.einsum("bhqk,bkhd->bqhd", weights, v)
    out = out.reshape(BATCH, T, HIDDEN) if split == "hd" else out.transpose(0, 1, 3, 2).reshape(BATCH, T, HIDDEN)
    return out @ wo + bo if project else out
