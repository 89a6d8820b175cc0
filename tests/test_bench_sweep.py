"""Fair budgets in the bench: the same training tokens for every architecture (--tokens), learning-rate sweeps
(--lr-sweep) that select on validation and evaluate the test split only for the selected rate, and the budget,
learning rate and FLOPs per token in the report."""

import csv
import json
import pathlib
import shutil

import pytest

from kerasllm.bench import Cell, Sizer, Suite, collect_rows, plan, report, run_bench, select
from kerasllm.bench.deferred_test import evaluate_selected
from kerasllm.bench.lr_sweep import mark_selected as mark_selected_rows, rate_label, select_rates
from kerasllm.bench.progress import BenchLines
from kerasllm.bench.runner import _Runner
from kerasllm.cli import main
from kerasllm.config import TrainConfig
from kerasllm.data import get_task
from kerasllm.data.pipeline import encode_split
from kerasllm.errors import ConfigError
from kerasllm.models.flops import train_flops_per_token
from kerasllm.training import open_run
from kerasllm.training.trainer import fit_tokenizer

SIZES = {"num_train": 32, "num_validation": 16, "num_test": 16}
TINY = {"hidden_dim": 8, "num_layers": 1, "batch_size": 8, "jit_compile": False}
CELL = Cell("negation_sentiment", task_options=SIZES)
RATES = (1e-3, 3e-2)


def quiet(lines=None):
    return BenchLines(log=(lines.append if lines is not None else lambda line: None), keras_verbose=0)


def tokens_per_step(batch_size=8):
    """Real input tokens per training batch of the tiny cell, counted here from the encoded split."""
    config = TrainConfig(task="negation_sentiment", arch="gru", task_options=SIZES)
    task = get_task("negation_sentiment", **SIZES)
    train = encode_split(task, "train", fit_tokenizer(config, task), task.info.max_length)
    return train.num_input_tokens / train.num_examples * batch_size


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def metrics_of(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def snapshot(folder):
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------------- --tokens
def test_a_token_budget_gives_every_architecture_the_same_steps_and_tokens(tmp_path):
    per_step = tokens_per_step()
    tokens = int(6.5 * per_step)  # 7 steps needed; validations every 1 step (ceil(7 / 10))
    suite = select(Suite(name="tokens", archs=("gru", "cnn"), settings={**TINY, "steps": 50}, cells=[CELL]),
                   tokens=tokens)
    assert [run.config.steps for run in plan(suite, tmp_path)] == [None, None]  # --tokens replaced the steps
    run_bench(suite, tmp_path, display=quiet())
    rows = read_csv(tmp_path / "results.csv")
    assert [(r["arch"], r["steps"]) for r in rows] == [("gru", "7"), ("cnn", "7")]
    assert {r["train_tokens"] for r in rows} == {str(round(7 * per_step))}
    assert {r["budget"] for r in rows} == {f"{tokens:,} tokens"}
    for row in rows:
        model = open_run(tmp_path / "negation_sentiment" / row["arch"] / "seed0").model
        assert int(row["train_flops_per_token"]) == train_flops_per_token(model) > 0
    assert rows[0]["train_flops_per_token"] != rows[1]["train_flops_per_token"]
    markdown = (tmp_path / "results.md").read_text()
    assert f"Budget per run: {tokens:,} tokens." in markdown
    rate = json.loads((tmp_path / "negation_sentiment" / "cnn" / "seed0" / "config.json").read_text())["learning_rate"]
    assert f"| 7 | {round(7 * per_step):,} | {rate:.4g} |" in markdown  # steps, train tokens, lr


def test_the_budget_line_names_steps_epochs_and_time_budgets():
    from kerasllm.bench.report import Summary, budget_line
    from kerasllm.bench.results import budget_of

    rows = [{"budget": budget_of({"steps": 400}, time_budget=60)}, {"budget": budget_of({"epochs": 2})}]
    baseline = {"budget": None}
    text = budget_line([Summary("t", "gru", "accuracy", False, [0.9, 0.8], rows),
                        Summary("t", "tfidf_lr", "accuracy", False, [0.7], [baseline])])
    assert text == ("Budget per run: 2 epochs; 400 steps or 60 s of training, whichever ends first. "
                    "(tfidf_lr: one fit, no step budget.)")


# ----------------------------------------------------------------------------------- --lr-sweep
@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """cnn at two learning rates and tfidf_lr (not swept) on the tiny cell, one seed."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    lines = []
    suite = Suite(name="sweep", archs=("cnn", "tfidf_lr"), settings={**TINY, "steps": 4, "eval_every": 2},
                  cells=[CELL], lr_sweep=RATES)
    result = run_bench(suite, out, display=quiet(lines))
    return suite, out, result, lines


def test_a_sweep_runs_every_rate_in_its_own_folder_and_the_baseline_once(sweep):
    _, out, result, lines = sweep
    assert [o.name for o in result.outcomes] == ["negation_sentiment/cnn/lr1e-03/seed0",
                                                 "negation_sentiment/cnn/lr3e-02/seed0",
                                                 "negation_sentiment/tfidf_lr/seed0"]
    assert [o.status for o in result.outcomes] == ["ok", "ok", "ok"]
    for rate, folder in zip(RATES, ("lr1e-03", "lr3e-02")):
        config = json.loads((out / "negation_sentiment" / "cnn" / folder / "seed0" / "config.json").read_text())
        assert config["learning_rate"] == rate
    done = [line for line in lines if "elapsed" in line]
    assert "done validation accuracy=" in done[0] and "done test accuracy=" in done[2]


def test_only_the_rate_selected_on_validation_has_test_metrics(sweep):
    _, out, _, _ = sweep
    runs = {rate: out / "negation_sentiment" / "cnn" / folder / "seed0"
            for rate, folder in zip(RATES, ("lr1e-03", "lr3e-02"))}
    validation = {rate: metrics_of(path)["validation_accuracy"] for rate, path in runs.items()}
    best = max(RATES, key=lambda rate: (validation[rate], -rate))  # a tie goes to the smaller rate
    other = next(rate for rate in RATES if rate != best)
    assert not [key for key in metrics_of(runs[other]) if key.startswith("test_")]
    selected = metrics_of(runs[best])
    assert selected["test_accuracy"] == pytest.approx(open_run(runs[best]).evaluate("test")["accuracy"])
    rows = {(r["arch"], r["learning_rate"]): r for r in collect_rows(out)}
    assert rows[("cnn", best)]["lr_selected"] is True and rows[("cnn", other)]["lr_selected"] is False
    assert rows[("cnn", other)]["metric"] is None and rows[("cnn", best)]["eval_latency_ms"] > 0
    baseline = rows[("tfidf_lr", None)]
    assert baseline["lr_selected"] is None and baseline["metric"] is not None and baseline["budget"] is None

    csv_rows = read_csv(out / "results.csv")
    assert [(r["arch"], r["learning_rate"], r["lr_selected"]) for r in csv_rows] == [
        ("cnn", "0.001", str(best == 1e-3)), ("cnn", "0.03", str(best == 3e-2)), ("tfidf_lr", "", "")]
    markdown = (out / "results.md").read_text()
    ranked = markdown.split("## Learning-rate sweeps")[0]
    (cnn_line,) = [line for line in ranked.splitlines() if line.startswith("| ") and "| cnn |" in line]
    assert cnn_line.endswith(f"| {best:.4g} |")  # the selected rate's row, with its learning rate
    sweep_table = markdown.split("### negation_sentiment: validation accuracy per learning rate")[1]
    assert sweep_table.count("**selected**") == 1
    assert f"| cnn | {best:.4g} | {validation[best]:.4g} | 1 | 1 | **selected** |" in sweep_table
    assert f"| cnn | {other:.4g} | {validation[other]:.4g} | 1 | 1 |  |" in sweep_table
    assert "Budget per run: 4 steps. (tfidf_lr: one fit, no step budget.)" in markdown


def test_rerunning_a_sweep_reuses_every_run_and_selects_again(sweep, tmp_path):
    suite, out, _, _ = sweep
    again = tmp_path / "again"
    shutil.copytree(out, again)
    before = {p: v for p, v in snapshot(again).items() if p.parent.name.startswith("seed")}
    result = run_bench(suite, again, display=quiet())
    assert [o.status for o in result.outcomes] == ["reused"] * 3
    after = snapshot(again)
    assert all(after[p] == v for p, v in before.items())  # nothing retrained, nothing re-evaluated
    assert [r["lr_selected"] for r in collect_rows(again)] == [r["lr_selected"] for r in collect_rows(out)]

    # a selection that changes (say, more seeds came in) moves the test metrics to the new rate's runs
    rows = [r for r in collect_rows(again) if r["lr_selected"] is not None]
    loser = next(pathlib.Path(r["run_dir"]) for r in rows if not r["lr_selected"])
    winner = next(pathlib.Path(r["run_dir"]) for r in rows if r["lr_selected"])
    (loser / "metrics.json").write_text(json.dumps({**metrics_of(loser), "validation_accuracy": 2.0}))
    lines = []
    changed = evaluate_selected(again, log=lines.append)
    assert sorted(changed) == ["negation_sentiment/cnn/lr1e-03/seed0", "negation_sentiment/cnn/lr3e-02/seed0"]
    assert metrics_of(loser)["test_accuracy"] == pytest.approx(open_run(loser).evaluate("test")["accuracy"])
    assert not [key for key in metrics_of(winner) if key.startswith("test_")]
    assert len(lines) == 2 and any("rate selected, test accuracy=" in line for line in lines)
    assert evaluate_selected(again, log=lines.append) == []  # nothing left to do
    rebuilt = report([again], out=tmp_path / "report").markdown  # kerasllm report selects over its rows too
    rate = json.loads((loser / "config.json").read_text())["learning_rate"]
    assert f"| cnn | {rate:.4g} | 2 | 1 | 1 | **selected** |" in rebuilt


def test_selection_averages_seeds_in_the_metrics_direction_and_skips_failed_runs():
    def row(rate, value, lower=False, status="ok", seed=0):
        return {"task": "t", "arch": "gru", "learning_rate": rate, "status": status, "validation_metric": value,
                "lower_is_better": lower, "lr_selected": False, "seed": seed}

    rows = [row(1e-3, 0.9), row(1e-3, 0.5, seed=1), row(3e-3, 0.8), row(3e-3, 0.8, seed=1),
            row(1e-2, 1.0, status="failed")]
    assert select_rates(rows) == {("t", "gru"): 3e-3}  # mean 0.7 against 0.8; the failed run does not count
    perplexity = [row(1e-3, 30.0, lower=True), row(3e-3, 20.0, lower=True), row(1e-2, 20.0, lower=True)]
    assert select_rates(perplexity) == {("t", "gru"): 3e-3}  # lower is better; a tie goes to the smaller rate
    assert select_rates([{**row(1e-3, 0.9), "lr_selected": None}]) == {}  # not a swept row


def test_sweep_seeds_train_the_other_seeds_at_the_selected_rate_only(tmp_path):
    suite = Suite(name="confirm", archs=("cnn",), settings={**TINY, "steps": 4, "eval_every": 2}, cells=[CELL],
                  lr_sweep=RATES, seeds=3, sweep_seeds=1)
    lines = []
    result = run_bench(suite, tmp_path, display=quiet(lines))
    rows = collect_rows(tmp_path)
    best = select_rates([r for r in rows if r["seed"] == 0])[("negation_sentiment", "cnn")]
    other = next(rate for rate in RATES if rate != best)
    assert [o.name for o in result.outcomes] == ["negation_sentiment/cnn/lr1e-03/seed0",
                                                 "negation_sentiment/cnn/lr3e-02/seed0",
                                                 f"negation_sentiment/cnn/{rate_label(best)}/seed1",
                                                 f"negation_sentiment/cnn/{rate_label(best)}/seed2"]
    assert "bench 'confirm': 4 runs" in lines[0] and "2 of them at the selected rates" in lines[0]
    assert any(line.startswith("[4/4]") for line in lines)
    assert [(r["learning_rate"], r["seed"], r["lr_confirms"]) for r in rows] == sorted(
        [(other, 0, False), (best, 0, False), (best, 1, True), (best, 2, True)])
    for row in rows:  # the selected rate's three seeds are tested, the other rate's one seed is not
        assert (row["metric"] is not None) == (row["learning_rate"] == best), row["run_dir"]

    # the confirming seeds never change the choice: made to look far better at the other rate, they still
    # count for nothing, and a later seed of the other rate would not train
    confirming = [r for r in rows if r["lr_confirms"]]
    assert select_rates([{**r, "validation_metric": -1.0} for r in confirming] + [r for r in rows if not r["lr_confirms"]]) \
        == {("negation_sentiment", "cnn"): best}
    again = run_bench(suite, tmp_path, display=quiet())
    assert [o.status for o in again.outcomes] == ["reused"] * 4
    sweep_table = (tmp_path / "results.md").read_text().split("## Learning-rate sweeps")[1]
    assert "--sweep-seeds" in sweep_table and f"| cnn | {best:.4g} |" in sweep_table
    assert sweep_table.count("| 1 | 1 |") == 2  # one seed per rate took part in the choice

    with pytest.raises(ConfigError, match="sweep_seeds must be an integer from 1 to seeds"):
        suite.replace(sweep_seeds=4)
    with pytest.raises(ConfigError, match="add --lr-sweep"):
        suite.replace(lr_sweep=())


def test_dry_run_lists_the_confirming_seeds_once(capsys):
    argv = ["bench", "--dry-run", "--archs", "gru", "--tasks", "negation_sentiment", "--lr-sweep", "1e-3,3e-3",
            "--seeds", "3", "--sweep-seeds", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 runs" in out and out.count("lr<selected>") == 2
    assert "negation_sentiment/gru/lr<selected>/seed2  after the sweep" in out
    assert "lr1e-03/seed1" not in out


def test_the_sweep_table_marks_a_choice_at_the_edge_of_the_swept_rates():
    from kerasllm.bench.report import sweep_tables

    def row(arch, rate, value):
        return {"task": "t", "arch": arch, "learning_rate": rate, "status": "ok", "validation_metric": value,
                "headline_metric": "accuracy", "lower_is_better": False, "lr_selected": False, "seed": 0}

    rows = mark_selected_rows([row("gru", 1e-3, 0.5), row("gru", 3e-3, 0.6), row("gru", 1e-2, 0.7),
                               row("cnn", 1e-3, 0.5), row("cnn", 3e-3, 0.8), row("cnn", 1e-2, 0.7),
                               row("bow", 1e-3, 0.9), row("bow", 3e-3, 0.6)])
    text = "\n".join(sweep_tables(rows))
    assert "| gru | 0.01 | 0.7 | 1 | 1 | **selected** (at the edge) |" in text  # the largest of three rates
    assert "| cnn | 0.003 | 0.8 | 1 | 1 | **selected** |" in text  # inside the sweep
    assert "| bow | 0.001 | 0.9 | 1 | 1 | **selected** |" in text  # two rates: every choice is an edge, no mark
    assert "*at the edge*: the selected rate is the smallest or the largest" in text


def test_one_sizing_serves_every_rate_of_a_sweep(tmp_path, monkeypatch):
    suite = Suite(name="sized", archs=("gru",), settings=TINY, cells=[CELL], params=3000, lr_sweep=RATES)
    searched = []
    size = Sizer.size
    monkeypatch.setattr(Sizer, "size", lambda self, config, target: searched.append(config) or size(self, config,
                                                                                                      target))
    runner = _Runner(suite, tmp_path)
    configs = [runner.sized(run)[0] for run in plan(suite, tmp_path)]
    assert len(searched) == 1 and configs[0].hidden_dim == configs[1].hidden_dim
    assert [config.learning_rate for config in configs] == list(RATES)


# ----------------------------------------------------------------------------------- suites and the CLI
def test_suites_declare_a_sweep_and_the_command_line_overrides_it(tmp_path):
    suite = Suite.from_dict({"name": "s", "cells": ["mqar"], "archs": ["gru"], "lr_sweep": [3e-4, 1e-3]})
    assert suite.lr_sweep == (3e-4, 1e-3) and Suite.from_dict(json.loads(json.dumps(suite.to_dict()))) == suite
    assert [run.name for run in plan(select(suite, lr_sweep=[1e-2]), tmp_path)] == ["mqar/gru/lr1e-02/seed0"]
    assert [run.name for run in plan(select(suite, lr_sweep=()), tmp_path)] == ["mqar/gru/seed0"]
    for bad, message in [("1e-3", "must be a list"), ([1e-3, -1.0], "positive learning rates"),
                         ([1e-3, True], "positive learning rates"), ([1e-3, 0.001], "lists a learning rate twice")]:
        with pytest.raises(ConfigError, match=message):
            Suite(name="s", cells=[Cell("mqar")], lr_sweep=bad)
    with pytest.raises(ConfigError, match="Give only one of --epochs, --steps or --tokens"):
        select(suite, steps=10, tokens=1000)


def test_a_sweep_of_factors_scales_each_architectures_own_recipe_rate(tmp_path):
    from kerasllm.models.recipes import recipe_of

    suite = Suite(name="s", archs=("gru", "transformer"), cells=[Cell("mqar")], lr_sweep=("x0.5", "x2.0"))
    assert suite.lr_sweep == ("x0.5", "x2")
    for arch in ("gru", "transformer"):
        recipe_rate = recipe_of(arch, "seq2seq")["learning_rate"]
        rates = [run.config.learning_rate for run in plan(suite, tmp_path) if run.arch == arch]
        assert rates == [0.5 * recipe_rate, 2 * recipe_rate]
    assert recipe_of("gru", "seq2seq")["learning_rate"] != recipe_of("transformer", "seq2seq")["learning_rate"]
    coinciding = suite.replace(archs=("gru",), lr_sweep=(recipe_of("gru", "seq2seq")["learning_rate"], "x1"))
    with pytest.raises(ConfigError, match="the rate 0.01 twice"):
        plan(coinciding, tmp_path)
    for bad in (["x0"], ["x"], ["xabc"], ["3x"]):
        with pytest.raises(ConfigError, match="factors of each architecture's recipe rate"):
            Suite(name="s", cells=[Cell("mqar")], lr_sweep=bad)


def test_bench_dry_run_lists_every_rate_and_the_token_budget(capsys):
    argv = ["bench", "--dry-run", "--archs", "gru,tfidf_lr", "--tasks", "negation_sentiment",
            "--lr-sweep", "1e-3,3e-3", "--tokens", "5000"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "3 runs" in out and "learning rates 0.001, 0.003" in out
    assert "negation_sentiment/gru/lr3e-03/seed0" in out and "tokens=5000 learning_rate=0.003" in out
    assert "negation_sentiment/tfidf_lr/seed0 " in out


def test_train_tokens_replaces_the_budget_of_a_config_file(tmp_path):
    from kerasllm.cli import _train_config, build_parser

    (tmp_path / "config.json").write_text(json.dumps({"task": "mqar", "arch": "gru", "steps": 40, "eval_every": 4}))
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "config.json"), "--tokens", "5000"])
    config = _train_config(args)
    assert (config.tokens, config.steps, config.epochs, config.eval_every) == (5000, None, None, 4)


@pytest.mark.parametrize("argv, message", [
    (["bench", "--lr-sweep", "abc", "--dry-run"], "expected comma-separated positive learning rates"),
    (["bench", "--lr-sweep", "x0,x1", "--dry-run"], "or factors of each architecture's recipe rate"),
    (["bench", "--lr-sweep", "1e-3,-1e-3", "--dry-run"], "expected comma-separated positive learning rates"),
    (["bench", "--lr-sweep", "1e-3,0.001", "--dry-run"], "lists a learning rate twice"),
    (["bench", "--tokens", "0", "--dry-run"], "argument --tokens: must be positive, got 0"),
    (["bench", "--tokens", "100", "--steps", "5", "--dry-run"], "not allowed with argument"),
    (["train", "--task", "mqar", "--arch", "cnn", "--tokens", "100", "--epochs", "1"], "not allowed with argument"),
    (["train", "--task", "mqar", "--arch", "cnn", "--tokens", "0"], "tokens must be at least 1, got 0"),
    (["train", "--task", "mqar", "--arch", "cnn", "--tokens", "100", "steps=5"],
     "Give only one of epochs, steps or tokens, got steps and tokens"),
])
def test_budget_and_sweep_mistakes_are_one_line_errors(argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
