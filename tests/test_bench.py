"""The bench: suites, matched sizes, Welch's t, the runner (failures, resume, time budget), the
report (CSV, markdown, PNGs, merging), TensorBoard scalars + HParams, and reproducing a run."""

import csv
import json
import math
import pathlib
import shutil
import time

import keras
import numpy as np
import pytest

from kerasllm.bench import (
    Cell,
    PeakMemory,
    Sizer,
    Suite,
    TimeBudget,
    collect_rows,
    list_suites,
    load_suite,
    mean_std,
    plan,
    regularized_incomplete_beta,
    report,
    run_bench,
    select,
    welch_t_test,
)
from kerasllm.bench import callbacks as bench_callbacks
from kerasllm.bench.report import markdown_tables
from kerasllm.bench.results import COLUMNS, _curve_value
from kerasllm.bench.runner import _clock
from kerasllm.bench.stats import student_t_two_sided_p
from kerasllm.cli import main
from kerasllm.config import TrainConfig
from kerasllm.errors import ConfigError, UnknownNameError
from kerasllm.models import BACKBONES, Backbone, list_backbones, register_backbone
from kerasllm.training import Trainer, open_run

REPO = pathlib.Path(__file__).resolve().parents[1]
BROKEN = "bench_test_broken"
SIZES = {"num_train": 64, "num_validation": 32, "num_test": 32}
TINY = {"hidden_dim": 8, "num_layers": 1, "batch_size": 16, "steps": 4, "eval_every": 2, "jit_compile": False}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def broken_arch():
    """A registered backbone whose forward pass raises: the failing-run path."""
    if BROKEN not in BACKBONES:

        @register_backbone(BROKEN)
        class Broken(Backbone):
            def encode(self, x, padding_mask, training=None):
                raise RuntimeError("this backbone is broken on purpose")

    return BROKEN


def tiny_suite(name="tiny", cells=None, **changes):
    cells = cells or [Cell("negation_sentiment", task_options=SIZES),
                      Cell("mqar", name="mqar@pairs4", task_options={**SIZES, "num_pairs": 4, "num_queries": 2})]
    return Suite(**{"name": name, "archs": ("gru", "cnn"), "settings": dict(TINY), "cells": cells, **changes})


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """gru, cnn and a broken arch on two tiny tasks, one seed: 4 trained runs and 2 failures."""
    out = tmp_path_factory.mktemp("bench") / "a"
    lines = []
    suite = tiny_suite(archs=("gru", "cnn", broken_arch()))
    result = run_bench(suite, out, log=lines.append, command=["kerasllm", "bench", "tiny"])
    return out, result, lines


# ----------------------------------------------------------------------------------- statistics
def test_welch_t_test_matches_known_values():
    # Reference values from scipy.stats.ttest_ind(a, b, equal_var=False).
    result = welch_t_test([0.81, 0.83, 0.82], [0.78, 0.80, 0.79])
    assert result.t == pytest.approx(3.6742346141747633, rel=1e-12)
    assert result.df == pytest.approx(4.0, rel=1e-12)
    assert result.p_value == pytest.approx(0.021311641128756772, rel=1e-9)
    result = welch_t_test([1.2, 3.4, 2.2, 5.1, 0.3], [4.4, 5.6, 7.8, 3.3])
    assert result.t == pytest.approx(-2.2154128658129064, rel=1e-12)
    assert result.df == pytest.approx(6.490095613648491, rel=1e-12)
    assert result.p_value == pytest.approx(0.0652752603866876, rel=1e-9)
    # Textbook critical values: t_{0.975} with 1 and 10 degrees of freedom.
    assert student_t_two_sided_p(12.706204736174705, 1) == pytest.approx(0.05, rel=1e-9)
    assert student_t_two_sided_p(2.2281388519649385, 10) == pytest.approx(0.05, rel=1e-9)
    assert student_t_two_sided_p(math.inf, 3) == 0.0 and math.isnan(student_t_two_sided_p(math.nan, 3))
    assert welch_t_test([1.0, 1.0], [2.0, 2.0]).p_value == 0.0
    assert welch_t_test([1.0, 1.0], [1.0, 1.0]).p_value == 1.0
    with pytest.raises(ValueError):
        welch_t_test([1.0], [1.0, 2.0])


def test_regularized_incomplete_beta_matches_closed_forms():
    assert regularized_incomplete_beta(2.0, 3.0, 0.4) == pytest.approx(1 - (0.6**4 + 4 * 0.4 * 0.6**3), rel=1e-12)
    for x in (0.01, 0.3, 0.77, 0.999):
        assert regularized_incomplete_beta(1.0, 1.0, x) == pytest.approx(x, rel=1e-12)
        assert regularized_incomplete_beta(3.5, 1.0, x) == pytest.approx(x**3.5, rel=1e-10)
    assert regularized_incomplete_beta(7.0, 7.0, 0.5) == pytest.approx(0.5, rel=1e-12)
    assert regularized_incomplete_beta(0.5, 0.5, 0.25) == pytest.approx(2 / math.pi * math.asin(0.5), rel=1e-10)
    assert regularized_incomplete_beta(2.0, 2.0, 0.0) == 0.0 and regularized_incomplete_beta(2.0, 2.0, 1.0) == 1.0
    with pytest.raises(ValueError):
        regularized_incomplete_beta(0.0, 1.0, 0.5)


def test_mean_std_uses_the_sample_std():
    assert mean_std([1.0, 2.0, 3.0, 4.0]) == pytest.approx((2.5, math.sqrt(5 / 3)))
    assert mean_std([0.7]) == (0.7, 0.0)


def fake_row(task, arch, seed, value, metric="accuracy"):
    return {"task": task, "task_name": task, "arch": arch, "seed": seed, "status": "ok", "error": "",
            "headline_metric": metric, "lower_is_better": metric == "perplexity", "metric": value,
            "validation_metric": value, "parameters": 1000, "train_seconds": 1.0, "steps": 10,
            "steady_tokens_per_second": 100.0, "eval_latency_ms": 2.0, "peak_memory_mb": 90.0, "bench": "b",
            "run_dir": "r", "curve": []}


def test_markdown_ranks_by_mean_and_tests_the_top_two_with_three_seeds():
    rows = [fake_row("t", "gru", s, v) for s, v in enumerate([0.81, 0.83, 0.82])]
    rows += [fake_row("t", "cnn", s, v) for s, v in enumerate([0.78, 0.80, 0.79])]
    rows += [fake_row("lm", "gru", 0, 30.0, "perplexity"), fake_row("lm", "cnn", 0, 20.0, "perplexity")]
    text = markdown_tables(rows)
    assert "| 1 | gru | 0.82 +- 0.01 | 3 |" in text and "| 2 | cnn | 0.79 +- 0.01 | 3 |" in text
    assert "Welch's t = 3.67, df = 4, two-sided p = 0.0213" in text and "significant at 0.05" in text
    lm = text.split("## lm")[1]
    assert lm.index("| 1 | cnn") < lm.index("| 2 | gru")  # perplexity: lower is better
    assert lm.count("Welch") == 0  # one seed each: no test


# ----------------------------------------------------------------------------------- suites
def test_shipped_suites_load_plan_and_are_mirrored_in_benchmarks():
    assert list_suites() == ["quick", "classification", "lm", "diagnostics", "translation", "summarization",
                             "transfer"]
    quick = load_suite("quick")
    runs = plan(quick, "/tmp/unused")
    assert len({r.config.task for r in runs}) >= 3 and all(r.config.steps for r in runs)
    assert {r.arch for r in runs} >= {"bow", "rnn", "gru", "lstm", "cnn", "transformer"}
    assert {c.task for c in load_suite("classification").cells} == {"sst2", "imdb", "ag_news"}
    assert {c.task for c in load_suite("lm").cells} == {"tiny_shakespeare", "ptb", "wikitext2"}
    assert [c.label for c in load_suite("translation").cells] == ["multi30k", "multi30k@prefix_lm"]
    assert {c.task for c in load_suite("summarization").cells} == {"scitldr"}
    labels = [c.label for c in load_suite("diagnostics").cells]
    assert "mqar@pairs16" in labels and len(labels) == len(set(labels)) == 9
    for name in list_suites():
        mirror = REPO / "benchmarks" / "suites" / f"{name}.json"
        assert json.loads(mirror.read_text()) == json.loads(json.dumps(load_suite(name).to_dict())), (
            f"{mirror} is out of date: run python benchmarks/export_suites.py")
        assert load_suite(mirror) == load_suite(name)
    example = load_suite(REPO / "benchmarks" / "suites" / "custom_example.py")
    assert example.name and plan(example, "/tmp/unused")


def test_suite_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'settings'"):
        Suite.from_dict({"name": "x", "cells": ["mqar"], "setings": {}})
    with pytest.raises(ConfigError, match="Did you mean 'hidden_dim'"):
        Suite(name="x", cells=[Cell("mqar")], settings={"hiden_dim": 8})
    with pytest.raises(ConfigError, match="several cells named mqar"):
        Suite(name="x", cells=[Cell("mqar"), Cell("mqar")])
    assert Suite.from_dict({"name": "x", "cells": ["mqar"]}).cells == (Cell("mqar"),)
    with pytest.raises(ConfigError, match="cannot be a path"):
        Suite.from_dict({"name": "x", "cells": [{"task": "mqar", "name": "a/b"}]})
    with pytest.raises(ConfigError, match="does not exist"):
        load_suite(tmp_path / "missing.json")
    (tmp_path / "suite.txt").write_text("name: x")
    with pytest.raises(ConfigError, match="use a .py, .json, .yaml or .yml file"):
        load_suite(tmp_path / "suite.txt")
    with pytest.raises(ConfigError, match="Did you mean 'quick'"):
        load_suite("quik")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_suite(tmp_path / "bad.yaml")
    (tmp_path / "nosuite.py").write_text("X = 1\n")
    with pytest.raises(ConfigError, match="must define SUITE"):
        load_suite(tmp_path / "nosuite.py")
    with pytest.raises(UnknownNameError, match="Did you mean 'lstm'"):
        select(load_suite("quick"), archs=["lstn"])


def test_select_applies_command_line_choices(tmp_path):
    (tmp_path / "s.yaml").write_text("name: s\ncells:\n  - task: mqar\n    steps: 40\n    eval_every: 20\n")
    suite = select(load_suite(tmp_path / "s.yaml"), archs=["gru"], tasks=["mqar", "listops"], seeds=2,
                   steps=30, params=5000, time_budget=9.0, data_dir="/data")
    runs = plan(suite, tmp_path)
    assert [r.name for r in runs] == ["mqar/gru/seed0", "mqar/gru/seed1", "listops/gru/seed0", "listops/gru/seed1"]
    assert all(r.config.steps == 30 and r.config.eval_every is None and r.config.data_dir == "/data" for r in runs)
    assert suite.params == 5000 and suite.time_budget == 9.0
    assert runs[0].path == tmp_path / "mqar" / "gru" / "seed0"
    epochs = plan(select(load_suite("quick"), tasks=["mqar@pairs4"], epochs=2), tmp_path)
    assert all(r.config.epochs == 2 and r.config.steps is None for r in epochs)


# ----------------------------------------------------------------------------------- sizing
@pytest.fixture(scope="module")
def sizer():
    return Sizer()


@pytest.mark.parametrize("target", [50_000, 200_000])
def test_every_architecture_is_sized_within_five_percent(sizer, target):
    for arch in ["bow", "rnn", "gru", "lstm", "cnn", "transformer"]:
        config = TrainConfig(task="negation_sentiment", arch=arch, num_layers=2, max_length=12,
                             arch_options={"num_heads": 4} if arch == "transformer" else {})
        result = sizer.size(config, target)
        assert abs(result.parameters - target) <= 0.05 * target, (arch, result)
        assert result.apply(config).hidden_dim == result.hidden_dim
        if arch == "transformer":
            assert result.hidden_dim % 4 == 0
    # (test_params_and_time_budget_through_the_bench checks the Trainer's model has the sized count)


def test_unreachable_budget_is_a_clear_error(sizer):
    with pytest.raises(ConfigError, match="Cannot size 'gru' to 10 parameters"):
        sizer.size(TrainConfig(task="negation_sentiment", arch="gru", max_length=12), 10)


# ----------------------------------------------------------------------------------- probes
def test_time_budget_stops_training_and_counts_steps():
    budget = TimeBudget(seconds=0.0, spent=5.0, steps_per_epoch=10)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((40, 2)), np.zeros((40,)), batch_size=4, epochs=3, verbose=0, callbacks=[budget])
    assert budget.stopped and budget.steps_done == 1 and budget.elapsed >= 5.0


def test_peak_memory_is_each_runs_own_not_what_the_process_holds(monkeypatch):
    """Two runs in one process: the second, smaller one reports its own peak, not the first one's memory that the
    process still holds (the old figure, the process's RSS, included it), on every path PeakMemory has."""
    def two_runs():
        with PeakMemory(interval=0.01) as first:
            kept = np.ones(192 * 2**20 // 8)  # 192 MiB, touched, still held during the second run
        with PeakMemory(interval=0.01) as second:
            block = np.ones(32 * 2**20 // 8)  # 32 MiB, touched
            block += 1
        del kept, block
        return first, second

    first, second = two_runs()
    assert "VmHWM" in first.source  # the exact high-water mark, reset per run (permitted here)
    assert first.peak_mb >= 180 and 28 <= second.peak_mb < 0.5 * first.peak_mb, (first.peak_mb, second.peak_mb)
    assert second.start_bytes >= first.start_bytes + 180 * 2**20  # the process still held the first run's memory
    assert second.record()["peak_memory_mb"] == second.peak_mb and second.record()["memory_source"] == second.source

    monkeypatch.setattr(bench_callbacks, "_reset_rss_high_water_mark", lambda: False)  # no clear_refs: sampled
    first, second = two_runs()
    assert "statm" in first.source and first.peak_mb >= 180 and 28 <= second.peak_mb < 0.5 * first.peak_mb

    monkeypatch.setattr(bench_callbacks, "_current_rss_bytes", lambda: None)  # no /proc: the lifetime peak, said so
    with PeakMemory() as fallback:
        pass
    assert fallback.peak_bytes == bench_callbacks._lifetime_peak_rss_bytes() and "lifetime" in fallback.source


class FakeDevice:
    """A JAX GPU as PeakMemory sees it: `memory_stats()` of an allocator whose peak is never reset."""
    platform, id = "gpu", 0

    def __init__(self):
        self.in_use = self.peak = 0

    def allocate(self, size):
        self.in_use += size
        self.peak = max(self.peak, self.in_use)

    def memory_stats(self):
        return {"bytes_in_use": self.in_use, "peak_bytes_in_use": self.peak}


def test_peak_memory_on_a_gpu_reads_the_device_allocator(monkeypatch):
    device = FakeDevice()
    monkeypatch.setattr(bench_callbacks, "_accelerator", lambda: device)
    device.allocate(100)  # held before the runs: not theirs
    with PeakMemory(interval=0.005) as first:
        device.allocate(1000)
        device.allocate(-1000)
    assert first.peak_bytes == 1000 and "peak_bytes_in_use" in first.source
    with PeakMemory(interval=0.005) as second:  # below the allocator's lifetime peak: sampled bytes_in_use
        device.allocate(300)
        time.sleep(0.1)
        device.allocate(-300)
    assert second.peak_bytes == 300 and "sampled" in second.source and "device gpu:0" in second.source


# ----------------------------------------------------------------------------------- the bench
def test_bench_writes_results_csv_with_every_column(bench):
    out, result, _ = bench
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[: len(COLUMNS)] == list(COLUMNS)
    assert [(r["task"], r["arch"], r["status"]) for r in rows] == [
        ("negation_sentiment", "gru", "ok"), ("negation_sentiment", "cnn", "ok"),
        ("negation_sentiment", BROKEN, "failed"), ("mqar@pairs4", "gru", "ok"), ("mqar@pairs4", "cnn", "ok"),
        ("mqar@pairs4", BROKEN, "failed")]
    for row in rows:
        if row["status"] == "ok":
            for key in ["metric", "parameters", "train_seconds", "train_tokens_per_second",
                        "steady_tokens_per_second", "eval_latency_ms", "peak_memory_mb", "steps", "epochs"]:
                assert float(row[key]) > 0 or key in ("metric", "peak_memory_mb"), key
            assert float(row["peak_memory_mb"]) >= 0 and "RSS" in row["memory_source"]
            assert int(row["steps"]) == 4 and row["headline_metric"] in ("accuracy", "token_accuracy")
            assert float(row["metric"]) == float(row[f"test_{row['headline_metric']}"])
        else:
            assert "broken on purpose" in row["error"]
    assert [o.status for o in result.outcomes] == ["ok", "ok", "failed", "ok", "ok", "failed"]


def test_bench_prints_progress_and_the_ranked_table(bench):
    out, result, lines = bench
    assert lines[0].startswith("bench 'tiny': 6 runs")
    done = [line for line in lines if line.startswith("[") and "elapsed" in line]
    assert len(done) == 6 and done[0].startswith("[1/6] negation_sentiment/gru/seed0: done test accuracy=")
    assert "ETA" in done[0] and "FAILED: RuntimeError" in done[2]
    markdown = (out / "results.md").read_text()
    assert markdown in lines and "## negation_sentiment: test accuracy (higher is better)" in markdown
    assert "## mqar@pairs4: test token_accuracy" in markdown and "Runs without results" in markdown
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suite"] == "tiny" and manifest["invocations"][0]["command"] == ["kerasllm", "bench", "tiny"]
    assert {"keras", "kerasllm"} <= set(manifest["versions"]) and len(manifest["runs"]) == 6


def test_bench_writes_valid_pngs(bench):
    import matplotlib.image

    out, result, _ = bench
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == ["curves_mqar@pairs4.png", "curves_negation_sentiment.png", "metric_vs_params.png",
                     "metric_vs_throughput.png"]
    for path in result.report.plots:
        assert path.read_bytes()[:8] == PNG_MAGIC
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def _events(folder):
    from tensorboard.backend.event_processing import event_accumulator

    events = event_accumulator.EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return events


def _value(events, tag):
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(events.Tensors(tag)[-1].tensor_proto)


def test_tensorboard_shows_two_runs_per_cell_on_one_step_axis_with_hparams_and_config(bench):
    from tensorboard.plugins.hparams import metadata

    out, _, lines = bench
    for task, kind_metric in [("negation_sentiment", "macro_f1"), ("mqar@pairs4", "token_accuracy")]:
        runs = sorted(path.parent.relative_to(out / task).as_posix()
                      for path in (out / task).rglob("events.out.tfevents.*"))
        for arch in ["gru", "cnn"]:  # exactly two runs per cell, none at seed0/ itself
            assert {r for r in runs if r.startswith(f"{arch}/")} == {f"{arch}/seed0/train", f"{arch}/seed0/validation"}
        assert f"compare the architectures of {task}: tensorboard --logdir {out / task}" in lines
        experiment = metadata.parse_experiment_plugin_data(
            _events(out / task).PluginTagToContent(metadata.PLUGIN_NAME)[metadata.EXPERIMENT_TAG])
        columns = [info.name.tag for info in experiment.metric_infos]
        assert columns[:2] == ["final/validation_headline", "final/test_headline"]
        assert f"final/test_{kind_metric}" in columns and columns[-1] == "final/still_improving"
        other_kind = "token_accuracy" if kind_metric == "macro_f1" else "macro_f1"  # only this task's metrics
        assert not [c for c in columns if other_kind in c]
        assert [info.name for info in experiment.hparam_infos][:3] == ["task", "arch", "seed"]
        for arch in ["gru", "cnn"]:
            run = out / task / arch / "seed0"
            metrics = json.loads((run / "metrics.json").read_text())
            config = json.loads((run / "config.json").read_text())  # the architecture's recipe filled it in
            for split in ["train", "validation"]:  # each scalar once, against the optimizer step
                events = _events(run / split)
                curves = [tag for tag in events.Tags()["tensors"]
                          if tag != "config" and not tag.startswith(("final/", "_"))]
                assert "loss" in curves and "epoch_loss" not in curves
                assert not [t for t in curves if t.startswith(("evaluation_", "val_"))]
                steps = {tag: [e.step for e in events.Tensors(tag)] for tag in curves}
                assert steps == {tag: [2, 4] for tag in curves}, (run, split)
            events = _events(run / "validation")
            content = events.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.SESSION_START_INFO_TAG]
            session = metadata.parse_session_start_info_plugin_data(content)
            hparams = session.hparams
            assert session.group_name == f"{arch}/seed0"
            assert hparams["arch"].string_value == arch and hparams["task"].string_value == task
            assert "task_name" not in hparams and "epochs" not in hparams
            assert hparams["budget"].string_value == "4 steps"
            assert hparams["params"].number_value == metrics["parameters"] == int(metrics["parameters"])
            assert hparams["hidden_dim"].number_value == 8 and hparams["num_layers"].number_value == 1
            assert hparams["seed"].number_value == 0
            assert hparams["learning_rate"].number_value == config["learning_rate"]
            headline = metrics["headline_metric"]
            for split in ["validation", "test"]:
                value = float(_value(events, f"final/{split}_headline"))
                assert value == pytest.approx(metrics[f"{split}_{headline}"], rel=1e-6)
            (text,) = [t.decode() for t in _value(events, "config").reshape(-1)]
            assert text.startswith("| setting | value |") and f"| arch | {arch} |" in text
            assert f"| learning_rate | {json.dumps(config['learning_rate'])} |" in text


def test_lm_runs_write_generated_text_to_tensorboard(shared_data, tmp_path):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    from kerasllm.bench.text_samples import SAMPLES_TAG, as_markdown, sample_prompts

    suite = tiny_suite(archs=("gru",), cells=[Cell("tiny_shakespeare", max_length=32)],
                       settings={**TINY, "data_dir": str(shared_data)})
    run_bench(suite, tmp_path / "lm", log=lambda line: None)
    run = tmp_path / "lm" / "tiny_shakespeare" / "gru" / "seed0"
    assert "text_samples_error" not in json.loads((run / "bench.json").read_text())
    events = event_accumulator.EventAccumulator(str(run / "validation"), size_guidance={"tensors": 0})
    events.Reload()
    (event,) = events.Tensors(SAMPLES_TAG)
    texts = [t.decode() for t in tensor_util.make_ndarray(event.tensor_proto)]
    opened = open_run(run)
    prompts = [opened.tokenizer.decode(p.tolist()) for p in sample_prompts(opened.encoded("validation"))]
    assert event.step == 4 and len(texts) == 3
    for text, prompt in zip(texts, prompts):
        assert len(prompt) == 8 and text.startswith(as_markdown(prompt, "")) and len(text) > len(prompt) + 4


def test_text_samples_read_on_from_the_prompt_with_a_word_tokenizer():
    from kerasllm.bench.text_samples import text_samples
    from kerasllm.models import CausalLM, get_backbone
    from kerasllm.tokenizers.base import UNK_ID
    from kerasllm.tokenizers.word import WordTokenizer

    keras.utils.set_random_seed(0)  # an untrained model: its samples follow the seed
    tokenizer = WordTokenizer().fit(["the cat sat on the mat", "a dog ran in the park"])
    backbone = get_backbone("gru", vocab_size=tokenizer.vocabulary_size, hidden_dim=8, num_layers=1, causal=True)
    lm = CausalLM(backbone)
    prompt = np.array(tokenizer.encode("the cat sat"), dtype="int32")
    ((head, tail),) = text_samples(lm, tokenizer, [prompt], max_new_tokens=5)
    words = tail.split()
    assert head == "the cat sat" and tail.startswith(" ") and len(words) >= 1
    assert set(words) <= set(tokenizer.vocabulary) | {tokenizer.decode([UNK_ID])}  # it may write <unk>


def test_train_with_a_runs_config_reproduces_its_metrics(bench, tmp_path, capsys):
    out, _, _ = bench
    run = out / "mqar@pairs4" / "gru" / "seed0"
    assert main(["train", "--config", str(run / "config.json"), "--out", str(tmp_path / "again")]) == 0
    capsys.readouterr()
    original = json.loads((run / "metrics.json").read_text())
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    for key in ["test_token_accuracy", "test_loss", "validation_loss", "parameters", "steps"]:
        assert again[key] == original[key], key


def interrupt_cnn_after_its_first_epoch(monkeypatch):
    fit = Trainer.fit

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    def interrupted_fit(self, callbacks=(), **options):
        extra = [Interrupt()] if self.config.arch == "cnn" else []
        return fit(self, callbacks=[*callbacks, *extra], **options)

    monkeypatch.setattr(Trainer, "fit", interrupted_fit)


def snapshot(folder):
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


def test_rerun_resumes_without_retraining_finished_runs(bench, tmp_path, monkeypatch, capsys):
    """Interrupted in its second run, the bench resumes it and leaves the finished run untouched."""
    suite = tiny_suite(name="resume", cells=[Cell("negation_sentiment", name="negation@b", task_options=SIZES)])
    suite_file = tmp_path / "resume.json"
    suite_file.write_text(json.dumps(suite.to_dict()))
    out = tmp_path / "b"
    argv = ["bench", str(suite_file), "--out", str(out)]
    interrupt_cnn_after_its_first_epoch(monkeypatch)
    assert main(argv) == 130
    assert "run the same command to resume" in capsys.readouterr().err
    finished, interrupted = out / "negation@b" / "gru" / "seed0", out / "negation@b" / "cnn" / "seed0"
    assert (finished / "metrics.json").is_file() and not (interrupted / "metrics.json").is_file()
    assert [r["status"] for r in collect_rows(out)] == ["ok", "unfinished"]
    assert json.loads((interrupted / "checkpoints" / "state.json").read_text())["epoch"] == 1
    before = snapshot(finished)
    monkeypatch.undo()

    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "[1/2] negation@b/gru/seed0: reused (finished earlier)" in printed
    assert snapshot(finished) == before
    resumed = json.loads((interrupted / "metrics.json").read_text())
    assert resumed["epochs"] == 2
    # Resuming gives what the uninterrupted run of the same config gave in the first bench.
    reference = json.loads((bench[0] / "negation_sentiment" / "cnn" / "seed0" / "metrics.json").read_text())
    for key in ["test_loss", "test_accuracy", "validation_loss"]:
        assert resumed[key] == pytest.approx(reference[key], abs=1e-5), key
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["invocations"]) == 2

    # report merges both benches; a (task, arch, seed) given twice comes from the first folder.
    merged = tmp_path / "merged"
    assert main(["report", str(bench[0]), str(out), str(bench[0]), "--out", str(merged)]) == 0
    assert capsys.readouterr().out.count("is also in an earlier folder; the earlier one is used") == 6
    with open(merged / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["task"] for r in rows} == {"negation_sentiment", "mqar@pairs4", "negation@b"}
    assert {r["bench"] for r in rows} == {str(bench[0]), str(out)} and len(rows) == 8
    assert (merged / "plots" / "curves_negation@b.png").read_bytes()[:8] == PNG_MAGIC
    monkeypatch.chdir(tmp_path)
    twice = report([bench[0], bench[0]])  # several folders: written to runs/report/<timestamp>/
    assert len(twice.rows) == 6 and len(twice.dropped) == 6
    assert twice.out.parent == pathlib.Path("runs") / "report" and (twice.out / "results.md").is_file()
    (out / "results.md").unlink()
    assert report([out]).out == out and (out / "results.md").is_file()  # one folder: rebuilt in place


def test_finished_runs_are_reused_only_with_the_same_config(bench, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(bench[0], out)
    run = out / "negation_sentiment" / "gru" / "seed0"
    (hparams,) = (run / "validation").glob("*.hparams")
    hparams.unlink()  # as if killed between metrics.json and the HParams file
    metrics_before = snapshot(run)[run / "metrics.json"]
    only_gru = dict(archs=("gru",), cells=[Cell("negation_sentiment", task_options=SIZES)])
    result = run_bench(tiny_suite(**only_gru), out, log=lambda line: None)
    assert [o.status for o in result.outcomes] == ["reused"]
    assert len(list((run / "validation").glob("*.hparams"))) == 1
    assert snapshot(run)[run / "metrics.json"] == metrics_before
    wider = tiny_suite(**only_gru).replace(settings={**TINY, "hidden_dim": 12})
    (outcome,) = run_bench(wider, out, log=lambda line: None).outcomes
    assert outcome.status == "failed" and "different config (hidden_dim)" in outcome.error
    assert snapshot(run)[run / "metrics.json"] == metrics_before
    assert json.loads((run / "bench.json").read_text())["status"] == "ok"  # the finished run is not marked


def test_rows_of_torn_or_partial_run_directories(tmp_path):
    run = tmp_path / "mqar" / "gru" / "seed3"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(TrainConfig(task="mqar", arch="gru", seed=3).to_dict()))
    (run / "metrics.json").write_text('{"test_loss": ')  # torn by a kill: the run counts as unfinished
    (row,) = collect_rows(tmp_path)
    assert (row["task"], row["arch"], row["seed"], row["status"]) == ("mqar", "gru", 3, "unfinished")
    assert row["headline_metric"] == "token_accuracy" and row["curve"] == []


def test_learning_curve_values_for_lm_metrics():
    entry = {"val_cross_entropy": 2.0, "val_accuracy": 0.7}
    assert _curve_value("perplexity", entry, None) == pytest.approx(math.exp(2.0))
    assert _curve_value("bits_per_char", entry, 0.25) == pytest.approx(2.0 / math.log(2) * 0.25)
    assert _curve_value("bits_per_char", entry, None) is None
    assert _curve_value("accuracy", entry, None) == 0.7
    assert _curve_value("perplexity", {}, None) is None
    assert _clock(3725) == "1:02:05" and _clock(65) == "1:05"


def test_params_and_time_budget_through_the_bench(tmp_path):
    # One step per compiled call, so the budget (checked after each call) stops the run after its first step.
    suite = tiny_suite(name="budget", cells=[Cell("negation_sentiment", task_options=SIZES,
                                                  settings={"steps_per_execution": 1})], archs=("cnn",),
                       params=3000, time_budget=1e-6)
    result = run_bench(suite, tmp_path / "c", log=lambda line: None)
    assert [o.status for o in result.outcomes] == ["ok"]
    (row,) = collect_rows(tmp_path / "c")
    assert row["params_target"] == 3000 and abs(row["parameters"] - 3000) <= 150
    assert row["stopped_by_time_budget"] is True and row["time_budget_seconds"] == 1e-6
    assert row["steps"] == 1 and row["epochs"] == 1 and row["curve"][-1][0] == 1
    # one partial period: the table's tokens/s is the run's own (1 step in train_seconds), not a whole epoch's
    assert row["steady_tokens_per_second"] == pytest.approx(row["train_tokens_per_second"])
    sizing = json.loads((tmp_path / "c" / "sizing.json").read_text())
    assert sizing["negation_sentiment/cnn"]["hidden_dim"] == row["hidden_dim"]


def test_bench_cli_dry_run_and_errors(tmp_path, capsys):
    assert main(["bench", "--dry-run", "--archs", "gru,transformer", "--seeds", "2", "--params", "50000"]) == 0
    out = capsys.readouterr().out
    assert "bench 'quick': 12 runs" in out and "sized to 50,000 parameters" in out
    assert "mqar@pairs4/transformer/seed1" in out and "steps=400" in out
    for argv, message in [
        (["bench", "--archs", "lstn", "--dry-run"], "Did you mean 'lstm'?"),
        (["bench", "quik"], "Did you mean 'quick'?"),
        (["bench", "--tasks", "mqr", "--dry-run"], "Did you mean 'mqar'?"),
        (["report", str(tmp_path / "nothing")], "is not a folder"),
        (["report", str(tmp_path)], "No run directories"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_bench_where_every_run_fails_exits_2(tmp_path, capsys):
    suite_file = tmp_path / "broken.json"
    suite_file.write_text(json.dumps(tiny_suite(name="broken", cells=[Cell("negation_sentiment", task_options=SIZES)],
                                                archs=(broken_arch(),)).to_dict()))
    assert main(["bench", str(suite_file), "--out", str(tmp_path / "d")]) == 2
    captured = capsys.readouterr()
    assert "every run failed" in captured.err and "broken on purpose" in captured.err
    record = json.loads((tmp_path / "d" / "negation_sentiment" / BROKEN / "seed0" / "bench.json").read_text())
    assert record["status"] == "failed" and "Traceback" in record["traceback"]
    assert BROKEN in list_backbones()


# ----------------------------------------------------------------------------------- convergence flags
FLAG_TASK = {"num_train": 64, "num_validation": 32, "num_test": 32}


def write_synthetic_run(bench_dir, arch, validation, test, task="negation_sentiment", eval_every=10):
    """A finished run directory as the Trainer writes it (config.json, metrics.json, checkpoints/state.json),
    with the given per-validation accuracies and test accuracy; no training."""
    run = bench_dir / task / arch / "seed0"
    (run / "checkpoints").mkdir(parents=True)
    config = TrainConfig(task=task, arch=arch, task_options=FLAG_TASK, steps=eval_every * len(validation),
                         eval_every=eval_every)
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    best = max(range(len(validation)), key=lambda i: (validation[i], -i)) + 1
    history = [{"epoch": i + 1, "val_accuracy": v, "val_loss": 1.0 - v, "epoch_seconds": 1.0,
                "tokens_per_second": 1000.0} for i, v in enumerate(validation)]
    (run / "checkpoints" / "state.json").write_text(json.dumps({
        "epoch": len(validation), "last_checkpoint": f"epoch-{len(validation)}.keras",
        "best_checkpoint": f"best-epoch-{best}.keras", "best": validation[best - 1], "best_epoch": best,
        "monitor": "val_accuracy", "history": history, "train_seconds": float(len(validation)), "seed_states": []}))
    (run / "metrics.json").write_text(json.dumps({
        "validation_accuracy": validation[best - 1], "validation_loss": 0.5, "validation_seconds": 0.1,
        "test_accuracy": test, "test_loss": 0.5, "test_seconds": 0.1, "task": task, "arch": arch, "seed": 0,
        "headline_metric": "accuracy", "parameters": 1000, "epochs": len(validation),
        "steps": eval_every * len(validation), "best_epoch": best, "train_seconds": float(len(validation)),
        "train_tokens_per_second": 1000.0}))
    return run


def majority_rate(task, options, split="test"):
    from kerasllm.data import get_task

    labels = list(get_task(task, **options).split(split).labels)
    return max(labels.count(label) for label in set(labels)) / len(labels)


def test_convergence_flags_improving_early_peak_and_too_few_validations(tmp_path):
    write_synthetic_run(tmp_path, "gru", [0.55, 0.62, 0.70, 0.78, 0.86], test=0.85)  # kept improving
    write_synthetic_run(tmp_path, "cnn", [0.60, 0.90, 0.86, 0.87, 0.88], test=0.88)  # peaked at step 20
    write_synthetic_run(tmp_path, "lstm", [0.60, 0.80], test=0.80)                    # too few to judge
    write_synthetic_run(tmp_path, "rnn", [0.50, 0.51, 0.49, 0.50, 0.50], test=0.50)  # learned nothing
    write_synthetic_run(tmp_path, "transformer", [0.6, 0.9, 1.0, 1.0, 1.0], test=1.0)  # perfect at step 30
    rows = {row["arch"]: row for row in collect_rows(tmp_path)}
    gru, cnn, lstm, rnn, perfect = (rows[a] for a in ("gru", "cnn", "lstm", "rnn", "transformer"))
    # 5 validations: the last 20% is the last one, which must beat the best before it by more than 0.1%.
    assert (gru["still_improving"], gru["validations"], gru["best_validation_step"]) == (True, 5, 50)
    assert gru["recent_gain"] == pytest.approx((0.86 - 0.78) / 0.78)
    assert (cnn["still_improving"], cnn["best_validation_step"]) == (False, 20)
    assert cnn["recent_gain"] == pytest.approx((0.88 - 0.90) / 0.90)
    assert (lstm["still_improving"], lstm["validations"], lstm["recent_gain"]) == (None, 2, None)
    assert rnn["still_improving"] is False and perfect["still_improving"] is False
    # at chance: under 5% of the way from the test split's majority-class rate to 1
    baseline = majority_rate("negation_sentiment", FLAG_TASK)
    assert all(row["trivial_baseline"] == pytest.approx(baseline) for row in rows.values())
    assert rnn["at_chance"] is True and gru["at_chance"] is False and perfect["at_chance"] is False

    outputs = report([tmp_path], out=tmp_path / "report")
    with open(outputs.csv, newline="") as f:
        csv_rows = {r["arch"]: r for r in csv.DictReader(f)}
    assert [csv_rows[a]["still_improving"] for a in ("gru", "cnn", "lstm")] == ["True", "False", ""]
    assert csv_rows["cnn"]["best_validation_step"] == "20" and csv_rows["lstm"]["validations"] == "2"
    assert csv_rows["rnn"]["at_chance"] == "True" and csv_rows["gru"]["at_chance"] == "False"
    text = outputs.markdown
    assert "| gru | 0.85 (still improving) |" in text and "| cnn | 0.88 |" in text
    assert "| lstm | 0.8 (too few validations) |" in text and "| rnn | 0.5 (at chance) |" in text
    assert "| transformer | 1 |" in text
    assert "*still improving*: the best validation accuracy came in the last 20% of the validations" in text
    assert f"from the trivial baseline {baseline:.4g} (the majority-class rate of the test split)" in text


def test_convergence_rule_for_lower_is_better_metrics_and_seeds():
    from kerasllm.bench.report import Summary, flags
    from kerasllm.bench.results import at_chance, convergence

    # perplexity falling to the end is still improving; one that rose after its best is not
    assert convergence([300.0, 200.0, 150.0, 120.0, 100.0], lower_is_better=True).still_improving is True
    late = convergence([300.0, 100.0, 120.0, 130.0, 99.95], lower_is_better=True)
    assert late.still_improving is False and late.best_index == 5  # a 0.05% gain is below the 0.1% bar
    # 10 validations: the last 2 count
    assert convergence([5, 4, 3, 2.5, 2.4, 2.3, 2.2, 2.1, 2.0, 2.05], lower_is_better=True).still_improving is True
    assert convergence([], lower_is_better=False).validations == 0
    # 0.95 of the baseline perplexity is the bar (perfect is 1); bits per char: perfect is 0
    assert at_chance(680.0, 700.0, "perplexity") is True and at_chance(600.0, 700.0, "perplexity") is False
    assert at_chance(4.5, 4.8, "bits_per_char") is False and at_chance(4.6, 4.8, "bits_per_char") is True
    assert at_chance(0.9, None, "accuracy") is None and at_chance(1.0, 1.0, "accuracy") is None
    rows = [{"still_improving": flag, "validations": 5, "at_chance": False} for flag in (True, False, True)]
    assert flags(Summary("t", "gru", "accuracy", False, [0.8] * 3, rows)) == ["still improving: 2 of 3 seeds"]
    one_call = [{"still_improving": None, "validations": 0, "at_chance": False}]  # e.g. tfidf_lr: no history
    assert flags(Summary("t", "tfidf_lr", "accuracy", False, [0.8], one_call)) == []


def test_trivial_baselines_match_hand_counts(shared_data):
    import collections

    from kerasllm.bench.results import trivial_baseline
    from kerasllm.data import get_task
    from kerasllm.tokenizers import get_tokenizer

    # seq2seq: the most frequent test target token at each position (the final eos included)
    task = get_task("mqar", num_train=64, num_validation=16, num_test=200, num_pairs=4, num_queries=2)
    tokenizer = get_tokenizer("word", split="whitespace", lowercase=False).fit(task.train_texts())
    targets = [target.split() + ["<eos>"] for target in task.split("test").targets]
    by_position = collections.defaultdict(collections.Counter)
    for target in targets:
        for position, token in enumerate(target):
            by_position[position][token] += 1
    expected = sum(max(c.values()) for c in by_position.values()) / sum(len(t) for t in targets)
    assert trivial_baseline(task, tokenizer) == pytest.approx(expected)
    # lm: the test split's own character unigram entropy, per character (an eos after each document)
    task = get_task("tiny_shakespeare", data_dir=shared_data)
    tokenizer = get_tokenizer("char").fit(task.train_texts())
    texts = task.split("test").texts
    stream = [token for text in texts for token in [*text, "<eos>"]][1:]  # every token after the first is a target
    counts = np.array(list(collections.Counter(stream).values()), dtype=np.float64) / len(stream)
    bits = -(counts * np.log2(counts)).sum() * len(stream) / sum(len(text) + 1 for text in texts)
    assert trivial_baseline(task, tokenizer, max_length=64) == pytest.approx(bits, rel=1e-9)


def test_flags_reach_csv_markdown_and_hparams_end_to_end(bench, tmp_path):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    # the module's bench validates twice per run: too few validations to judge, but baselines are set
    out, _, _ = bench
    with open(out / "results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    assert {"still_improving", "validations", "best_validation_step", "at_chance", "trivial_baseline"} <= set(rows[0])
    assert all(r["still_improving"] == "" and r["validations"] == "2" and r["at_chance"] in ("True", "False")
               for r in rows)
    negation = [r for r in rows if r["task"] == "negation_sentiment"]
    assert float(negation[0]["trivial_baseline"]) == pytest.approx(majority_rate("negation_sentiment", SIZES))
    assert "too few validations)" in (out / "results.md").read_text()
    # three validations: judged, and written to HParams as final/still_improving
    suite = tiny_suite(name="flags", archs=("cnn",), cells=[Cell("negation_sentiment", task_options=SIZES)],
                       settings={**TINY, "steps": 6})
    result = run_bench(suite, tmp_path / "e", log=lambda line: None)
    (row,) = result.report.rows
    assert row["validations"] == 3 and row["still_improving"] in (True, False)
    assert row["best_validation_step"] in (2, 4, 6) and row["at_chance"] in (True, False)
    run = tmp_path / "e" / "negation_sentiment" / "cnn" / "seed0"
    events = event_accumulator.EventAccumulator(str(run / "validation"), size_guidance={"tensors": 0})
    events.Reload()
    value = float(tensor_util.make_ndarray(events.Tensors("final/still_improving")[-1].tensor_proto))
    assert value == float(row["still_improving"])
    line = next(l for l in result.report.markdown.splitlines() if l.startswith("| 1 | cnn |"))
    assert ("still improving" in line) == row["still_improving"] and ("at chance" in line) == row["at_chance"]
