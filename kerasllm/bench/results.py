"""Result rows rebuilt from run directories: the one source for tables, CSV and plots.

A bench folder holds ``<task>/<arch>/seed<k>/`` run directories (in a learning-rate sweep,
``<task>/<arch>/lr<rate>/seed<k>/``, see `kerasllm.bench.lr_sweep`). Each row comes from a run's
`config.json`, `metrics.json` (present once the run finished), `checkpoints/state.json` (the
per-validation history: learning curves, throughput) and `bench.json`, the bench's own record of
the run (status and error, peak memory, steps actually done under a time budget, sizing).

Every row also carries two flags, so a table never lets an untrained run read as a result:

- **still improving** (`convergence`): the run's validation headline metric was still getting better
  over the last 20% of its validations (the rule is in `convergence`'s docstring); with fewer than
  3 validations it cannot be judged and the flag is empty ("unknown");
- **at chance** (`at_chance`): the test headline metric closes less than 5% of the gap between the
  task's trivial baseline (`trivial_baseline`: the best score of a predictor that ignores its input)
  and a perfect score. `collect_rows` computes the baseline once per task from the task's test split.

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

import collections
import dataclasses
import hashlib
import json
import math
import pathlib
import statistics
from typing import Optional

import numpy as np

from kerasllm.bench.lr_sweep import mark_selected, rate_label, rate_of
from kerasllm.data.base import TASKS, get_task
from kerasllm.data.objectives import objective_info, objective_task
from kerasllm.data.pipeline import encode_split
from kerasllm.errors import RunDirectoryError
from kerasllm.models import list_backbones
from kerasllm.models.hub import hub_preset
from kerasllm.tokenizers.base import Tokenizer
from kerasllm.training.baselines import BASELINES
from kerasllm.training.metrics import LOWER_IS_BETTER
from kerasllm.training.text_metrics import METRICS_OF_HEADLINE, corpus_scores, text_metrics_for
from kerasllm.training.run_dir import read_json
from kerasllm.training.trainer import DEFAULT_EPOCHS

SIDECAR = "bench.json"
MANIFEST = "manifest.json"

# results.csv columns, in order; every other validation_* / test_* metric follows, sorted.
COLUMNS = (
    "task", "task_name", "arch", "seed", "status", "error", "headline_metric", "lower_is_better",
    "metric", "validation_metric", "still_improving", "validations", "best_validation_step", "recent_gain",
    "at_chance", "trivial_baseline", "parameters", "params_target", "hidden_dim", "num_layers",
    "learning_rate", "lr_selected", "train_seconds", "train_tokens_per_second", "steady_tokens_per_second",
    "eval_latency_ms", "eval_batch_size", "peak_memory_mb", "memory_source", "budget", "epochs", "steps",
    "train_tokens", "train_flops_per_token", "stopped_by_time_budget", "time_budget_seconds", "bench", "run_dir",
)


# The "still improving" rule (see `convergence`) and the "at chance" margin (see `at_chance`).
RECENT_FRACTION = 0.2       # the last 20% of the validations ...
MIN_VALIDATIONS = 3         # ... of a run with at least this many; fewer cannot be judged
MIN_RELATIVE_GAIN = 1e-3    # an improvement counts when it beats the earlier best by more than 0.1%
CHANCE_MARGIN = 0.05        # at chance: closes less than 5% of the gap from the trivial baseline to perfect
PERFECT = {"accuracy": 1.0, "token_accuracy": 1.0, "perplexity": 1.0, "bits_per_char": 0.0, "bleu": 100.0,
           "rouge1": 100.0}
TRIVIAL_BASELINES = {  # what `trivial_baseline` computes, per headline metric (the report's legend says it)
    "accuracy": "the majority-class rate of the test split",
    "token_accuracy": "the test split's most frequent target token at each target position",
    "perplexity": "the unigram distribution of the test split itself",
    "bits_per_char": "the unigram distribution of the test split itself",
    "bleu": "the test split's most frequent target, written for every source",
    "rouge1": "the test split's most frequent target, written for every source",
}


def _read(path):
    try:
        return read_json(path) if path.is_file() else None
    except ValueError:
        return None  # a torn file from a killed process: treat the run as unfinished


def _curve_value(metric, entry, ratio):
    """The validation headline metric from one history entry (LM metrics derive from cross-entropy)."""
    if metric in ("accuracy", "token_accuracy", *METRICS_OF_HEADLINE):
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


def budget_of(config, time_budget=None):
    """How long a run was asked to train, in words: its steps, epochs or tokens, and any time budget.

    Example:
    >>> budget_of({"tokens": 100000}), budget_of({"steps": 400}, time_budget=60), budget_of({})
    ('100,000 tokens', '400 steps or 60 s of training, whichever ends first', '3 epochs')
    """
    if config.get("tokens") is not None:
        text = f"{config['tokens']:,} tokens"
    elif config.get("steps") is not None:
        text = f"{config['steps']:,} steps"
    else:
        text = f"{config.get('epochs') or DEFAULT_EPOCHS} epochs"
    return f"{text} or {time_budget:g} s of training, whichever ends first" if time_budget else text


def _headline(config, metrics, sidecar):
    if metrics:
        return metrics["headline_metric"]
    if sidecar and sidecar.get("headline_metric"):
        return sidecar["headline_metric"]
    try:
        return objective_info(TASKS.get(config["task"]).info, config.get("objective")).metric
    except Exception:  # an unknown (e.g. unregistered student) task: no headline known
        return None


def read_run(path, label=None, bench=None):
    """One result row (a dict) for the run directory `path`, plus its learning curve under "curve"."""
    path = pathlib.Path(path)
    config = _read(path / "config.json") or {}
    metrics = _read(path / "metrics.json")
    sidecar = _read(path / SIDECAR) or {}
    state = _read(path / "checkpoints" / "state.json") or {}
    folder_rate = rate_of(path.parent.name)  # a run of a learning-rate sweep: <cell>/<arch>/lr<rate>/seed<k>
    arch_dir = _arch_folder(path)
    label = label or sidecar.get("task") or arch_dir.parent.name
    # The bench's label first: a student's class (file.py:Class) runs as "rnn" + a cell but is its own row.
    arch = sidecar.get("arch") or config.get("arch") or arch_dir.name
    baseline = config.get("arch") in BASELINES  # tfidf_lr: no learning rate, no step budget
    preset = hub_preset(config.get("arch") or "") is not None
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
        # a keras-hub preset has its own sizes; the config's hidden_dim and num_layers are unused defaults there
        "hidden_dim": None if preset else config.get("hidden_dim"),
        "num_layers": None if preset else config.get("num_layers"),
        "learning_rate": folder_rate or (None if baseline else config.get("learning_rate")),
        "lr_selected": None if folder_rate is None else False,  # set by `mark_selected` (needs every rate's row)
        "params_target": (sidecar.get("sizing") or {}).get("target"),
        "budget": None if baseline or not config else budget_of(config, sidecar.get("time_budget_seconds")),
        "time_budget_seconds": sidecar.get("time_budget_seconds"),
        "stopped_by_time_budget": sidecar.get("stopped_by_time_budget", False),
        # the run's own peak (`PeakMemory`); a bench from before it kept the process's RSS, as peak_rss_mb
        "peak_memory_mb": sidecar.get("peak_memory_mb", sidecar.get("peak_rss_mb")),
        "memory_source": sidecar.get("memory_source"), "eval_batch_size": config.get("batch_size"),
        "bench": str(bench) if bench is not None else "", "run_dir": str(path),
    }
    history = state.get("history", [])
    if metrics:
        steps = sidecar.get("steps") or metrics["steps"]
        tokens_per_second = metrics["train_tokens_per_second"]
        train_tokens = metrics.get("train_tokens")  # None in runs from before it was recorded
        if metrics["steps"] and steps != metrics["steps"]:  # stopped mid-epoch by the time budget
            tokens_per_second *= steps / metrics["steps"]
            train_tokens = round(train_tokens * steps / metrics["steps"]) if train_tokens is not None else None
        test_batches = sidecar.get("test_batches")
        test_seconds = metrics.get("test_seconds")  # a swept run has none until its rate is selected
        latency = 1000.0 * test_seconds / test_batches if test_batches and test_seconds is not None else None
        row.update({
            "metric": metrics.get(f"test_{metric}"), "validation_metric": metrics.get(f"validation_{metric}"),
            "parameters": metrics["parameters"], "train_seconds": metrics["train_seconds"],
            "train_tokens_per_second": tokens_per_second, "epochs": metrics["epochs"], "steps": steps,
            "train_tokens": train_tokens, "train_flops_per_token": metrics.get("train_flops_per_token"),
            "eval_latency_ms": latency,
        })
        for key, value in metrics.items():
            if key.startswith(("validation_", "test_")):
                row[key] = value
    else:
        row.update({"metric": None, "validation_metric": None, "parameters": sidecar.get("parameters"),
                    "train_seconds": state.get("train_seconds"), "train_tokens_per_second": None,
                    "epochs": state.get("epoch"), "steps": None, "train_tokens": None,
                    "train_flops_per_token": None, "eval_latency_ms": None})
    speeds = [entry["tokens_per_second"] for entry in history if "tokens_per_second" in entry]
    if row["stopped_by_time_budget"]:  # the last period is partial (older runs timed it as if whole):
        # use the whole periods, else the run's average
        speeds = speeds[:-1] or ([row["train_tokens_per_second"]] if row["train_tokens_per_second"] else [])
    row["steady_tokens_per_second"] = statistics.median(speeds[1:] or speeds) if speeds else None
    row["curve"] = _curve(metric, config, metrics, sidecar, history, _bits_ratio(metrics))
    row.update(_convergence_fields(metric, config, metrics, sidecar, history, row["curve"]))
    row.update({"trivial_baseline": None, "at_chance": None})  # set by `add_chance_flags` (needs the task)
    return row


def _bits_ratio(metrics):
    """Tokens per character of the validation split (bits/char = bits/token x this), if known."""
    if metrics and metrics.get("validation_bits_per_token"):
        return metrics.get("validation_bits_per_char", 0.0) / metrics["validation_bits_per_token"]
    return None


def _curve(metric, config, metrics, sidecar, history, ratio=None):
    """[(step, wall_seconds, validation headline value)] for each validation of the run."""
    steps_per_epoch = _steps_per_epoch(config, metrics, sidecar)
    last_step = sidecar.get("steps") if sidecar.get("stopped_by_time_budget") else None
    points, wall = [], 0.0
    for entry in history:
        wall += entry.get("epoch_seconds", 0.0)
        value = _curve_value(metric, entry, ratio)
        if value is None or not math.isfinite(value):
            continue
        step = entry["epoch"] * steps_per_epoch if steps_per_epoch else entry["epoch"]
        if last_step is not None:
            step = min(step, last_step)
        points.append((step, wall, value))
    return points


@dataclasses.dataclass(frozen=True)
class Convergence:
    """Whether a run's validation metric was still improving when training stopped (see `convergence`).

    Attributes:
        validations: how many validations the run has.
        best_index: 1-based index of the best validation (its first occurrence), None without any.
        still_improving: True / False, or None when there are too few validations to judge.
        recent_gain: how much the best of the last validations beats the best before them, relative to
            the latter and signed so that positive is better (None when not judged).
    """

    validations: int
    best_index: Optional[int]
    still_improving: Optional[bool]
    recent_gain: Optional[float]


def convergence(values, lower_is_better, perfect=None):
    """Judges whether validation was still improving over the last part of training.

    The rule: let v_1 .. v_n be the run's validation headline values in order (one per validation,
    from checkpoints/state.json) and k = ceil(n / 5), the last 20% of them (at least one). The run is
    **still improving** when the best of v_(n-k+1) .. v_n beats the best of v_1 .. v_(n-k) by more than
    0.1% of the latter (in the metric's own direction: higher accuracy, lower perplexity or bits per
    character), unless that best already is the metric's perfect value (accuracy 1), which cannot
    improve. A run with fewer than 3 validations is not judged (`still_improving` is None, "unknown").
    Put as early stopping would: a patience of k validations with a relative `min_delta` of 0.1% would
    not yet have stopped the run.

    Args:
        values: the validation headline values, in order.
        lower_is_better: the metric's direction (`kerasllm.training.metrics.LOWER_IS_BETTER`).
        perfect: the metric's best possible value, or None.

    Returns:
        `Convergence`.

    Example (a run that kept improving, one that peaked early, one too short to judge):
    >>> convergence([0.5, 0.6, 0.7, 0.75, 0.8], lower_is_better=False).still_improving
    True
    >>> result = convergence([9.0, 4.0, 4.5, 4.4, 4.3], lower_is_better=True)
    >>> result.still_improving, result.best_index, round(result.recent_gain, 3)
    (False, 2, -0.075)
    >>> convergence([0.5, 0.9], lower_is_better=False).still_improving is None
    True
    """
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return Convergence(0, None, None, None)
    sign = -1.0 if lower_is_better else 1.0  # compare sign * value: larger is better
    best_index = max(range(n), key=lambda i: (sign * values[i], -i)) + 1  # first occurrence of the best
    if n < MIN_VALIDATIONS:
        return Convergence(n, best_index, None, None)
    k = max(1, math.ceil(RECENT_FRACTION * n))
    earlier = max(sign * v for v in values[:-k])
    recent = max(sign * v for v in values[-k:])
    gain = (recent - earlier) / abs(earlier) if earlier != 0 else recent - earlier
    improving = gain > MIN_RELATIVE_GAIN
    if perfect is not None and recent >= sign * perfect:
        improving = False  # already perfect: nothing left to gain
    return Convergence(n, best_index, improving, gain)


def _convergence_fields(metric, config, metrics, sidecar, history, curve):
    """The row's still_improving / validations / best_validation_step / recent_gain."""
    if metric == "bits_per_char" and _bits_ratio(metrics) is None:
        # bits/char is bits/token times a constant: the same best validation and the same relative gains
        curve = _curve("bits_per_char", config, metrics, sidecar, history, ratio=1.0)
    if not metric:
        curve = []
    result = convergence([value for _, _, value in curve], metric in LOWER_IS_BETTER, PERFECT.get(metric))
    return {
        "still_improving": result.still_improving, "validations": result.validations,
        "best_validation_step": curve[result.best_index - 1][0] if result.best_index else None,
        "recent_gain": result.recent_gain,
    }


# ------------------------------------------------------------------------------------ at chance
def trivial_baseline(task, tokenizer=None, max_length=None):
    """The test-split headline score of the best predictor that ignores its input, chosen with hindsight.

    - classification (accuracy): the majority-class rate of the test split (never below 1/num_classes);
    - seq2seq (token_accuracy): at each target position, the test split's most frequent target token
      there, scored as token_accuracy is (the target tokens and the final eos);
    - seq2seq scored on text (bleu, rouge1): the test split's most frequent target written for every source;
    - lm (perplexity or bits_per_char): the unigram distribution of the test split itself, scored on it.

    Chosen on the test split itself, it is at least as good as any such predictor fitted on the
    training data, so "at chance" errs towards flagging. It reads the task's test split only (and
    encodes it with `tokenizer` for seq2seq and lm tasks): cheap next to training.

    Args:
        task: a `kerasllm.data.Task`.
        tokenizer: the run's fitted tokenizer (not needed for classification).
        max_length: tokens per sequence, as the run was trained (default: the task's).

    Returns:
        The baseline value of the task's headline metric, or None for a metric it does not cover.

    Example:
    >>> from kerasllm.data import get_task
    >>> task = get_task("negation_sentiment", num_train=16, num_validation=16, num_test=200)
    >>> 0.5 <= trivial_baseline(task) < 0.6
    True
    """
    info = task.info
    if info.kind == "classification":
        if info.metric != "accuracy":
            return None
        labels = np.asarray(task.split("test").labels)
        return float(np.bincount(labels).max() / len(labels))
    if info.metric in METRICS_OF_HEADLINE:
        test = task.split("test")
        constant = collections.Counter(test.targets).most_common(1)[0][0]
        return corpus_scores([constant] * len(test), test.all_references(), text_metrics_for(info.metric))[info.metric]
    encoded = encode_split(task, "test", tokenizer, max_length or info.max_length)
    weights = encoded.weights > 0
    if info.kind == "seq2seq":
        if info.metric != "token_accuracy":
            return None
        # the k-th weighted target of each row, counted per k
        offsets = np.cumsum(weights, axis=1) - 1
        counts = collections.Counter(zip(offsets[weights].tolist(), encoded.targets[weights].tolist()))
        best = collections.Counter()
        for (offset, _), count in counts.items():
            best[offset] = max(best[offset], count)
        return float(sum(best.values()) / weights.sum())
    tokens = encoded.targets[weights]
    frequencies = np.bincount(tokens) / len(tokens)
    frequencies = frequencies[frequencies > 0]
    entropy = float(-(frequencies * np.log(frequencies)).sum())  # nats per token
    if info.metric == "perplexity":
        return math.exp(entropy)
    if info.metric == "bits_per_char":
        return entropy / math.log(2) * len(tokens) / encoded.num_characters
    return None


def at_chance(value, baseline, metric):
    """True when `value` closes less than 5% of the gap from `baseline` to the metric's perfect score.

    Accuracy 0.51 with a baseline of 0.5 is at chance (the bar is 0.5 + 0.05 x 0.5 = 0.525); so is any
    value worse than the baseline. Perfect scores: accuracy 1, perplexity 1, bits per character 0.
    None when it cannot be judged (no value, no baseline, or a baseline that already is perfect).

    Example:
    >>> at_chance(0.51, 0.5, "accuracy"), at_chance(0.6, 0.5, "accuracy"), at_chance(690.0, 700.0, "perplexity")
    (True, False, True)
    """
    if value is None or baseline is None or metric not in PERFECT:
        return None
    gap = PERFECT[metric] - baseline  # signed: positive when higher is better
    if gap == 0:
        return None
    return (value - baseline) / gap < CHANCE_MARGIN


def _baseline_key(config, run_dir):
    """What a task's baseline depends on: its data settings, and for seq2seq / lm the run's tokenizer."""
    try:
        info = objective_info(TASKS.get(config["task"]).info, config.get("objective"))
        classification = info.kind == "classification"
    except Exception:  # an unknown task: `_baseline_for` fails on it too
        classification = False
    tokenizer = run_dir / "tokenizer.json"
    digest = None
    if not classification and tokenizer.is_file():
        digest = hashlib.sha1(tokenizer.read_bytes()).hexdigest()
    return json.dumps([config.get("task"), config.get("task_options") or {}, config.get("data_dir"),
                       config.get("max_length"), config.get("objective"), digest], sort_keys=True, default=str)


def _baseline_for(config, run_dir):
    task = get_task(config["task"], data_dir=config.get("data_dir"), **(config.get("task_options") or {}))
    task = objective_task(task, config.get("objective"))  # an objective run's baseline is on the text it modelled
    tokenizer = None
    if task.info.kind != "classification":
        tokenizer = Tokenizer.load(run_dir / "tokenizer.json")
    return trivial_baseline(task, tokenizer, config.get("max_length"))


def add_chance_flags(rows):
    """Sets "trivial_baseline" and "at_chance" on every finished row, computing each task's baseline once.

    A task whose data cannot be read any more (a moved --data-dir, an unregistered student task) gets
    no baseline: both fields stay empty.
    """
    baselines = {}
    for row in rows:
        row.setdefault("trivial_baseline", None)
        row.setdefault("at_chance", None)
        if row["status"] != "ok" or row.get("metric") is None:
            continue
        run_dir = pathlib.Path(row["run_dir"])
        config = _read(run_dir / "config.json") or {}
        if not config.get("task"):
            continue
        key = _baseline_key(config, run_dir)
        if key not in baselines:
            try:
                baselines[key] = _baseline_for(config, run_dir)
            except Exception:  # the flag is a courtesy; a run whose data is gone still reports
                baselines[key] = None
        row["trivial_baseline"] = baselines[key]
        row["at_chance"] = at_chance(row["metric"], baselines[key], row["headline_metric"])
    return rows


def _cell_order(root):
    manifest = _read(root / MANIFEST) or {}
    cells = (manifest.get("suite_definition") or {}).get("cells") or []
    return [cell.get("name") or cell.get("task") for cell in cells]


def _arch_folder(path):
    """`<cell>/<arch>` of a run directory `<cell>/<arch>/seed<k>` or, in a sweep, `<cell>/<arch>/lr<rate>/seed<k>`."""
    return path.parent.parent if rate_of(path.parent.name) is not None else path.parent


def run_directories(root):
    """The run directories of the bench folder `root` (those with a config.json or a bench.json)."""
    root = pathlib.Path(root)
    found = [*root.glob("*/*/seed*"), *(p for p in root.glob("*/*/*/seed*") if rate_of(p.parent.name) is not None)]
    return [p for p in found if p.is_dir() and ((p / "config.json").is_file() or (p / SIDECAR).is_file())]


def collect_rows(root):
    """Rows for every run directory of `root` (`run_directories`), in suite, architecture, learning rate and
    seed order, with the selected rates of sweeps (`mark_selected`) and the "at chance" flags (`add_chance_flags`)
    set."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise RunDirectoryError(f"{root} is not a folder. Pass a bench output folder (e.g. runs/quick/<timestamp>).")
    return sort_rows(add_chance_flags(mark_selected(read_rows(root))), _cell_order(root))


def read_rows(root):
    """`read_run` of every run directory of the bench folder `root`, labelled by its cell folder; no flags.

    In a sweep whose suite trains fewer seeds at every rate (`Suite.sweep_seeds`), a row of a later seed has
    `lr_confirms` True: it confirms the selected rate and takes no part in choosing it."""
    suite = (_read(pathlib.Path(root) / MANIFEST) or {}).get("suite_definition") or {}
    sweep_seeds = suite.get("sweep_seeds")
    rows = [read_run(p, label=_arch_folder(p).parent.name, bench=root) for p in run_directories(root)]
    for row in rows:
        row["lr_confirms"] = (row["lr_selected"] is not None and sweep_seeds is not None
                              and row["seed"] is not None and row["seed"] >= sweep_seeds)
    return rows


def swept_rate(row):
    """The learning rate of a row from a sweep, None for a row outside one."""
    return row.get("learning_rate") if row.get("lr_selected") is not None else None


def run_name(row):
    """The run's folder below the bench folder: `<task>/<arch>/seed<k>` or `<task>/<arch>/lr<rate>/seed<k>`."""
    rate = swept_rate(row)
    return f"{row['task']}/{row['arch']}/" + (f"{rate_label(rate)}/" if rate is not None else "") + f"seed{row['seed']}"


def sort_rows(rows, cell_order=()):
    """Sorts by cell (suite order first), architecture (registry order first), swept learning rate, seed."""
    archs = list_backbones()
    cells = list(cell_order)

    def key(row):
        cell = row["task"]
        arch = row["arch"]
        rate = swept_rate(row)
        return (cells.index(cell) if cell in cells else len(cells), cell,
                archs.index(arch) if arch in archs else len(archs), arch, rate if rate is not None else -1.0,
                row["seed"] if row["seed"] is not None else -1, row["bench"])

    return sorted(rows, key=key)


def merge_rows(groups):
    """Concatenates the rows of several benches; a (task, arch, swept rate, seed) seen twice keeps the first."""
    merged, seen, dropped = [], set(), []
    for rows in groups:
        for row in rows:
            key = (row["task"], row["arch"], swept_rate(row), row["seed"])
            if key in seen:
                dropped.append(row)
                continue
            seen.add(key)
            merged.append(row)
    return merged, dropped
