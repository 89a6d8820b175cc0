"""Lab 10: cross-entropy and perplexity, token-weighted over padded batches, as a Keras metric.

Convention: a `keras.metrics.Metric` subclass built as `Class(mask_token_id=None)` (its other arguments,
`name` and `dtype`, go to `keras.metrics.Metric`). `update_state(y_true, y_pred, sample_weight=None)`
takes target ids `(batch, seq)`, logits `(batch, seq, vocab)` and weights `(batch, seq)` (1 for a real
token, 0 for padding) and adds each token's negative log-likelihood and the number of real tokens to two
running totals; `result()` is `exp(total NLL / total tokens)`. Targets equal to `mask_token_id` weigh 0.
Checked against `keras.losses.sparse_categorical_crossentropy(..., from_logits=True)` and
`keras_hub.metrics.Perplexity(from_logits=True)`.

Example (the checker on the reference solution, without the training run):
>>> from kerasllm.labs import check_lab
>>> report = check_lab("perplexity", "kerasllm.labs.reference:TokenPerplexity", train=False)
>>> report.passed, len(report.results)
(True, 9)
"""

import json
import math

import keras
import keras_hub
import numpy as np

from kerasllm.labs.base import Lab, LabFailure, check, register_lab, to_numpy
from kerasllm.labs.training import TINY_RUN, train_briefly

VOCAB = 7
RTOL = 1e-4  # float32 sums of a few dozen log-probabilities


def _batch(rng, batch_size, seq, real, scale=1.5, easy=False):
    """(targets, logits, weights): targets 1.. (0 at padding, the pad id), `real` tokens per row."""
    logits = (scale * rng.normal(size=(batch_size, seq, VOCAB))).astype("float32")
    targets = rng.integers(1, VOCAB, size=(batch_size, seq))
    weights = (np.arange(seq)[None, :] < np.asarray(real)[:, None]).astype("float32")
    if easy:  # the model is sure and right: a low NLL, so batch means and token means differ clearly
        np.put_along_axis(logits, targets[..., None], 6.0, axis=-1)
    targets = np.where(weights > 0, targets, 0)
    return targets, logits, weights


def _nll(targets, logits):
    """Keras' per-token cross-entropy from logits (numpy, float64)."""
    loss = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    return to_numpy(loss).astype("float64")


def _keras_hub(batches, mask_token_id=None):
    """What `keras_hub.metrics.Perplexity(from_logits=True)` gives over `batches` of (targets, logits, weights)."""
    metric = keras_hub.metrics.Perplexity(from_logits=True, mask_token_id=mask_token_id)
    for targets, logits, weights in batches:
        metric.update_state(targets, logits, sample_weight=weights)
    return float(to_numpy(metric.result()))


def _close(value, expected, rtol=RTOL):
    return value is not None and math.isfinite(value) and abs(value - expected) <= rtol * abs(expected) + 1e-6


# One batch, no padding; three batches of different sizes and padding (one short and easy, one mostly
# padding and hard); confident logits whose softmax underflows to 0 for some targets.
RNG = np.random.default_rng(10)
FULL = _batch(RNG, 2, 6, [6, 6])
PADDED = _batch(RNG, 2, 6, [6, 2], scale=3.0)
BATCHES = [_batch(RNG, 1, 8, [8], easy=True), _batch(RNG, 3, 8, [3, 1, 2], scale=3.0), _batch(RNG, 2, 5, [5, 4])]


def _confident():
    targets, logits, weights = _batch(np.random.default_rng(11), 2, 6, [6, 6])
    logits[0, 1, :] = 0.0
    logits[0, 1, targets[0, 1]], logits[0, 1, (targets[0, 1] % (VOCAB - 1)) + 1] = -60.0, 60.0  # p(y) = e^-120
    return targets, logits, weights


CONFIDENT = _confident()


@register_lab("perplexity")
class PerplexityLab(Lab):
    number, title = "10", "Cross-entropy and perplexity, token-weighted over padded batches"
    convention = ("keras.metrics.Metric subclass built as Class(mask_token_id=None); update_state(y_true (batch, "
                  "seq), y_pred logits (batch, seq, vocab), sample_weight (batch, seq) 1 real / 0 padding) adds "
                  "the NLL and the token count to running totals; result() = exp(total NLL / tokens); as "
                  "keras_hub.metrics.Perplexity(from_logits=True)")
    reference = "kerasllm.labs.reference:TokenPerplexity"
    starter = "perplexity.py"

    def _result(self, batches, **options):
        """The student's metric after `update_state` on each batch of (targets, logits, weights or None)."""
        metric = self.cls(**options)
        for targets, logits, weights in batches:
            metric.update_state(targets, logits, sample_weight=weights)
        return self._scalar(metric)

    def _scalar(self, metric):
        value = to_numpy(metric.result())
        if value.shape != ():
            raise LabFailure(f"result() returned shape {value.shape}; return one number, a scalar: "
                             "ops.exp(total_nll / token_count)")
        return float(value)

    @check("built as Class(mask_token_id=None), a keras.metrics.Metric", fatal=True)
    def protocol(self):
        for metric in (self.cls(), self.cls(mask_token_id=0)):
            if not isinstance(metric, keras.metrics.Metric):
                raise LabFailure("the metric must subclass keras.metrics.Metric (and call super().__init__(name=name, "
                                 "**kwargs))")
        if not metric.variables:
            raise LabFailure("the metric has no variables: keep the running totals in self.add_variable(...) "
                             "(Python numbers are not updated inside model.evaluate, and reset_state cannot "
                             "see them)")

    @check("one batch without padding: exp of the mean of keras' sparse categorical cross-entropy", fatal=True)
    def one_batch(self):
        targets, logits, _ = FULL
        value = self._result([(targets, logits, None)])
        nll = _nll(targets, logits)
        expected = math.exp(nll.mean())
        if _close(value, expected):
            return
        as_probabilities = to_numpy(keras.losses.sparse_categorical_crossentropy(targets, logits)).astype("float64")
        if not math.isfinite(value):
            hint = (f"the perplexity is {value} on ordinary logits: y_pred are logits (any real number), not "
                    "probabilities, so log(y_pred) is undefined. Use ops.log_softmax(y_pred)")
        elif _close(value, nll.mean()):
            hint = ("result() returns the mean NLL (the cross-entropy), not the perplexity: return "
                    "ops.exp(total_nll / token_count)")
        elif _close(value, math.exp(nll.sum())) or _close(value, nll.sum()):
            hint = "result() uses the total NLL: divide it by the number of tokens before the exp"
        elif _close(value, float(np.exp(nll).mean())):
            hint = "result() is the mean of exp(NLL) per token: take the exp of the mean NLL instead"
        elif _close(value, math.exp(as_probabilities.mean()), rtol=1e-3):
            hint = ("y_pred are logits, not probabilities: use ops.log_softmax(y_pred) (or "
                    "keras.losses.sparse_categorical_crossentropy(..., from_logits=True))")
        else:
            hint = (f"perplexity {value:.5g}, expected {expected:.5g} = exp(mean NLL) with NLL = "
                    "-log_softmax(logits)[y] per token")
        raise LabFailure(hint)

    @check("padding (sample_weight 0) counts neither in the NLL nor in the tokens, as keras_hub.metrics.Perplexity")
    def padding(self):
        targets, logits, weights = PADDED
        value = self._result([PADDED])
        expected = _keras_hub([PADDED])
        if _close(value, expected):
            return
        nll, real = _nll(targets, logits), weights > 0
        if _close(value, math.exp(nll.mean())):
            hint = ("padded tokens are counted: sample_weight is ignored. Multiply each token's NLL by "
                    "sample_weight and add ops.sum(sample_weight) tokens, not the size of the batch")
        elif _close(value, math.exp(nll[real].sum() / nll.size)):
            hint = "the token count includes the padding: add ops.sum(sample_weight) tokens, not the size of the batch"
        elif _close(value, math.exp(nll.sum() / real.sum())):
            hint = "the padded tokens' NLL is added: multiply each token's NLL by sample_weight before summing"
        else:
            hint = f"perplexity {value:.5g} with padding, keras_hub.metrics.Perplexity gives {expected:.5g}"
        raise LabFailure(hint)

    @check("mask_token_id masks the padding token (times sample_weight), as keras_hub.metrics.Perplexity")
    def mask_token(self):
        targets, logits, weights = PADDED
        value = self._result([(targets, logits, None)], mask_token_id=0)
        expected = _keras_hub([(targets, logits, None)], mask_token_id=0)
        if not _close(value, expected):
            unmasked = math.exp(_nll(targets, logits).mean())
            hint = ("mask_token_id is ignored: weigh each token by (y_true != mask_token_id), times sample_weight "
                    "when both are given" if _close(value, unmasked) else
                    f"with mask_token_id=0 the perplexity is {value:.5g}, keras_hub.metrics.Perplexity gives "
                    f"{expected:.5g}")
            raise LabFailure(hint)
        source = weights * (np.arange(targets.shape[1]) >= 1)  # a seq2seq-like weight: the first token is source
        value = self._result([(targets, logits, source)], mask_token_id=0)
        expected = _keras_hub([(targets, logits, source)], mask_token_id=0)
        if not _close(value, expected):
            raise LabFailure("with both mask_token_id and sample_weight, use their product as the weight "
                             f"(got {value:.5g}, keras_hub.metrics.Perplexity gives {expected:.5g})")

    @check("batches with different numbers of real tokens are weighted per token, not per batch")
    def per_token(self):
        value = self._result(BATCHES)
        expected = _keras_hub(BATCHES)
        if _close(value, expected):
            return
        means = [_nll(t, l)[w > 0].mean() for t, l, w in BATCHES]
        if _close(value, math.exp(np.mean(means))) or _close(value, float(np.mean(np.exp(means)))):
            hint = ("averaged per batch instead of per token: a batch of 2 real tokens weighs as much as one of 8. "
                    "Add the NLL sum and the token count of each batch to two totals and divide only in result()")
        elif _close(value, math.exp(means[-1])):
            hint = "result() reflects only the last batch: accumulate with assign_add, do not overwrite with assign"
        else:
            hint = (f"over three batches the perplexity is {value:.5g}, keras_hub.metrics.Perplexity gives "
                    f"{expected:.5g}")
        raise LabFailure(hint)

    @check("stays finite where the softmax underflows to 0 (no log of zero)")
    def confident(self):
        value = self._result([CONFIDENT])
        expected = _keras_hub([CONFIDENT])
        if _close(value, expected, rtol=1e-3):
            return
        if not math.isfinite(value):
            hint = (f"log of zero: the perplexity is {value} where a target's softmax probability underflows to 0 "
                    "(logit 120 below the largest). log(softmax(logits)) is -inf there; use "
                    "ops.log_softmax(logits), which never takes the log of a probability")
        else:
            hint = (f"perplexity {value:.5g} on confident logits, keras_hub.metrics.Perplexity gives {expected:.5g}: "
                    "a clipped probability (log(max(p, eps))) caps the NLL; use ops.log_softmax(logits)")
        raise LabFailure(hint)

    @check("reset_state() forgets the earlier batches")
    def reset(self):
        metric = self.cls()
        targets, logits, weights = BATCHES[0]
        metric.update_state(targets, logits, sample_weight=weights)
        metric.reset_state()
        targets, logits, weights = BATCHES[1]
        metric.update_state(targets, logits, sample_weight=weights)
        value, fresh = self._scalar(metric), self._result(BATCHES[1:2])  # the same batch on a new metric
        if not _close(value, fresh):
            raise LabFailure("after reset_state() the result still depends on the batches before it: set every "
                             "running total (the NLL sum and the token count) back to 0, or drop the override "
                             "(keras.metrics.Metric.reset_state zeroes every add_variable variable). Keras resets "
                             "the metrics at every epoch and before every evaluation")

    @check("get_config round-trip")
    def config_round_trip(self):
        metric = self.cls(mask_token_id=0, name="checked_perplexity")
        config = metric.get_config()
        if "mask_token_id" not in config:
            raise LabFailure("get_config() lacks mask_token_id, so from_config (what Keras runs when it loads a saved "
                             "model) cannot rebuild the metric: add config.update({'mask_token_id': "
                             "self.mask_token_id})")
        try:
            json.dumps(config)
        except TypeError as error:
            raise LabFailure(f"get_config() is not plain JSON ({error}): store numbers and strings only")
        clone = type(metric).from_config(config)
        if clone.get_config() != config or clone.name != metric.name:
            raise LabFailure("from_config(get_config()) gives a different config: pass name and the other keyword "
                             "arguments on to super().__init__ and store mask_token_id under its own name")
        targets, logits, _ = PADDED
        for m in (metric, clone):
            m.update_state(targets, logits)
        if not _close(self._scalar(clone), self._scalar(metric)):
            raise LabFailure("the metric rebuilt by from_config computes another value: __init__ must use "
                             "mask_token_id from its argument")

    @check("inside model.evaluate with weighted_metrics, as the Trainer compiles it")
    def compiled(self):
        # Seven sequences in batches of 3, 3 and 1, each row with its own padding; the model returns its input.
        rng = np.random.default_rng(12)
        targets, logits, weights = _batch(rng, 7, 8, [8, 1, 3, 5, 2, 8, 4], scale=2.0)
        model = keras.Sequential([keras.Input((None, VOCAB)), keras.layers.Identity()])
        student = self.cls()
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False,
                      weighted_metrics=[student, keras_hub.metrics.Perplexity(from_logits=True, name="hub_ppl")])
        try:
            values = model.evaluate(logits, targets, sample_weight=weights, batch_size=3, verbose=0,
                                    return_dict=True)
        except Exception as error:  # the student's update_state inside a compiled function
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise LabFailure(f"model.evaluate failed ({type(error).__name__}: {message[:160]}): inside a compiled "
                             "function update_state must use keras.ops on the tensors and assign_add to "
                             "add_variable variables (no numpy, float() or Python totals)")
        value = float(values[student.name])
        eager = self._result([(targets[i:i + 3], logits[i:i + 3], weights[i:i + 3]) for i in (0, 3, 6)])
        if not _close(value, eager):
            raise LabFailure(f"inside model.evaluate the metric gives {value:.5g}, called directly on the same "
                             f"batches {eager:.5g} (keras_hub.metrics.Perplexity: {float(values['hub_ppl']):.5g}): "
                             "keep the totals in add_variable variables, updated with assign_add")

    @check("logs the same value as validation_perplexity in a short Trainer run (selective_copy, lm_metric=)")
    def trains(self):
        name = self.cls().name
        config = {**TINY_RUN, "task": "selective_copy", "arch": "gru", "arch_options": {}, "lm_metric": self.spec}
        metrics = train_briefly(config)
        value, expected = metrics[f"validation_{name}"], metrics["validation_perplexity"]
        if not _close(value, expected, rtol=1e-3):
            raise LabFailure(f"through the Trainer your metric logged validation_{name} = {value:.5g} but "
                             f"validation_perplexity = {expected:.5g}")
        self.note(f"validation_{name} = {value:.4f} = validation_perplexity")
