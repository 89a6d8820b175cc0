"""The test split of a learning-rate sweep, evaluated only for the selected rate's runs.

A swept run trains and validates only (`Trainer.fit(evaluate=("validation",))`). When every run of the
bench has finished, `evaluate_selected(out)` reads the rows of the bench folder, selects each (cell,
arch)'s rate on validation (`kerasllm.bench.lr_sweep.select_rates`), opens each finished run of a
selected rate with `kerasllm.training.open_run`, evaluates its best model on the test split, and adds the
`test_*` metrics to its metrics.json in one atomic write. A run whose rate is not selected (any more:
a resumed bench with more seeds may choose another rate) has its `test_*` metrics taken out, so only a
selected rate ever shows a test number. Runs that already hold the right metrics are left alone, so
rerunning a finished bench evaluates nothing.

Example (a bench folder of two swept runs, both with test metrics: the worse rate's are removed):
>>> import json, pathlib, tempfile
>>> from kerasllm.bench.lr_sweep import rate_label
>>> from kerasllm.config import TrainConfig
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> for rate, value in [(1e-3, 0.9), (3e-3, 0.5)]:
...     run = out / "negation_sentiment" / "gru" / rate_label(rate) / "seed0"
...     run.mkdir(parents=True)
...     config = TrainConfig(task="negation_sentiment", arch="gru", learning_rate=rate)
...     _ = (run / "config.json").write_text(json.dumps(config.to_dict()))
...     _ = (run / "metrics.json").write_text(json.dumps({
...         "headline_metric": "accuracy", "validation_accuracy": value, "test_accuracy": value,
...         "test_seconds": 0.1, "parameters": 10, "train_seconds": 1.0, "train_tokens_per_second": 5.0,
...         "epochs": 1, "steps": 1}))
>>> evaluate_selected(out)
negation_sentiment/gru/lr3e-03/seed0: rate not selected, test metrics removed
['negation_sentiment/gru/lr3e-03/seed0']
>>> sorted(json.loads((run / "metrics.json").read_text()))[:3]
['epochs', 'headline_metric', 'parameters']
"""

import pathlib

import keras

from kerasllm.bench.lr_sweep import mark_selected
from kerasllm.bench.results import read_rows, run_name
from kerasllm.config import TrainConfig
from kerasllm.training import open_run
from kerasllm.training.run_dir import read_json, write_json_atomic


def evaluate_selected(out, trusted=(), log=print, cells=None):
    """Gives the selected rates' finished runs in `out` their test metrics and takes them from the others.

    Args:
        out: the bench folder.
        trusted: import paths (`file.py:Class`) the bench itself runs; a run whose config names only
            these may load that code (`open_run(..., trust_code=True)`), any other is refused.
        log: function that prints one line per run it changes (or fails to evaluate).
        cells: the `(cell, arch)` pairs to consider (a shard's own; another shard's sweep may be unfinished),
            or None for all.

    Returns:
        The names (`<cell>/<arch>/lr<rate>/seed<k>`) of the runs whose metrics.json changed.
    """
    changed = []
    for row in sorted(mark_selected(read_rows(out)), key=run_name):
        if row["status"] != "ok" or row["lr_selected"] is None:
            continue
        if cells is not None and (row["task"], row["arch"]) not in cells:
            continue
        path = pathlib.Path(row["run_dir"])
        metrics = read_json(path / "metrics.json")
        tested = any(key.startswith("test_") for key in metrics)
        if row["lr_selected"] == tested:
            continue
        name = run_name(row)
        if tested:
            metrics = {key: value for key, value in metrics.items() if not key.startswith("test_")}
            line = f"{name}: rate not selected, test metrics removed"
        else:
            try:
                metrics.update({f"test_{key}": value for key, value in _test_metrics(path, trusted).items()})
            except Exception as error:  # the row stays without a test number; the next run of the bench retries
                log(f"{name}: test evaluation FAILED: {type(error).__name__}: {error}")
                continue
            finally:
                keras.backend.clear_session()
            metric = row["headline_metric"]
            line = f"{name}: rate selected, test {metric}={metrics.get(f'test_{metric}', float('nan')):.4g}"
        write_json_atomic(path / "metrics.json", metrics)
        log(line)
        changed.append(name)
    return changed


def _test_metrics(path, trusted):
    config = TrainConfig.from_file(path / "config.json", trust_code=True)  # reading imports nothing
    trust = set(config.import_paths()) <= set(trusted)
    return open_run(path, trust_code=trust).evaluate("test")
