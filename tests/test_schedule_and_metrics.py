"""The LR schedule as a pure function, the loss, and token-weighted metrics across uneven batches."""

import math

import numpy as np
import pytest

from kerasllm.training.losses import SparseCrossEntropy
from kerasllm.training.metrics import MacroF1, derived_metrics, metrics_for
from kerasllm.training.schedule import WarmupCosine, warmup_cosine
from tests.helpers import assert_round_trips


def test_warmup_is_linear_then_cosine_reaches_floor():
    lrs = [warmup_cosine(s, peak=1.0, total_steps=110, warmup_steps=10, min_ratio=0.1) for s in range(120)]
    np.testing.assert_allclose(lrs[:10], [(s + 1) / 10 for s in range(10)])
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.1 + 0.9 * 0.5)  # halfway through the decay
    assert lrs[110] == pytest.approx(0.1) and lrs[119] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_keras_schedule_matches_pure_function(tmp_path):
    schedule = WarmupCosine(3e-3, total_steps=200, warmup_steps=20, min_ratio=0.05)
    for step in [0, 5, 19, 20, 21, 100, 199, 200, 500]:
        assert float(schedule(step)) == pytest.approx(warmup_cosine(step, 3e-3, 200, 20, 0.05), rel=1e-5)
    assert_round_trips(schedule, tmp_path)


def test_cross_entropy_matches_numpy_with_and_without_smoothing(tmp_path):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 7)).astype("float32")
    labels = np.array([0, 3, 6, 2])
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -log_probs[np.arange(4), labels]
    assert float(SparseCrossEntropy()(labels, logits)) == pytest.approx(nll.mean(), rel=1e-5)
    smoothed = 0.8 * nll + 0.2 * (-log_probs.mean(-1))
    assert float(SparseCrossEntropy(0.2)(labels, logits)) == pytest.approx(smoothed.mean(), rel=1e-5)
    assert_round_trips(SparseCrossEntropy(0.1), tmp_path)


def test_lm_metrics_are_token_weighted_across_uneven_batches():
    """Two batches of different size and padding: the result equals the mean over all real tokens,
    not the mean of per-batch means."""
    rng = np.random.default_rng(1)
    vocab = 11
    batches = []
    for batch_size, seq, real in [(1, 8, [8]), (3, 8, [2, 1, 3])]:
        logits = rng.normal(size=(batch_size, seq, vocab)).astype("float32")
        targets = rng.integers(1, vocab, size=(batch_size, seq))
        weights = (np.arange(seq)[None, :] < np.array(real)[:, None]).astype("float32")
        if batch_size == 1:  # make the long single sequence easy, so batch means differ clearly
            np.put_along_axis(logits, targets[..., None], 6.0, axis=-1)
        batches.append((targets, logits, weights))
    metrics = {m.name: m for m in metrics_for("lm")}
    nll_all, per_batch = [], []
    for targets, logits, weights in batches:
        for m in metrics.values():
            m.update_state(targets, logits, sample_weight=weights)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        nll = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
        nll_all.extend(nll[weights > 0])
        per_batch.append(nll[weights > 0].mean())
    token_weighted = float(np.mean(nll_all))
    assert abs(token_weighted - np.mean(per_batch)) > 0.2  # the two averages really differ here
    assert float(metrics["cross_entropy"].result()) == pytest.approx(token_weighted, rel=1e-5)
    assert float(metrics["perplexity"].result()) == pytest.approx(math.exp(token_weighted), rel=1e-5)
    derived = derived_metrics("lm", {"cross_entropy": token_weighted, "token_accuracy": 0.5}, 2.0)
    assert derived["loss"] == token_weighted
    assert derived["bits_per_char"] == pytest.approx(2.0 * token_weighted / math.log(2))


def test_macro_f1_against_hand_computed_values(tmp_path):
    y_true = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    f1 = MacroF1(num_classes=3)
    # Two uneven batches.
    for lo, hi in [(0, 1), (1, 6)]:
        f1.update_state(y_true[lo:hi], np.eye(3)[predicted[lo:hi]])
    # class 0: tp1 fp1 fn1 -> 0.5 ; class 1: tp1 fp1 fn0 -> 2/3 ; class 2: tp2 fp0 fn1 -> 0.8
    assert float(f1.result()) == pytest.approx((0.5 + 2 / 3 + 0.8) / 3, rel=1e-6)
    f1.reset_state()
    assert float(f1.result()) == 0.0
    assert_round_trips(MacroF1(num_classes=4), tmp_path)
