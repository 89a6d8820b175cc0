"""`--shard I/N`: disjoint slices that together make the serial bench, run into one shared folder; and
`--executor ray`, which runs those slices as Ray tasks (here on a local Ray instance with 2 workers)."""

import csv
import json

import pytest

from kerasllm.bench import Cell, Suite, plan, run_bench
from kerasllm.bench.progress import BenchLines
from kerasllm.bench.results import collect_rows, run_name
from kerasllm.bench.ray_executor import run_bench_on_ray
from kerasllm.bench.shards import parse_shard, shard_runs
from kerasllm.cli import main
from kerasllm.errors import ConfigError

TINY = {"num_train": 32, "num_validation": 16, "num_test": 16}
QUIET = BenchLines(log=lambda line: None, keras_verbose=0)


def suite(**changes):
    return Suite(**{"name": "tiny", "archs": ("bow",), "settings": {"hidden_dim": 8, "num_layers": 1, "steps": 2, "jit_compile": False},
                    "cells": [Cell("mqar", task_options=TINY), Cell("negation_sentiment", task_options=TINY)],
                    **changes})


def _table(out):
    return {run_name(row): (row["status"], row["metric"]) for row in collect_rows(out)}


SWEPT = suite(lr_sweep=("x1", "x3"))


@pytest.fixture(scope="module")
def serial_bench(tmp_path_factory):
    """The swept tiny bench run serially: two cells x two rates (kept on one worker by conftest.py)."""
    out = tmp_path_factory.mktemp("serial")
    run_bench(SWEPT, out, display=QUIET)
    return out


def test_shards_together_give_the_serial_bench(serial_bench, tmp_path):
    for index in (1, 2, 3):
        run_bench(SWEPT, tmp_path / "sharded", display=QUIET, shard=(index, 3))
    assert _table(tmp_path / "sharded") == _table(serial_bench)
    assert len(_table(serial_bench)) == 4  # two cells x two rates; the third shard gets nothing
    shards = sorted(p.name for p in (tmp_path / "sharded" / "shards").iterdir())
    assert shards == ["1-of-3.json", "2-of-3.json", "3-of-3.json"]
    ran = [json.loads((tmp_path / "sharded" / "shards" / name).read_text())["runs"] for name in shards]
    assert sorted(sum(ran, [])) == sorted(run.name for run in plan(SWEPT, serial_bench))


def _results_csv(out):
    """results.csv without what differs between two runs of one bench on one machine: timings and folders."""
    def kept(column):
        return not column.endswith(("_seconds", "_second", "_ms", "_mb")) and column not in ("bench", "run_dir")

    with open(out / "results.csv", newline="") as f:
        return [{key: value for key, value in row.items() if kept(key)} for row in csv.DictReader(f)]


def test_ray_tasks_give_the_serial_bench(serial_bench, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run_bench_on_ray(SWEPT, tmp_path / "ray", display=QUIET)
    finally:
        ray.shutdown()
    assert sorted(o.name for o in result.outcomes) == sorted(run.name for run in plan(SWEPT, serial_bench))
    assert {o.status for o in result.outcomes} == {"ok"}
    assert _results_csv(tmp_path / "ray") == _results_csv(serial_bench)
    assert "metric" in _results_csv(serial_bench)[0] and "lr_selected" in _results_csv(serial_bench)[0]
    # One task per (cell, arch), its two rates together: two shards of two.
    assert sorted(p.name for p in (tmp_path / "ray" / "shards").iterdir()) == ["1-of-2.json", "2-of-2.json"]


def test_ray_executor_options_are_checked_in_one_line(capsys):
    with pytest.raises(ConfigError, match="drop --shard"):
        run_bench_on_ray(SWEPT, "/tmp/unused-ray", shard=(1, 2))
    assert main(["bench", "--ray-cpus", "2", "--out", "/tmp/unused-ray"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_fine_tuning_cell_stays_with_the_cell_it_starts_from():
    chained = suite(cells=[Cell("negation_sentiment", name="pre"), Cell("mqar"),
                           Cell("negation_sentiment", name="tuned", init_from_cell="pre")])
    runs = plan(chained, "/tmp/unused")
    for index in (1, 2):
        mine = shard_runs(runs, chained, (index, 2))
        for run in mine:
            if run.label == "tuned":
                assert any(other.label == "pre" and other.arch == run.arch for other in mine)


@pytest.mark.parametrize("text", ["0/2", "3/2", "a/b", "2"])
def test_a_bad_shard_is_refused_in_one_line(text, capsys):
    with pytest.raises(ConfigError, match="--shard takes I/N"):
        parse_shard(text)
    assert main(["bench", "--shard", text, "--out", "/tmp/unused-shard", "--dry-run"]) == 2
    assert "--shard takes I/N" in capsys.readouterr().err
