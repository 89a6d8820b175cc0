"""`--shard I/N`: disjoint slices that together make the serial bench, run into one shared folder."""

import json

import pytest

from kerasllm.bench import Cell, Suite, plan, run_bench
from kerasllm.bench.progress import BenchLines
from kerasllm.bench.results import collect_rows, run_name
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


def test_shards_together_give_the_serial_bench(tmp_path):
    tiny = suite(lr_sweep=("x1", "x3"))
    run_bench(tiny, tmp_path / "serial", display=QUIET)
    for index in (1, 2, 3):
        run_bench(tiny, tmp_path / "sharded", display=QUIET, shard=(index, 3))
    assert _table(tmp_path / "sharded") == _table(tmp_path / "serial")
    assert len(_table(tmp_path / "serial")) == 4  # two cells x two rates; the third shard gets nothing
    shards = sorted(p.name for p in (tmp_path / "sharded" / "shards").iterdir())
    assert shards == ["1-of-3.json", "2-of-3.json", "3-of-3.json"]
    ran = [json.loads((tmp_path / "sharded" / "shards" / name).read_text())["runs"] for name in shards]
    assert sorted(sum(ran, [])) == sorted(run.name for run in plan(tiny, tmp_path / "serial"))


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
