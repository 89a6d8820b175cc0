"""The front door: stderr holds our one line and no TensorFlow start-up chatter, listings and misspelt
names answer without importing TensorFlow or Keras (from kerasllm.catalog, which must match the
registries), and training shows one progress bar on a terminal and plain lines elsewhere.

The subprocesses run the real CLI. Those that import TensorFlow cost ~5 s each, so there are two.
"""

import io
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from rich.console import Console

from kerasllm import catalog, cli
from kerasllm.bench import list_suites, load_suite
from kerasllm.bench.progress import BenchLines, BenchProgress
from kerasllm.data.base import TASKS
from kerasllm.errors import ConfigError, UnknownNameError
from kerasllm.labs import LABS, list_labs
from kerasllm.models.backbone import BACKBONES
from kerasllm.training.progress import StepProgress, validation_line

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean_environment():
    """This process's environment as a user's shell has it: importing TensorFlow here imported jax, which
    set TF_CPP_MIN_LOG_LEVEL=1 for itself (a child would inherit it and show TensorFlow's C++ errors)."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def cli_run(*argv):
    """`python -m kerasllm ARGV` with stdout and stderr captured (stdout is not a terminal)."""
    return subprocess.run([sys.executable, "-m", "kerasllm", *argv], capture_output=True, text=True,
                          env=clean_environment(), timeout=300)


def built_in(registry):
    """(name, class) of the registry's entries that kerasllm itself defines (tests register others)."""
    return [(name, registry.get(name)) for name in registry.names()
            if registry.get(name).__module__.startswith("kerasllm.")]


# ------------------------------------------------------------------ the catalog is the registries, as data
def test_catalog_matches_the_registries_exactly():
    from kerasllm.training.baselines import BASELINES

    assert [(a.name, a.summary) for a in catalog.ARCHITECTURES] == [
        (name, cli._summary(cls)) for name, cls in built_in(BACKBONES)]
    assert [(b.name, b.summary) for b in catalog.BASELINES] == [
        (name, cli._summary(train)) for name, train in built_in(BASELINES)]
    for baseline in catalog.BASELINES:  # `--arch tfidf_lr` passes the CLI's check; typos still list the backbones
        catalog.check_name("architecture", baseline.name)
    assert [(t.name, t.kind, t.metric, t.summary) for t in catalog.TASKS] == [
        (name, cls.info.kind, cls.info.metric, cli._summary(cls)) for name, cls in built_in(TASKS)]
    labs = [name for name in list_labs() if LABS.get(name).__module__.startswith("kerasllm.")]
    assert [(lab.number, lab.name, lab.title, lab.convention, lab.starter) for lab in catalog.LABS] == [
        (LABS.get(n).number, n, LABS.get(n).title, LABS.get(n).convention, LABS.get(n).starter) for n in labs]
    assert list(catalog.SUITES) == list_suites()
    for name, labels in catalog.SUITES.items():
        assert labels == tuple(cell.label for cell in load_suite(name).cells), name


def test_catalog_refuses_with_the_registries_own_words():
    for kind, registry, typo in [("architecture", BACKBONES, "lstmm"), ("task", TASKS, "mqarr")]:
        with pytest.raises(UnknownNameError) as expected:
            registry.get(typo)
        with pytest.raises(UnknownNameError) as got:
            catalog.check_name(kind, typo, also=registry.names())
        assert str(got.value) == str(expected.value)
    with pytest.raises(ConfigError) as expected:
        load_suite("quik")
    with pytest.raises(ConfigError) as got:
        catalog.check_suite("quik")
    assert str(got.value) == str(expected.value)
    catalog.check_suite("my_suite.yaml")  # a file: load_suite reads it


def test_import_paths_and_names_registered_in_this_process_pass_the_cli_check(monkeypatch):
    cli._check_name("architecture", "my_backbone.py:MyBackbone")  # the library imports and checks it
    cli._check_name("architecture", "lstm")
    cli._check_name("task", "sst2")
    monkeypatch.setitem(BACKBONES._entries, "students_arch", object)  # as if a script registered it
    cli._check_name("architecture", "students_arch")
    with pytest.raises(UnknownNameError, match=r"Did you mean 'lstm'\? Known: .*transformer, .*students_arch\."):
        cli._check_name("architecture", "lstmm")


# ------------------------------------------------------------------ fast answers, without TensorFlow
PROBE = """
import json, sys
from kerasllm.cli import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in ("tensorflow", "keras", "jax", "kerasllm.models", "kerasllm.training") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0), (["archs"], 0), (["tasks"], 0), (["lab", "list"], 0),
    (["train", "--arch", "lstmm", "--task", "mqar"], 2), (["train", "--task", "mqarr", "--arch", "lstm"], 2),
    (["bench", "--archs", "lstmm"], 2), (["bench", "--tasks", "mqarr"], 2), (["bench", "quik"], 2),
])
def test_listings_and_misspelt_names_import_neither_tensorflow_nor_keras(argv, code):
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True,
                            env=clean_environment(), timeout=60)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report == {"code": code, "heavy": []}, result.stderr


def test_listings_are_the_catalog():
    out = cli_run("archs").stdout.splitlines()
    assert out == [f"{a.name:12s} {a.summary}" for a in catalog.ARCHITECTURES + catalog.PREFIXED_ARCHITECTURES]
    out = cli_run("lab", "list").stdout
    assert out.count("convention:") == len(catalog.LABS) and "docs/labs/starters/bpe_merge_step.py" in out


@pytest.mark.parametrize("argv, line", [
    (["train", "--arch", "lstmm", "--task", "mqar"],
     "kerasllm train: error: Unknown architecture 'lstmm'. Did you mean 'lstm'? Known: bow, rnn, gru, lstm, cnn, "
     "transformer."),
    (["train", "--task", "mqarr", "--arch", "lstm"],
     "kerasllm train: error: Unknown task 'mqarr'. Did you mean 'mqar'? Known: "
     + ", ".join(t.name for t in catalog.TASKS) + "."),
])
def test_a_misspelt_name_is_exactly_one_line_on_stderr(argv, line):
    result = cli_run(*argv)
    assert result.returncode == 2 and result.stderr == line + "\n" and result.stdout == ""


# ------------------------------------------------------------------ after TensorFlow: still only our line
def test_an_error_after_tensorflow_is_imported_is_still_one_clean_line(tmp_path):
    result = cli_run("evaluate", str(tmp_path / "nonexistent"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("kerasllm evaluate: error: ") and "not a finished kerasllm run" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_train_into_a_pipe_prints_a_plain_line_per_validation(tmp_path):
    out = tmp_path / "run"
    result = cli_run("train", "--task", "mqar", "--arch", "bow", "--steps", "2", "--hidden-dim", "8",
                     "--num-layers", "1", "--batch-size", "16", "--out", str(out), "task_options.num_train=32",
                     "task_options.num_validation=16", "task_options.num_test=16", "jit_compile=false")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no TensorFlow / absl / oneDNN start-up lines, no Python warnings
    lines = result.stdout.splitlines()
    assert lines[0] == f"run directory: {out}"
    assert lines[1] == ("optimizer: adamw, learning_rate=0.01, weight_decay=0.01, warmup_ratio=0.05, "
                        "min_lr_ratio=0.1, clipnorm=1")  # bow's recipe on a seq2seq task
    assert [line.split("  ")[0] for line in lines[2:4]] == ["step 1/2", "step 2/2"]
    assert all(re.fullmatch(r"step \d/2  loss \d\.\d{4}  val_loss \d\.\d{4}  val_token_accuracy \d\.\d{4}  "
                            r"[\d,]+ tokens/s", line) for line in lines[2:4]), lines
    assert json.loads("\n".join(lines[4:]))["steps"] == 2
    for garbage in ("Epoch", "/step", "\r", "\x1b", "\u2501"):  # Keras' progress bar, rich's bar
        assert garbage not in result.stdout


def test_start_up_chatter_is_dropped_and_everything_else_kept():
    chatter = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
               "I0000 00:00:1796126998.020427    3915 port.cc:153] oneDNN custom operations are on.\n",
               "I0000 00:00:1796126998.020915    3915 cudart_stub.cc:31] Could not find cuda drivers.\n",
               "W0000 00:00:1796126998.020915    3915 cpu_feature_guard.cc:227] This binary is optimized.\n"]
    kept = ["F0000 00:00:1796126998.020915    3915 op.cc:10] Check failed: something real\n",
            "Traceback (most recent call last):\n", "UserWarning: a Python warning\n"]
    assert [line for line in chatter + kept if not cli._is_chatter(line, 3)] == kept
    assert not any(cli._is_chatter(line, 0) for line in chatter[1:])  # TF_CPP_MIN_LOG_LEVEL=0: show them all
    assert cli._is_chatter(chatter[1], 1) and not cli._is_chatter(chatter[3], 1)


# ------------------------------------------------------------------ the displays
def terminal():
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120, color_system=None), buffer


def test_step_progress_draws_one_bar_with_step_loss_and_speed():
    console, buffer = terminal()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 2), "float32"), np.zeros((8, 1), "float32")
    with StepProgress(tokens_per_step=100.0, console=console) as progress:
        model.fit(x, y, batch_size=4, epochs=3, validation_data=(x, y), callbacks=[progress], verbose=0)
    shown = ANSI.sub("", buffer.getvalue()).replace("\r", "\n")
    assert "train" in shown and "6/6" in shown and re.search(r"loss \d+\.\d{4}", shown)
    assert "tok/s" in shown and "ETA" in shown
    assert len(re.findall(r"^step [246]/6  loss ", shown, re.M)) == 3  # a line per validation, above the bar


def test_step_progress_without_a_terminal_prints_only_plain_validation_lines():
    buffer = io.StringIO()
    progress = StepProgress(metric="accuracy", live=False, console=Console(file=buffer, width=40))
    progress.set_params({"epochs": 2, "steps": 5})
    progress.on_train_begin()
    for epoch in range(2):
        progress.on_epoch_begin(epoch)
        for batch in range(5):
            progress.on_train_batch_end(batch, {"loss": 0.5})
        progress.on_epoch_end(epoch, {"loss": 0.5, "val_loss": 0.25, "val_accuracy": 0.75,
                                      "tokens_per_second": 12345.6})
    progress.on_train_end()
    assert buffer.getvalue().splitlines() == [
        "step 5/10  loss 0.5000  val_loss 0.2500  val_accuracy 0.7500  12,346 tokens/s",
        "step 10/10  loss 0.5000  val_loss 0.2500  val_accuracy 0.7500  12,346 tokens/s"]  # not wrapped at 40
    assert validation_line(3, 9, {"loss": 1.0}) == "step 3/9  loss 1.0000"


def test_bench_progress_shows_runs_done_the_current_run_and_eta():
    console, buffer = terminal()
    with BenchProgress(console) as display:
        display.bench_started(2)
        display.run_started("mqar/gru/seed0", "[1/2] mqar/gru/seed0: training ...")
        (step,) = display.fit_callbacks("token_accuracy", 50.0)
        step.set_params({"epochs": 1, "steps": 4})
        step.on_train_begin()
        step.on_epoch_begin(0)
        step.on_train_batch_end(1, {"loss": 2.5})
        display._progress.refresh()
        during = ANSI.sub("", buffer.getvalue())
        display.run_finished("[1/2] mqar/gru/seed0: done test token_accuracy=0.5 | 1.0s | elapsed 0:01 | ETA 0:01",
                             1.0)
    shown = ANSI.sub("", buffer.getvalue())
    assert "mqar/gru/seed0" in during and "2/4" in during and "loss 2.5000" in during and "0/2" in during
    assert "[1/2] mqar/gru/seed0: done test token_accuracy=0.5" in shown and "1/2" in shown and "ETA" in shown
    assert display.keras_verbose == 0 and BenchLines().keras_verbose == 2
