"""The adaptive softmax (kerasllm.layers.AdaptiveSoftmax) and the LM heads that end in it (`softmax=adaptive`)."""

import math

import numpy as np
import pytest
from keras import ops

from kerasllm.config import TrainConfig
from kerasllm.errors import ConfigError
from kerasllm.generation import generate
from kerasllm.layers import AdaptiveSoftmax
from kerasllm.layers.adaptive_softmax import default_cutoffs
from kerasllm.models import CausalLM, build_model, get_backbone
from kerasllm.models.flops import forward_flops_per_token
from kerasllm.training import Trainer
from kerasllm.training.losses import SparseCrossEntropy
from tests.helpers import assert_round_trips

VOCAB, HIDDEN, CUTOFFS = 60, 16, [8, 30]


def features(seed=0, shape=(3, 5, HIDDEN)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def kernel(layer):
    return ops.convert_to_numpy(layer.kernel)


def test_log_probabilities_are_those_of_the_paper_computed_by_hand():
    """log p(w) = log p_head(w) for a shortlist word, log p_head(cluster) + log p_cluster(w) for a tail word."""
    layer = AdaptiveSoftmax(VOCAB, CUTOFFS)
    x = features()
    actual = ops.convert_to_numpy(layer(x))
    head = log_softmax(np.concatenate([x @ kernel(layer.shortlist), x @ kernel(layer.cluster_logits)], -1))
    tails = [log_softmax(x @ kernel(projection) @ kernel(output)) + head[..., 8 + i:9 + i]
             for i, (projection, output) in enumerate(zip(layer.projections, layer.outputs))]
    expected = np.concatenate([head[..., :8], *tails], -1)
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    assert [kernel(p).shape for p in layer.projections] == [(HIDDEN, 4), (HIDDEN, 1)]  # 16 / 4, 16 / 16
    assert [kernel(o).shape for o in layer.outputs] == [(4, 22), (1, 30)]


@pytest.mark.parametrize("tied", [False, True])
def test_the_head_gives_a_distribution_over_the_whole_vocabulary(tied):
    backbone = get_backbone("gru", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=1, causal=True)
    lm = CausalLM(backbone, tie_weights=tied, adaptive_cutoffs=CUTOFFS)
    log_probs = ops.convert_to_numpy(lm(np.array([[2, 7, 9, 40, 59]])))
    assert log_probs.shape == (1, 5, VOCAB) and log_probs.dtype == np.float32
    np.testing.assert_allclose(np.exp(log_probs).sum(-1), 1.0, atol=1e-5)
    assert (lm.adaptive_softmax.shortlist is None) == tied  # tied: the embedding's first rows score the shortlist
    if tied:
        table = ops.convert_to_numpy(lm.backbone.embedding.token_embedding.embeddings)
        lm.backbone.embedding.token_embedding.embeddings.assign(table * 2)  # the shortlist moves with the table
        assert not np.allclose(ops.convert_to_numpy(lm(np.array([[2, 7, 9, 40, 59]]))), log_probs)


def test_tied_adaptive_output_counts_only_its_shortlist_as_a_matmul():
    def flops(**head):
        lm = CausalLM(get_backbone("gru", vocab_size=10000, hidden_dim=128, num_layers=1, causal=True), **head)
        lm(np.ones((1, 4), "int32"))
        return forward_flops_per_token(lm)

    full, adaptive = flops(), flops(adaptive_cutoffs=[1000, 5000])
    # the full softmax's 128 x 10,000 against 128 x (1,000 + 2) + 128 x 32 + 32 x 4,000 + 128 x 8 + 8 x 5,000
    assert (full - adaptive) / 2 == 128 * 10000 - (128 * 1002 + 128 * 32 + 32 * 4000 + 128 * 8 + 8 * 5000)


@pytest.mark.parametrize("cutoffs", [[], [0, 5], [8, 8], [30, 8], [8, 60], [8.5], "8", [True]])
def test_bad_cutoffs_name_the_rule(cutoffs):
    with pytest.raises(ConfigError, match="strictly increasing integers between 1 and vocab_size - 1 \\(59\\)"):
        AdaptiveSoftmax(VOCAB, cutoffs)


def test_bad_settings_are_refused_before_a_run_starts():
    with pytest.raises(ConfigError, match="softmax must be one of full, adaptive"):
        TrainConfig(task="ptb", arch="lstm", softmax="sampled")
    with pytest.raises(ConfigError, match="add softmax=adaptive"):
        TrainConfig(task="ptb", arch="lstm", softmax_options={"cutoffs": [10]})
    with pytest.raises(ConfigError, match="Unknown adaptive softmax option 'cutof'. Did you mean 'cutoffs'"):
        TrainConfig(task="ptb", arch="lstm", softmax="adaptive", softmax_options={"cutof": [10]})

    class Classification:
        kind, num_classes, max_length = "classification", 2, 8

    with pytest.raises(ConfigError, match="softmax=adaptive is for language-model heads"):
        build_model(TrainConfig(task="x", arch="gru", hidden_dim=8, num_layers=1, softmax="adaptive"),
                    Classification, 50)

    class LanguageModelling:
        kind, max_length = "lm", 8

    # an empty list is a setting, not a request for the defaults
    with pytest.raises(ConfigError, match=r"got \[\]\. Use e\.g\. softmax_options\.cutoffs=\[5,25\]"):
        build_model(TrainConfig(task="x", arch="gru", hidden_dim=8, num_layers=1, softmax="adaptive",
                                softmax_options={"cutoffs": []}), LanguageModelling, 50)


def test_round_trips(tmp_path):
    assert_round_trips(AdaptiveSoftmax(VOCAB, CUTOFFS, div_value=2.0), tmp_path, inputs={"features": features()})
    backbone = get_backbone("lstm", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=1, causal=True)
    lm = CausalLM(backbone, adaptive_cutoffs=CUTOFFS)
    ids = np.array([[2, 7, 9, 40, 59]])
    assert_round_trips(lm, tmp_path, inputs={"token_ids": ids, "padding_mask": ids != 0}, atol=1e-5)


def test_a_ptb_language_model_trains_with_it(tmp_path, shared_data):
    """A word LSTM on PTB with `softmax=adaptive` (default cutoffs a tenth and a half of its 10,002 ids): it learns,
    its evaluated loss is the cross-entropy of its log-probabilities, and the run's model generates text."""
    trainer = Trainer({"task": "ptb", "arch": "lstm", "data_dir": str(shared_data), "steps": 60, "eval_every": 60,
                       "validation_batches": 5, "hidden_dim": 32, "num_layers": 1, "batch_size": 16, "max_length": 32,
                       "jit_compile": False, "softmax": "adaptive"}, run_dir=tmp_path / "ptb")
    metrics = trainer.fit(verbose=0, evaluate=("validation",))
    assert trainer.model.loss.log_probs  # compiled not to normalize the log-probabilities again
    assert trainer.model.adaptive_cutoffs == default_cutoffs(trainer.tokenizer.vocabulary_size) == [1000, 5001]
    assert metrics["validation_perplexity"] < 1000  # uniform over the vocabulary: 10,002; 689 measured
    assert metrics["validation_perplexity"] == pytest.approx(math.exp(metrics["validation_loss"]), rel=1e-6)
    encoded = trainer.encoded("validation")
    rows = slice(0, 64)
    log_probs = trainer.model.predict({"token_ids": encoded.token_ids[rows],
                                       "padding_mask": encoded.padding_mask[rows]}, verbose=0)
    nll = -np.take_along_axis(log_probs, encoded.targets[rows][..., None], -1)[..., 0]
    weights = encoded.weights[rows]
    trainer._encoded["validation"] = type(encoded)(encoded.token_ids[rows], encoded.targets[rows], weights,
                                                   encoded.num_characters)
    assert trainer.evaluate("validation")["loss"] == pytest.approx(float((nll * weights).sum() / weights.sum()),
                                                                  rel=1e-4)
    cached, recomputed = (generate(trainer.model, "the company said", max_new_tokens=6, tokenizer=trainer.tokenizer,
                                   use_cache=use_cache, jit_compile=False) for use_cache in (True, False))
    assert cached == recomputed and len(cached.split()) > 3


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_the_loss_of_log_probabilities_does_not_normalize_them_again(label_smoothing):
    """The Trainer compiles `SparseCrossEntropy(log_probs=True)` for an adaptive head (`outputs_log_probs`): the
    same loss as from logits, without a second log-softmax over the vocabulary."""
    logits, targets = features(shape=(4, 6, VOCAB)), np.random.default_rng(1).integers(0, VOCAB, (4, 6))
    from_logits = SparseCrossEntropy(label_smoothing)(targets, logits)
    from_log_probs = SparseCrossEntropy(label_smoothing, log_probs=True)(targets, log_softmax(logits))
    np.testing.assert_allclose(ops.convert_to_numpy(from_log_probs), ops.convert_to_numpy(from_logits), rtol=1e-5)
    lm = CausalLM(get_backbone("gru", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=1, causal=True))
    assert not lm.outputs_log_probs
    assert CausalLM(lm.backbone, adaptive_cutoffs=CUTOFFS).outputs_log_probs
