"""Objectives on unlabelled text (`--objective lm` / `mlm`): the objective tasks, IMDB's unlabelled reviews, BERT's
masking, the MaskedLM head, and tiny runs through the Trainer and the CLI."""

import json
import logging
import math
import tarfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasllm.bench.results import trivial_baseline
from kerasllm.bench.suite import task_kind
from kerasllm.cli import main
from kerasllm.config import TrainConfig
from kerasllm.data.base import get_task
from kerasllm.data.datasets.imdb import IMDB, IMDB_ARCHIVE
from kerasllm.data.objectives import LM_WINDOW, objective_info, objective_task
from kerasllm.data.pipeline import (MASK_ID, encode_split, evaluation_dataset, mask_tokens, mask_tokens_numpy,
                                    training_dataset)
from kerasllm.errors import ConfigError
from kerasllm.models import CausalLM, get_backbone
from kerasllm.models.flops import forward_flops_per_token
from kerasllm.models.heads import MaskedLM
from kerasllm.models.recipes import recipe_of
from kerasllm.tokenizers import get_tokenizer
from kerasllm.training import Trainer, open_run
from kerasllm.training.model_files import load_model
from tests.helpers import assert_round_trips

SHARED = "/work/shared/data"
NEGATION = {"task": "negation_sentiment", "task_options": {"num_train": 64, "num_validation": 16, "num_test": 16}}


# ------------------------------------------------------------------------------------------ objective tasks
def test_sst2_as_lm_is_its_texts_without_labels():
    sst2 = get_task("sst2", data_dir=SHARED)
    text = objective_task(sst2, "lm")
    info = text.info
    assert (info.name, info.kind, info.metric, info.num_classes) == ("sst2@lm", "lm", "perplexity", None)
    assert (info.tokenizer, info.tokenizer_options) == (sst2.info.tokenizer, sst2.info.tokenizer_options)
    assert info.max_length == LM_WINDOW > sst2.info.max_length
    for split in ("train", "validation", "test"):
        assert text.split(split).texts == sst2.split(split).texts
        assert text.split(split).labels is None
    assert len(text.split("train")) == 67349 and len(text.split("validation")) == 872
    masked = objective_task(sst2, "mlm")
    assert (masked.info.name, masked.info.kind, masked.info.metric) == ("sst2@mlm", "mlm", "perplexity")
    assert masked.split("validation").texts == sst2.split("validation").texts


def test_objectives_on_lm_tasks_and_refusals():
    ptb = get_task("ptb", data_dir=SHARED)
    assert objective_task(ptb, "lm") is ptb and objective_task(ptb, None) is ptb
    masked = objective_task(ptb, "mlm")
    assert masked.info.kind == "mlm" and masked.info.max_length == ptb.info.max_length
    assert masked.split("test").texts == ptb.split("test").texts
    mqar = get_task("mqar", num_train=4, num_validation=4, num_test=4)
    for objective in ("lm", "mlm"):
        with pytest.raises(ConfigError, match="'mqar' is a seq2seq task. Remove --objective"):
            objective_task(mqar, objective)
    # the kind an objective run trains, read off the task's class (the bench plans with it)
    assert [task_kind("sst2", o) for o in (None, "lm", "mlm")] == ["classification", "lm", "mlm"]
    assert objective_info(ptb.info, "lm") is ptb.info


def write_imdb(root, unsup=True):
    """A tiny aclImdb/ folder: 10 reviews per (split, polarity), and 3 unlabelled ones."""
    for split in ("train", "test"):
        for polarity in ("pos", "neg"):
            for i in range(10):
                path = root / "imdb" / "aclImdb" / split / polarity / f"{i}_7.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"{split} {polarity} review {i}.<br />The end.")
    if unsup:
        folder = root / "imdb" / "aclImdb" / "train" / "unsup"
        folder.mkdir()
        for i in (11, 2, 0):
            (folder / f"{i}_0.txt").write_text(f"Unlabelled review {i}.<br />No score.")
        (folder / "notes.feat").write_text("not a review")
    return root


def test_imdb_lm_trains_on_train_and_unsup_reviews(tmp_path, caplog):
    imdb = IMDB(data_dir=write_imdb(tmp_path / "folder"))
    unlabelled = ["Unlabelled review 0. No score.", "Unlabelled review 2. No score.",
                  "Unlabelled review 11. No score."]
    assert imdb.unlabelled_texts() == unlabelled
    text = objective_task(imdb, "lm")
    assert text.split("train").texts == imdb.split("train").texts + unlabelled
    assert len(text.split("train")) == 18 + 3  # 10% of the labelled train reviews are validation
    assert text.split("validation").texts == imdb.split("validation").texts
    assert text.split("test").texts == imdb.split("test").texts
    assert text.train_texts() == text.split("train").texts  # the tokenizer is fitted on the unlabelled ones too
    assert text.info.max_length == imdb.info.max_length == 256

    # the archive alone gives the same reviews (member names as in the Stanford archive)
    archive_root = tmp_path / "archive"
    (archive_root / "imdb").mkdir(parents=True)
    with tarfile.open(archive_root / "imdb" / "aclImdb_v1.tar.gz", "w:gz") as bundle:
        bundle.add(tmp_path / "folder" / "imdb" / "aclImdb", arcname="aclImdb")
    from_archive = IMDB(data_dir=archive_root)
    assert from_archive.unlabelled_texts() == unlabelled
    assert objective_task(from_archive, "lm").split("train").texts == text.split("train").texts

    # a download keeps train/unsup (and still drops the bag-of-words files)
    assert IMDB_ARCHIVE.extract("aclImdb/train/unsup/7_0.txt") == "aclImdb/train/unsup/7_0.txt"
    assert IMDB_ARCHIVE.extract("aclImdb/train/pos/3_9.txt") == "aclImdb/train/pos/3_9.txt"
    assert IMDB_ARCHIVE.extract("aclImdb/train/unsupBow.feat") is None

    # a copy of the labelled reviews only (as ../shared/data has) pre-trains on those, and says so
    without = IMDB(data_dir=write_imdb(tmp_path / "labelled_only", unsup=False))
    with caplog.at_level(logging.WARNING, logger="kerasllm.data.datasets.imdb"):
        assert objective_task(without, "lm").split("train").texts == without.split("train").texts
    assert "no unlabelled reviews (aclImdb/train/unsup/)" in caplog.text


# ------------------------------------------------------------------------------------------ masking
@pytest.mark.parametrize("mask", [mask_tokens, mask_tokens_numpy], ids=["tf", "numpy"])  # numpy: other backends
def test_masking_rate_and_80_10_10_rule_on_a_large_sample(mask):
    vocabulary_size = 5000
    rng = np.random.default_rng(0)
    ids = rng.integers(4, vocabulary_size, size=(2000, 128)).astype("int32")
    lengths = rng.integers(1, 129, size=2000)
    ids[np.arange(128)[None, :] >= lengths[:, None]] = 0  # right padding
    real = ids != 0
    assert real.sum() > 120_000
    inputs, weights = (np.asarray(t) for t in mask(ids, (7, 11), vocabulary_size))
    selected = weights > 0
    assert set(np.unique(weights)) <= {0.0, 1.0}
    assert not selected[~real].any() and (inputs[~real] == 0).all()  # padding is never selected nor changed
    assert (inputs[~selected] == ids[~selected]).all()  # unselected tokens are untouched
    assert abs(selected.sum() / real.sum() - 0.15) < 0.005
    chosen, original = inputs[selected], ids[selected]
    masked, kept = chosen == MASK_ID, chosen == original
    randomized = ~masked & ~kept
    assert abs(masked.mean() - 0.8) < 0.012
    assert abs(randomized.mean() - 0.1) < 0.01 and abs(kept.mean() - 0.1) < 0.01
    assert chosen[randomized].min() >= 4 and chosen[randomized].max() < vocabulary_size  # text ids only
    assert MASK_ID not in ids  # [MASK] is an id no text input holds
    again, _ = mask(ids, (7, 11), vocabulary_size)
    other, _ = mask(ids, (7, 12), vocabulary_size)
    assert (np.asarray(again) == inputs).all() and (np.asarray(other) != inputs).any()


def masked_splits():
    task = objective_task(get_task(NEGATION["task"], **NEGATION["task_options"]), "mlm")
    tokenizer = get_tokenizer("word", split="whitespace").fit(task.train_texts())
    return task, tokenizer, {split: encode_split(task, split, tokenizer, 16) for split in ("train", "validation")}


def test_mlm_windows_and_masks_per_batch():
    task, tokenizer, encoded = masked_splits()
    train = encoded["train"]
    stream = np.concatenate([np.append(ids, 3) for ids in tokenizer.encode_batch(task.split("train").texts)])
    assert (train.targets.reshape(-1)[: len(stream)] == stream).all() and (train.targets == train.token_ids).all()
    batches = [(x["token_ids"].numpy(), y.numpy(), w.numpy()) for x, y, w in training_dataset(train, 4, 3).take(6)]
    resumed = [(x["token_ids"].numpy(), w.numpy()) for x, _, w in training_dataset(train, 4, 3, skip_batches=4).take(2)]
    for (ids, _, weights), (resumed_ids, resumed_weights) in zip(batches[4:], resumed):  # same batches on resume
        assert (ids == resumed_ids).all() and (weights == resumed_weights).all()
    # training masks are drawn afresh: the same examples in a later pass get other masks
    first = {tuple(row): tuple(w) for (_, targets, weights) in batches for row, w in zip(targets, weights)}
    later = [(x["token_ids"].numpy(), y.numpy(), w.numpy()) for x, y, w in
             training_dataset(train, 4, 3, skip_batches=len(train.token_ids) // 4 + 1).take(6)]
    repeats = [(first[tuple(row)], tuple(w)) for _, targets, weights in later for row, w in zip(targets, weights)
               if tuple(row) in first]
    assert repeats and any(a != b for a, b in repeats)
    # evaluation masks are fixed: the same whatever the batch size, on every pass
    def masks(batch_size):
        return np.concatenate([x["token_ids"].numpy() for x, _, _ in evaluation_dataset(encoded["validation"],
                                                                                        batch_size)])
    assert (masks(3) == masks(16)).all() and (masks(3) == masks(3)).all()
    assert (masks(3) != encoded["validation"].token_ids).any()


# ------------------------------------------------------------------------------------------ the head
def test_masked_lm_round_trips_and_refuses_one_way_backbones(tmp_path):
    ids = np.array([[5, MASK_ID, 7, 8], [9, 10, 0, 0]], dtype="int32")
    for name, options in (("transformer", {}), ("lstm", {"bidirectional": True})):
        keras.utils.set_random_seed(0)
        model = MaskedLM(get_backbone(name, vocab_size=30, hidden_dim=8, num_layers=1, **options))
        assert tuple(model({"token_ids": ids, "padding_mask": ids != 0}).shape) == (2, 4, 30)
        loaded = assert_round_trips(model, tmp_path, inputs={"token_ids": ids, "padding_mask": ids != 0})
        assert type(loaded) is MaskedLM
    untied = MaskedLM(get_backbone("cnn", vocab_size=30, hidden_dim=8, num_layers=1), tie_weights=False)
    tied = MaskedLM(get_backbone("cnn", vocab_size=30, hidden_dim=8, num_layers=1))
    untied(ids), tied(ids)
    assert untied.count_params() - tied.count_params() == 30 * 8
    assert_round_trips(untied, tmp_path, inputs={"token_ids": ids, "padding_mask": ids != 0})
    # the tied projection is counted as a matmul, as for CausalLM
    causal = CausalLM(get_backbone("cnn", vocab_size=30, hidden_dim=8, num_layers=1, causal=True))
    causal(ids)
    assert forward_flops_per_token(tied) == forward_flops_per_token(causal)
    with pytest.raises(ConfigError, match="Add arch_options.bidirectional=true"):
        MaskedLM(get_backbone("lstm", vocab_size=30, hidden_dim=8, num_layers=1))
    with pytest.raises(ConfigError, match="has causal=True"):
        MaskedLM(get_backbone("transformer", vocab_size=30, hidden_dim=8, num_layers=1, causal=True))


def test_mlm_runs_take_the_lm_recipe():
    assert recipe_of("cnn", "mlm") == recipe_of("cnn", "lm") != recipe_of("cnn", "classification")
    assert recipe_of("lstm", "mlm")["optimizer"] == "sgd"  # measured: see recipes.BORROWED_RECIPES
    assert recipe_of("transformer", "mlm") == recipe_of("transformer", "lm")


# ------------------------------------------------------------------------------------------ runs
def test_tiny_mlm_run_scores_masked_tokens(tmp_path):
    config = {**NEGATION, "arch": "transformer", "objective": "mlm", "hidden_dim": 8, "num_layers": 1, "steps": 4,
              "batch_size": 8, "max_length": 16, "jit_compile": False}
    metrics = Trainer(config, run_dir=tmp_path / "run").fit(verbose=0)
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["headline_metric"] == "perplexity"
    for split in ("validation", "test"):
        assert 1.0 < written[f"{split}_perplexity"] == pytest.approx(math.exp(written[f"{split}_loss"]))
        assert 0.0 <= written[f"{split}_token_accuracy"] <= 1.0
    model = load_model(tmp_path / "run" / "model.keras")  # safe_mode on
    assert type(model) is MaskedLM and not model.backbone.causal
    # the perplexity is that of the masked tokens only, under the fixed evaluation masks
    run = open_run(tmp_path / "run")
    encoded = run.encoded("validation")
    nll, count = 0.0, 0.0
    for features, targets, weights in evaluation_dataset(encoded, 8):
        log_probs = tf.nn.log_softmax(model(features)).numpy()
        picked = np.take_along_axis(log_probs, targets.numpy()[..., None], -1)[..., 0]
        nll -= (picked * weights.numpy()).sum()
        count += weights.numpy().sum()
    assert 0 < count < 0.3 * encoded.padding_mask.sum()
    assert nll / count == pytest.approx(metrics["validation_loss"], rel=1e-4)
    assert run.evaluate("validation")["perplexity"] == pytest.approx(metrics["validation_perplexity"], rel=1e-5)
    # its baseline in a bench report is the unigram perplexity of the test text
    baseline = trivial_baseline(run.task, run.tokenizer, 16)
    assert baseline > 1.0
    # generating from it is refused, saying why and what to train instead
    from kerasllm.errors import RunDirectoryError
    from kerasllm.generation.runs import language_model_run

    with pytest.raises(RunDirectoryError, match="objective mlm: it fills in masked tokens.*--objective lm"):
        language_model_run(run, tmp_path / "run")


def write_sst2(root):
    folder = root / "sst2"
    folder.mkdir(parents=True)
    rows = "".join(f"{'a gem of a film' if i % 2 else 'a dull mess of a plot'} number {i} .\t{i % 2}\n"
                   for i in range(40))
    for name in ("train.tsv", "dev.tsv"):
        (folder / name).write_text("sentence\tlabel\n" + rows)
    return root


def test_cli_objective_lm_run_then_evaluate(tmp_path, capsys):
    data = write_sst2(tmp_path / "data")
    run = tmp_path / "run"
    code = main(["train", "--task", "sst2", "--objective", "lm", "--arch", "lstm", "--data-dir", str(data),
                 "--steps", "2", "--hidden-dim", "8", "--num-layers", "1", "--batch-size", "4", "--out", str(run),
                 "jit_compile=false"])
    assert code == 0, capsys.readouterr().err
    config = TrainConfig.from_file(run / "config.json")
    assert (config.task, config.objective) == ("sst2", "lm")
    assert config.optimizer == "sgd"  # the lstm's language-model recipe
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["headline_metric"] == "perplexity" and metrics["test_perplexity"] > 1.0
    assert type(load_model(run / "model.keras")).__name__ == "CausalLM"
    capsys.readouterr()
    assert main(["evaluate", str(run), "--split", "validation"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["perplexity"] == pytest.approx(metrics["validation_perplexity"], rel=1e-5)
