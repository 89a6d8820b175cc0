"""Result rows rebuilt from run directories: the one source for tables, CSV and plots.

A bench folder holds ``<task>/<arch>/seed<k>/`` run directories. Each row comes from a run's
`config.json`, `metrics.json` (present once the run finished), `checkpoints/state.json` (the
per-validation history: learning curves, throughput) and `bench.json`, the bench's own record of
the run (status and error, peak memory, steps actually done under a time budget, sizing).

Example (a run directory with its config.json but no metrics.json yet is "unfinished"; `kerasllm.bench`'s
example has finished runs):
>>> import json, pathlib, tempfile
>>> from kerasllm.config import TrainConfig
>>> bench_dir = pathlib.Path(tempfile.mkdtemp())
>>> run_dir = bench_dir / "mqar@pairs4" / "gru" / "seed0"
>>> run_dir.mkdir(parents=True)
>>> _ = (run_dir / "config.json").write_text(json.dumps(TrainConfig(task="mqar", arch="gru").to_dict()))
>>> [(row["task"], row["arch"], row["seed"], row["status"], row["headline_metric"]) for row in collect_rows(bench_dir)]
[('mqar@pairs4', 'gru', 0, 'unfinished', 'token_accuracy')]
"""

import math
import pathlib
import statistics

from kerasllm.data.base import TASKS
from kerasllm.errors import RunDirectoryError
from kerasllm.models import list_backbones
from kerasllm.training.metrics import LOWER_IS_BETTER
from kerasllm.training.run_dir import read_json

SIDECAR = "bench.json"
MANIFEST = "manifest.json"

# results.csv columns, in order; every other validation_* / test_* metric follows, sorted.
COLUMNS = (
    "task", "task_name", "arch", "seed", "status", "error", "headline_metric", "lower_is_better",
    "metric", "validation_metric", "parameters", "params_target", "hidden_dim", "num_layers",
    "train_seconds", "train_tokens_per_second", "steady_tokens_per_second", "eval_latency_ms",
    "eval_batch_size", "peak_rss_mb", "epochs", "steps", "stopped_by_time_budget",
    "time_budget_seconds", "bench", "run_dir",
)


def _read(path):
    try:
        return read_json(path) if path.is_file() else None
    except ValueError:
        return None  # a torn file from a killed process: treat the run as unfinished


def _curve_value(metric, entry, ratio):
    """The validation headline metric from one history entry (LM metrics derive from cross-entropy)."""
    if metric in ("accuracy", "token_accuracy"):
        return entry.get("val_" + metric)
    cross_entropy = entry.get("val_cross_entropy")
    if cross_entropy is None:
        return None
    if metric == "perplexity":
        return math.exp(min(cross_entropy, 700.0))
    if metric == "bits_per_char" and ratio is not None:
        return cross_entropy / math.log(2) * ratio
    return None


def _steps_per_epoch(config, metrics, sidecar):
    if sidecar and sidecar.get("steps_per_epoch"):
        return sidecar["steps_per_epoch"]
    if config.get("steps") and config.get("eval_every"):
        return config["eval_every"]
    if metrics and metrics.get("epochs"):
        return metrics["steps"] / metrics["epochs"]
    return None


def _headline(config, metrics, sidecar):
    if metrics:
        return metrics["headline_metric"]
    if sidecar and sidecar.get("headline_metric"):
        return sidecar["headline_metric"]
    try:
        return TASKS.get(config["task"]).info.metric
    except Exception:  # an unknown (e.g. unregistered student) task: no headline known
        return None


def read_run(path, label=None, bench=None):
    """One result row (a dict) for the run directory `path`, plus its learning curve under "curve"."""
    path = pathlib.Path(path)
    config = _read(path / "config.json") or {}
    metrics = _read(path / "metrics.json")
    sidecar = _read(path / SIDECAR) or {}
    state = _read(path / "checkpoints" / "state.json") or {}
    label = label or sidecar.get("task") or path.parent.parent.name
    # The bench's label first: a student's class (file.py:Class) runs as "rnn" + a cell but is its own row.
    arch = sidecar.get("arch") or config.get("arch") or path.parent.name
    seed = config.get("seed", sidecar.get("seed"))
    if seed is None and path.name.startswith("seed") and path.name[4:].isdigit():
        seed = int(path.name[4:])
    metric = _headline(config, metrics, sidecar)
    if metrics:
        status, error = "ok", ""
    elif sidecar.get("status") == "failed":
        status, error = "failed", sidecar.get("error", "")
    else:
        status, error = "unfinished", ""
    row = {
        "task": label, "task_name": config.get("task") or sidecar.get("task_name"), "arch": arch,
        "seed": seed, "status": status, "error": error, "headline_metric": metric,
        "lower_is_better": metric in LOWER_IS_BETTER if metric else None,
        "hidden_dim": config.get("hidden_dim"), "num_layers": config.get("num_layers"),
        "params_target": (sidecar.get("sizing") or {}).get("target"),
        "time_budget_seconds": sidecar.get("time_budget_seconds"),
        "stopped_by_time_budget": sidecar.get("stopped_by_time_budget", False),
        "peak_rss_mb": sidecar.get("peak_rss_mb"), "eval_batch_size": config.get("batch_size"),
        "bench": str(bench) if bench is not None else "", "run_dir": str(path),
    }
    history = state.get("history", [])
    if metrics:
        steps = sidecar.get("steps") or metrics["steps"]
        tokens_per_second = metrics["train_tokens_per_second"]
        if metrics["steps"] and steps != metrics["steps"]:  # stopped mid-epoch by the time budget
            tokens_per_second *= steps / metrics["steps"]
        test_batches = sidecar.get("test_batches")
        row.update({
            "metric": metrics.get(f"test_{metric}"), "validation_metric": metrics.get(f"validation_{metric}"),
            "parameters": metrics["parameters"], "train_seconds": metrics["train_seconds"],
            "train_tokens_per_second": tokens_per_second, "epochs": metrics["epochs"], "steps": steps,
            "eval_latency_ms": 1000.0 * metrics["test_seconds"] / test_batches if test_batches else None,
        })
        for key, value in metrics.items():
            if key.startswith(("validation_", "test_")):
                row[key] = value
    else:
        row.update({"metric": None, "validation_metric": None, "parameters": sidecar.get("parameters"),
                    "train_seconds": state.get("train_seconds"), "train_tokens_per_second": None,
                    "epochs": state.get("epoch"), "steps": None, "eval_latency_ms": None})
    speeds = [entry["tokens_per_second"] for entry in history if "tokens_per_second" in entry]
    if row["stopped_by_time_budget"]:  # the last period is partial (older runs timed it as if whole):
        # use the whole periods, else the run's average
        speeds = speeds[:-1] or ([row["train_tokens_per_second"]] if row["train_tokens_per_second"] else [])
    row["steady_tokens_per_second"] = statistics.median(speeds[1:] or speeds) if speeds else None
    row["curve"] = _curve(metric, config, metrics, sidecar, history)
    return row


def _curve(metric, config, metrics, sidecar, history):
    """[(step, wall_seconds, validation headline value)] for each validation of the run."""
    ratio = None
    if metrics and metrics.get("validation_bits_per_token"):
        ratio = metrics.get("validation_bits_per_char", 0.0) / metrics["validation_bits_per_token"]
    steps_per_epoch = _steps_per_epoch(config, metrics, sidecar)
    last_step = sidecar.get("steps") if sidecar.get("stopped_by_time_budget") else None
    points, wall = [], 0.0
    for entry in history:
        wall += entry.get("epoch_seconds", 0.0)
        value = _curve_value(metric, entry, ratio)
        if value is None:
            continue
        step = entry["epoch"] * steps_per_epoch if steps_per_epoch else entry["epoch"]
        if last_step is not None:
            step = min(step, last_step)
        points.append((step, wall, value))
    return points


def _cell_order(root):
    manifest = _read(root / MANIFEST) or {}
    cells = (manifest.get("suite_definition") or {}).get("cells") or []
    return [cell.get("name") or cell.get("task") for cell in cells]


def collect_rows(root):
    """Rows for every run directory `root/<task>/<arch>/seed<k>/`, in suite, architecture, seed order."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise RunDirectoryError(f"{root} is not a folder. Pass a bench output folder (e.g. runs/quick/<timestamp>).")
    candidates = [p for p in root.glob("*/*/seed*")
                  if p.is_dir() and ((p / "config.json").is_file() or (p / SIDECAR).is_file())]
    rows = [read_run(p, label=p.parent.parent.name, bench=root) for p in candidates]
    return sort_rows(rows, _cell_order(root))


def sort_rows(rows, cell_order=()):
    """Sorts by cell (suite order first), architecture (registry order first), seed."""
    archs = list_backbones()
    cells = list(cell_order)

    def key(row):
        cell = row["task"]
        arch = row["arch"]
        return (cells.index(cell) if cell in cells else len(cells), cell,
                archs.index(arch) if arch in archs else len(archs), arch,
                row["seed"] if row["seed"] is not None else -1, row["bench"])

    return sorted(rows, key=key)


def merge_rows(groups):
    """Concatenates the rows of several benches; a (task, arch, seed) seen twice keeps the first."""
    merged, seen, dropped = [], set(), []
    for rows in groups:
        for row in rows:
            key = (row["task"], row["arch"], row["seed"])
            if key in seen:
                dropped.append(row)
                continue
            seen.add(key)
            merged.append(row)
    return merged, dropped
