"""The linear baseline row `tfidf_lr` (kerasllm/training/baselines/): TF-IDF uni+bigrams + logistic regression.

It trains on the task's own splits into a run directory with a neural run's metric names, runs as a row of
`kerasllm bench` and through `kerasllm train`, and refuses tasks that are not classifications in one line.
"""

import csv
import json
import pathlib

import pytest

from kerasllm.bench import load_suite, plan, select
from kerasllm.bench.runner import _Runner
from kerasllm.cli import main
from kerasllm.config import TrainConfig
from kerasllm.errors import ConfigError, RunDirectoryError, UnknownNameError
from kerasllm.training.baselines import BASELINES, train_tfidf_lr

SMALL = {"num_train": 600, "num_validation": 200, "num_test": 200}
TIMINGS = ("train_seconds", "train_tokens_per_second", "validation_seconds", "test_seconds")


def sst2_prefix(shared_data, folder, train_lines=2000, eval_lines=300):
    """`folder/sst2/` with the first lines of the real SST-2 files (header included), in the standard layout."""
    target = folder / "sst2"
    target.mkdir(parents=True)
    for name, count in (("train.tsv", train_lines), ("dev.tsv", eval_lines), ("test_labeled.tsv", eval_lines)):
        lines = (shared_data / "sst2" / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (target / name).write_text("".join(lines[:count + 1]), encoding="utf-8")
    return folder


def test_bigrams_solve_negation_sentiment_and_a_bag_of_words_is_at_chance(tmp_path):
    """The task's labels hide from single words, not from word pairs ("not dull"): tfidf_lr gets it all."""
    config = {"task": "negation_sentiment", "arch": "tfidf_lr"}
    bigrams = train_tfidf_lr(config, run_dir=tmp_path / "bigrams")
    assert bigrams["test_accuracy"] >= 0.98 and bigrams["validation_accuracy"] >= 0.98
    words = train_tfidf_lr({**config, "arch_options": {"ngram_max": 1}}, run_dir=tmp_path / "words")
    assert 0.42 <= words["test_accuracy"] <= 0.58 and words["parameters"] < 100  # ~80 words, one intercept


def test_real_sst2_prefix_beats_chance_with_a_neural_runs_files_and_names(shared_data, tmp_path):
    data = sst2_prefix(shared_data, tmp_path / "data")
    logged = []
    metrics = train_tfidf_lr({"task": "sst2", "arch": "tfidf_lr", "data_dir": str(data)},
                             run_dir=tmp_path / "run", log=logged.append)
    test_rows = (data / "sst2" / "test_labeled.tsv").read_text().splitlines()[1:]
    labels = [int(row.rsplit("\t", 1)[1]) for row in test_rows]
    majority = max(labels.count(0), labels.count(1)) / len(labels)
    assert metrics["test_accuracy"] > majority + 0.08 and metrics["validation_accuracy"] > majority + 0.08
    assert metrics["examples"] == {"train": 2000, "validation": 300, "test": 300}

    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "manifest.json", "metrics.json"]
    config = TrainConfig.from_file(run / "config.json")
    assert config.arch == "tfidf_lr" and config.task == "sst2"
    assert json.loads((run / "metrics.json").read_text()) == metrics
    for name in ("validation_accuracy", "validation_macro_f1", "validation_loss", "validation_seconds",
                 "test_accuracy", "test_macro_f1", "test_loss", "test_seconds", "train_seconds",
                 "train_tokens_per_second", "epochs", "steps", "best_epoch"):
        assert name in metrics, name
    assert (metrics["task"], metrics["arch"], metrics["seed"], metrics["headline_metric"]) == \
        ("sst2", "tfidf_lr", 0, "accuracy")
    assert metrics["parameters"] == metrics["features"] + 1  # binary: one coefficient per feature + intercept
    assert metrics["C"] in metrics["C_grid"] and len(metrics["C_grid_validation_accuracy"]) == 8
    best = max(metrics["C_grid_validation_accuracy"])
    assert metrics["C_grid_validation_accuracy"].index(best) == metrics["C_grid"].index(metrics["C"])
    assert abs(metrics["validation_accuracy"] - best) < 1e-6
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"] == config.to_dict() and "scikit-learn" in manifest["versions"]
    assert manifest["parameters"] == metrics["parameters"]
    assert logged[0] == f"run directory: {run}" and logged[-1].startswith("chosen C=")
    with pytest.raises(RunDirectoryError, match="is finished; it is never overwritten"):
        train_tfidf_lr({"task": "sst2", "arch": "tfidf_lr", "data_dir": str(data)}, run_dir=run)


def test_the_same_seed_gives_the_same_metrics(tmp_path):
    config = {"task": "negation_sentiment", "arch": "tfidf_lr", "task_options": SMALL}
    first, second = (train_tfidf_lr(config, run_dir=tmp_path / name) for name in ("a", "b"))
    assert {k: v for k, v in first.items() if k not in TIMINGS} == {k: v for k, v in second.items() if k not in TIMINGS}
    other = train_tfidf_lr({**config, "seed": 1, "task_options": {**SMALL, "seed": 1}}, run_dir=tmp_path / "c")
    assert other["seed"] == 1 and other["C_grid_validation_accuracy"] != first["C_grid_validation_accuracy"]


def test_more_than_two_classes_count_one_row_of_coefficients_per_class(tmp_path):
    metrics = train_tfidf_lr({"task": "listops", "arch": "tfidf_lr", "arch_options": {"c_grid": [1.0]},
                              "task_options": SMALL}, run_dir=tmp_path / "run")  # 10 classes
    assert metrics["parameters"] == 10 * (metrics["features"] + 1)
    assert 0.0 <= metrics["test_macro_f1"] <= 1.0 and 0.0 <= metrics["test_accuracy"] <= 1.0


def test_tasks_that_are_not_classifications_and_bad_options_are_refused_before_writing(tmp_path):
    for task in ("mqar", "tiny_shakespeare"):  # seq2seq, lm (no data needed to refuse it)
        with pytest.raises(ConfigError, match="tfidf_lr is a baseline for classification tasks"):
            train_tfidf_lr({"task": task, "arch": "tfidf_lr"}, run_dir=tmp_path / task)
    with pytest.raises(ConfigError, match="Did you mean 'c_grid'"):
        train_tfidf_lr({"task": "negation_sentiment", "arch": "tfidf_lr", "arch_options": {"c_gird": [1]}},
                       run_dir=tmp_path / "typo")
    with pytest.raises(ConfigError, match="c_grid of tfidf_lr must be a non-empty list of positive numbers"):
        train_tfidf_lr({"task": "negation_sentiment", "arch": "tfidf_lr", "arch_options": {"c_grid": [0]}},
                       run_dir=tmp_path / "zero")
    assert not any(tmp_path.iterdir())


def test_cli_train_runs_it_and_refuses_an_lm_task_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--task", "negation_sentiment", "--arch", "tfidf_lr", "--out", str(out),
                 "task_options.num_train=600", "task_options.num_validation=200",
                 "task_options.num_test=200", "arch_options.c_grid=[1,4]"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"run directory: {out}\n") and "C=4: validation accuracy" in printed
    assert json.loads(printed[printed.index("{"):]) == json.loads((out / "metrics.json").read_text())
    assert main(["train", "--task", "tiny_shakespeare", "--arch", "tfidf_lr", "--out", str(tmp_path / "lm")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        "kerasllm train: error: tfidf_lr is a baseline for classification tasks; 'tiny_shakespeare' is a lm task. "
        "Pick a neural --arch for it (kerasllm archs).\n")
    assert not (tmp_path / "lm").exists()


def test_a_bench_row_beside_a_neural_one(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["bench", "--archs", "bow,tfidf_lr", "--tasks", "negation_sentiment", "--steps", "2", "--out", str(out)]
    assert main(argv) == 0
    with open(out / "results.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = {row["arch"]: row for row in reader}
    assert list(rows) == ["bow", "tfidf_lr"] and all(row["status"] == "ok" for row in rows.values())
    baseline = rows["tfidf_lr"]
    for column in ("metric", "validation_metric", "parameters", "train_seconds", "test_accuracy",
                   "test_macro_f1", "validation_accuracy", "eval_latency_ms", "peak_memory_mb",
                   "memory_source"):
        assert baseline[column] != "", column
    assert float(baseline["metric"]) == float(baseline["test_accuracy"]) >= 0.98
    metric_names = [{k for k in json.loads((out / "negation_sentiment" / arch / "seed0" / "metrics.json").read_text())
                     if k.startswith(("validation_", "test_"))} for arch in ("bow", "tfidf_lr")]
    assert metric_names[0] == metric_names[1]
    assert any(p.name.endswith(".hparams") for p in (out / "negation_sentiment" / "tfidf_lr" / "seed0" / "validation").iterdir())
    capsys.readouterr()
    assert main(argv) == 0  # the same command again: both rows reused
    assert "negation_sentiment/tfidf_lr/seed0: reused" in capsys.readouterr().out


def test_a_bench_plans_a_baseline_only_on_classification_cells_and_never_sizes_it(tmp_path):
    suite = select(load_suite("quick"), archs=["bow", "tfidf_lr"], params=20000)
    runs = plan(suite, tmp_path)
    assert [run.name for run in runs] == ["negation_sentiment/bow/seed0", "negation_sentiment/tfidf_lr/seed0",
                                          "mqar@pairs4/bow/seed0", "selective_copy@len16/bow/seed0"]
    assert _Runner(suite, tmp_path).sized(runs[1]) == (runs[1].config, None)
    classification = load_suite("classification")
    assert classification.archs == ("bow", "rnn", "gru", "lstm", "cnn", "transformer", "tfidf_lr")
    assert {run.arch for run in plan(classification, tmp_path)} >= {"transformer", "tfidf_lr"}
    assert "tfidf_lr" not in {run.arch for run in plan(load_suite("lm"), tmp_path)}
    assert BASELINES.get("tfidf_lr") is train_tfidf_lr and train_tfidf_lr.kinds == ("classification",)
    with pytest.raises(UnknownNameError, match="Unknown architecture 'tfidf'"):
        select(load_suite("quick"), archs=["tfidf"])


def test_the_readme_names_the_baseline():
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "--archs bow,tfidf_lr" in readme or "tfidf_lr" in readme
