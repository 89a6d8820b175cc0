"""The bench runner: every (cell, architecture, seed) of a suite through the one Trainer.

Each run is a Trainer run in ``OUT/<task>/<arch>/seed<k>/`` (a baseline such as tfidf_lr runs its own
training function there, see `kerasllm.training.baselines`, and reads back as the same row). A suite with
a learning-rate sweep (`Suite.lr_sweep`) runs each rate in ``OUT/<task>/<arch>/lr<rate>/seed<k>/``,
evaluated on validation only; once all runs are done, the selected rate's runs get their test metrics
(`kerasllm.bench.deferred_test`). A run that raises is recorded (its error goes to the run's `bench.json`
and the tables) and the bench goes on. Running the same bench with the same OUT resumes: finished runs
(those with a metrics.json) are reused untouched, unfinished ones resume from their last checkpoint,
failed ones are retried, and a sweep's selection is made again. At the end the runner writes
one TensorBoard HParams experiment per task folder (`kerasllm.bench.hparams`), results.csv, results.md,
plots/, prints the table and, per task, the `tensorboard --logdir OUT/<task>` command that compares its
architectures (each run shows as `<arch>/seed<k>/train` and `<arch>/seed<k>/validation`).

Example (a tiny suite: one cell, one architecture, two steps; `load_suite("quick")` is the real one):
>>> import tempfile
>>> from kerasllm.bench import Cell, Suite, run_bench
>>> from kerasllm.bench.progress import BenchLines
>>> suite = Suite(name="tiny", archs=("bow",), settings={"hidden_dim": 8, "num_layers": 1, "steps": 2},
...               cells=[Cell("mqar", task_options={"num_train": 32, "num_validation": 16, "num_test": 16})])
>>> result = run_bench(suite, tempfile.mkdtemp(), display=BenchLines(log=lambda line: None, keras_verbose=0))
>>> [(outcome.name, outcome.status) for outcome in result.outcomes]
[('mqar/bow/seed0', 'ok')]
"""

import dataclasses
import datetime
import math
import pathlib
import shlex
import time
import traceback

import keras

from kerasllm.bench.callbacks import PeakMemory, TimeBudget
from kerasllm.bench.deferred_test import evaluate_selected
from kerasllm.bench.hparams import final_metrics, has_hparams, hparams_of, write_experiment, write_hparams
from kerasllm.bench.lr_sweep import entries_text, rate_label, select_rates
from kerasllm.bench.progress import BenchLines
from kerasllm.bench.report import write_report
from kerasllm.bench.results import MANIFEST, SIDECAR, collect_rows, read_rows
from kerasllm.bench.shards import shard_file_name, shard_runs
from kerasllm.bench.sizing import Sizer
from kerasllm.bench.suite import first_and_confirming, plan
from kerasllm.bench.text_samples import write_text_samples
from kerasllm.errors import RunDirectoryError
from kerasllm.models.hub import hub_preset
from kerasllm.training.progress import clock as _clock
from kerasllm.training import Trainer
from kerasllm.training.baselines import BASELINES
from kerasllm.training.run_dir import RunDirectory, manifest, read_json, write_json_atomic
from kerasllm.training.trainer import EVALUATED_SPLITS

SIZING_FILE = "sizing.json"
SHARDS = "shards"  # a sharded bench's invocations, one file per shard
# Settings that do not change a model's size: one sizing serves every seed and every swept learning rate.
NOT_SIZED = ("seed", "learning_rate")


def default_bench_path(suite_name, root="runs"):
    """`root/<suite>/<timestamp>`, made unique if that timestamp is taken."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = pathlib.Path(root) / suite_name / stamp
    candidate, n = base, 1
    while candidate.exists():
        candidate, n = base.with_name(f"{stamp}-{n}"), n + 1
    return candidate


@dataclasses.dataclass
class RunOutcome:
    """What happened to one planned run in this invocation."""

    name: str
    status: str  # "ok" (trained now), "reused" (finished before), "failed"
    seconds: float = 0.0
    metric: str = ""
    value: float = None
    error: str = ""
    split: str = "test"  # the split `value` is measured on: "validation" for a run of a learning-rate sweep


@dataclasses.dataclass
class BenchResult:
    """The bench folder, this invocation's outcomes and the report written at the end."""

    out: pathlib.Path
    outcomes: list
    report: object

    @property
    def failed(self):
        return [o for o in self.outcomes if o.status == "failed"]


def _write_manifest(out, suite, runs, command, shard=None):
    """The bench's manifest.json (its suite, runs and invocations), or for one shard `shards/<I>-of-<N>.json`
    (shards write side by side; the first one to start also writes manifest.json, for the report's cell order)."""
    if shard is not None:
        if not (out / MANIFEST).is_file():
            _write_manifest(out, suite, first_and_confirming(plan(suite, out))[0], command)
        (out / SHARDS).mkdir(exist_ok=True)
        path = out / SHARDS / shard_file_name(shard)
    else:
        path = out / MANIFEST
    previous = read_json(path) if path.is_file() else {}
    info = manifest((runs or plan(suite, out))[0].config)  # a shard may get no runs: any run's versions will do
    invocation = {"command": command if command is not None else info["command"], "created": info["created"]}
    payload = {
        "suite": suite.name,
        "suite_definition": suite.to_dict(),
        "runs": [run.name for run in runs],
        **{key: value for key, value in info.items() if key not in ("config", "seed", "command", "created")},
        "invocations": [*previous.get("invocations", []), invocation],
    }
    write_json_atomic(path, payload)


class _Runner:
    def __init__(self, suite, out, display=None):
        self.suite, self.out = suite, out
        self.display = display or BenchLines()
        self.sizer = Sizer() if suite.params else None
        self.sizing_path = out / SIZING_FILE
        self.sizings = read_json(self.sizing_path) if self.sizing_path.is_file() else {}
        self.sizing_errors = {}  # (cell, arch) -> the error, so other seeds do not search again

    # ------------------------------------------------------------------------------ sizing
    def sized(self, run):
        """The run's config, with the width matched to the suite's parameter budget if it has one."""
        if not self.suite.params or run.config.arch in BASELINES:  # a baseline has no width to size
            return run.config, None
        if hub_preset(run.config.arch) is not None:  # pretrained weights: the preset fixes every size
            self.display.log(f"{run.name}: not sized to {self.suite.params:,} parameters (a keras-hub preset's "
                             "sizes are fixed)")
            return run.config, {"target": None, "skipped": "a keras-hub preset's sizes are fixed"}
        if run.config.init_from:  # fine-tuning: the sizes of the run it starts from (sized on its own cell)
            earlier = RunDirectory(run.config.init_from).config_path
            if earlier.is_file():
                saved = read_json(earlier)
                return run.config.replace(hidden_dim=saved["hidden_dim"], arch_options=saved["arch_options"]), None
        base = run.config.replace(seed=0)
        key = f"{run.label}/{run.arch}"
        cached = self.sizings.get(key)
        if cached is None or _sized_part(cached.get("base_config")) != _sized_part(base.to_dict()) \
                or cached["target"] != self.suite.params:
            if key in self.sizing_errors:
                raise self.sizing_errors[key]
            try:
                result = self.sizer.size(base, self.suite.params)
            except Exception as error:
                self.sizing_errors[key] = error
                raise
            cached = {**result.to_dict(), "base_config": base.to_dict()}
            self.sizings[key] = cached
            write_json_atomic(self.sizing_path, self.sizings)
        config = run.config.replace(hidden_dim=cached["hidden_dim"], arch_options=dict(cached["arch_options"]))
        sizing = {k: cached[k] for k in ("target", "hidden_dim", "arch_options", "parameters", "relative_error")}
        return config, sizing

    # ------------------------------------------------------------------------------ one run
    def reuse(self, run, config):
        changed = config.changes_from(read_json(run.path / "config.json"))
        if changed:
            raise RunDirectoryError(
                f"{run.path} holds a finished run with a different config ({', '.join(changed)}); it is kept "
                "as is. Use a new --out for different settings."
            )
        if not has_hparams(run.path):  # killed after metrics.json, before HParams
            metrics = read_json(run.path / "metrics.json")
            self.write_hparams(run, config, metrics)
        return read_json(run.path / "metrics.json")

    def write_hparams(self, run, config, metrics, steps=None):
        saved = config.to_dict()  # as config.json holds it: the recipe's settings filled in (`run_config`)
        hparams = {**hparams_of(saved, run.label, metrics.get("parameters"), self.suite.time_budget),
                   "arch": run.arch}  # a student's class (file.py:Class) by its bench name
        write_hparams(run.path, hparams, final_metrics(metrics), saved,
                      step=steps if steps is not None else metrics.get("steps", 0),
                      trial_id=run.path.relative_to(self.out / run.label).as_posix())

    def record_success(self, run, config, metrics, memory, steps, **fields):
        """Writes the run's bench.json (what the bench knows beyond metrics.json) and its HParams."""
        write_json_atomic(run.path / SIDECAR, {
            "status": "ok", "task": run.label, "task_name": config.task, "arch": run.arch, "seed": run.seed,
            "headline_metric": metrics["headline_metric"], "parameters": metrics["parameters"], "steps": steps,
            **memory.record(), **fields,
        })
        self.write_hparams(run, config, metrics, steps=steps)

    @staticmethod
    def forget_failure(run):
        """Removes the bench.json of a failed earlier attempt, which is retried now."""
        (run.path / SIDECAR).unlink(missing_ok=True)

    def train(self, run, config, sizing):
        self.forget_failure(run)
        with PeakMemory() as memory:
            trainer = Trainer(config, run_dir=run.path)
            steps_per_epoch, _ = trainer.schedule()
            callbacks = []
            budget = None
            if self.suite.time_budget:
                state_path = trainer.run.state_path
                spent = read_json(state_path).get("train_seconds", 0.0) if state_path.is_file() else 0.0
                budget = TimeBudget(self.suite.time_budget, spent=spent, steps_per_epoch=steps_per_epoch)
                callbacks.append(budget)
            callbacks += self.display.fit_callbacks(
                trainer.info.metric, trainer.tokens_per_step)
            splits = ("validation",) if run.rate is not None else EVALUATED_SPLITS  # a sweep tests the selected rate
            metrics = trainer.fit(callbacks=callbacks, verbose=self.display.keras_verbose, evaluate=splits)
        stopped = bool(budget and budget.stopped)
        steps = budget.steps_done if stopped else metrics["steps"]
        samples = {}
        if trainer.info.kind == "lm":
            try:
                write_text_samples(run.path, trainer, steps, seed=config.seed)
            except Exception as error:  # a sample is a courtesy: the trained run stands without it
                samples["text_samples_error"] = f"{type(error).__name__}: {error}"
        self.record_success(
            run, config, metrics, memory, steps, steps_per_epoch=steps_per_epoch,
            test_batches=math.ceil(trainer.encoded("test").num_examples / config.batch_size),
            time_budget_seconds=self.suite.time_budget, stopped_by_time_budget=stopped, sizing=sizing, **samples)
        return metrics

    def train_baseline(self, run, config, sizing=None):
        """A baseline's row (kerasllm.training.baselines): one call, no checkpoints or curves; neither sizing
        (always None here) nor the time budget applies."""
        self.forget_failure(run)
        with PeakMemory() as memory:
            metrics = BASELINES.get(config.arch)(config, run_dir=run.path)
        self.record_success(
            run, config, metrics, memory, steps=0, steps_per_epoch=None,
            test_batches=math.ceil(metrics["examples"]["test"] / config.batch_size),
            time_budget_seconds=None, stopped_by_time_budget=False, sizing=None)
        return metrics

    def record_failure(self, run, error):
        message = f"{type(error).__name__}: {error}".strip().replace("\n", " ")
        try:
            run.path.mkdir(parents=True, exist_ok=True)
            write_json_atomic(run.path / SIDECAR, {
                "status": "failed", "task": run.label, "task_name": run.config.task, "arch": run.arch,
                "seed": run.seed, "error": message, "traceback": traceback.format_exc(),
            })
        except OSError:
            pass  # the message still reaches the progress line and the outcome
        return message

    def run_one(self, run):
        start = time.perf_counter()
        try:
            config, sizing = self.sized(run)
            if (run.path / "metrics.json").is_file():
                metrics, status = self.reuse(run, config), "reused"
            else:
                train = self.train_baseline if config.arch in BASELINES else self.train
                metrics, status = train(run, config, sizing), "ok"
        except KeyboardInterrupt:
            raise
        except Exception as error:  # any failure of one run is recorded; the bench goes on
            if (run.path / "metrics.json").is_file():  # finished earlier with another config: not ours to mark
                message = f"{type(error).__name__}: {error}"
            else:
                message = self.record_failure(run, error)
            return RunOutcome(run.name, "failed", time.perf_counter() - start, error=message)
        finally:
            keras.backend.clear_session()  # frees the run's graphs and layers before the next one
        metric = metrics["headline_metric"]
        split = "validation" if run.rate is not None else "test"
        return RunOutcome(run.name, status, time.perf_counter() - start, metric, metrics.get(f"{split}_{metric}"),
                          split=split)


def confirmation_runs(runs, out):
    """The planned runs that confirm a sweep's choice with more seeds (`PlannedRun.confirms`, see
    `Suite.sweep_seeds`): those at the rate each (cell, architecture) selected on the finished runs in `out`."""
    candidates = [run for run in runs if run.confirms]
    if not candidates:
        return []
    chosen = {key: rate_label(rate) for key, rate in select_rates(read_rows(out)).items()}
    return [run for run in candidates if chosen.get((run.label, run.arch)) == rate_label(run.rate)]


def _sized_part(config):
    """A config dict without the settings that leave the size alone (`NOT_SIZED`)."""
    return {key: value for key, value in (config or {}).items() if key not in NOT_SIZED}


def run_bench(suite, out, log=print, command=None, display=None, shard=None):
    """Runs (or resumes) every run of `suite` into `out`, then writes and prints the report.

    Args:
        suite: a `Suite` (after `select` for command-line choices).
        out: the bench folder.
        log: function that prints one line (progress and the report), when `display` is not given.
        command: the command line to record in manifest.json (default: sys.argv).
        display: how progress is shown (see kerasllm/bench/progress.py): `BenchLines(log, keras_verbose)`
            prints a line per run (the default, with Keras' per-epoch lines), `BenchProgress()` draws one
            live display. All lines, the report included, go through it.
        shard: `(index, count)`: run only that slice of the runs (`kerasllm.bench.shards`); None runs all.

    Returns:
        `BenchResult` with this invocation's outcome per run and the report.
    """
    display = display or BenchLines(log)
    out = pathlib.Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirectoryError(f"Cannot create the bench folder {out}: {e.strerror}. Choose a writable --out.")
    runs = plan(suite, out)
    if shard is not None:
        runs = shard_runs(runs, suite, shard)
    first, waiting = first_and_confirming(runs)  # the sweep's confirming seeds wait for its choice
    pending = len(waiting)
    _write_manifest(out, suite, first, command, shard)
    runner = _Runner(suite, out, display)
    display.log(f"bench '{suite.name}': {len(first) + pending} runs into {out}"
                + (f" (shard {shard[0]} of {shard[1]})" if shard else "")
                + (f", {pending} of them at the selected rates once the sweep has chosen" if pending else ""))
    outcomes, started, trained_seconds, trained = [], time.perf_counter(), 0.0, 0
    total = len(first) + pending

    def run_each(batch, later):
        nonlocal trained_seconds, trained
        for position, run in enumerate(batch):
            prefix = f"[{len(outcomes) + 1:{len(str(total))}d}/{total}] {run.name}"
            if not (run.path / "metrics.json").is_file():
                display.run_started(run.name, f"{prefix}: training ...")
            outcome = runner.run_one(run)
            outcomes.append(outcome)
            if outcome.status != "reused":
                trained_seconds += outcome.seconds
                trained += 1
            remaining = later + sum(1 for r in batch[position + 1:] if not (r.path / "metrics.json").is_file())
            eta = trained_seconds / trained * remaining if trained else 0.0
            if outcome.status == "failed":
                what = f"FAILED: {outcome.error}"
            else:
                value = "-" if outcome.value is None else f"{outcome.value:.4g}"
                what = f"{'reused (finished earlier)' if outcome.status == 'reused' else 'done'} " \
                       f"{outcome.split} {outcome.metric}={value}"
            display.run_finished(f"{prefix}: {what} | {outcome.seconds:.1f}s | elapsed "
                                 f"{_clock(time.perf_counter() - started)} | ETA {_clock(eta)}",
                                 eta if trained or not remaining else None)

    with display:
        display.bench_started(total)
        run_each(first, later=pending)
        confirming = confirmation_runs(runs, out)
        if confirming:
            display.log(f"learning-rate sweep: {len(confirming)} more seeds at the selected rates")
        run_each(confirming, later=0)
    runs = first + confirming
    if suite.lr_sweep:
        display.log(f"learning-rate sweep over {entries_text(suite.lr_sweep)}: evaluating "
                    "the selected rates on the test split")
        trusted = {path for run in runs for path in run.config.import_paths()}
        evaluate_selected(out, trusted=trusted, log=display.log, cells={(run.label, run.arch) for run in runs})
    outputs = write_bench_outputs(suite, out, display, runs)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        display.log(f"{len(failed)} of {len(runs)} runs failed (errors above and in results.md); rerun the same "
                    "command to retry them.")
    return BenchResult(out, outcomes, outputs)


def write_bench_outputs(suite, out, display, runs=None):
    """The report of a bench folder: one HParams experiment per task folder, then results.csv, results.md and the
    plots of every finished run, shown through `display`. `runs`: the bench's runs (default: planned again, the
    confirming seeds of a sweep included). Returns the `ReportOutputs`."""
    if runs is None:
        planned = plan(suite, out)
        runs = first_and_confirming(planned)[0] + confirmation_runs(planned, out)
    labels = list(dict.fromkeys(run.label for run in runs))
    for label in labels:  # one HParams experiment per task folder
        write_experiment(out / label, [final_metrics(read_json(run.path / "metrics.json")) for run in runs
                                       if run.label == label and (run.path / "metrics.json").is_file()])
    rows = collect_rows(out)
    outputs = write_report(rows, out, title=f"Benchmark '{suite.name}'", sources=[str(out)])
    display.log("")
    display.log(outputs.markdown)
    display.log(f"wrote {outputs.csv}, {outputs.markdown_path} and {len(outputs.plots)} plots in {out / 'plots'}")
    for label in labels:
        display.log(f"compare the architectures of {label}: tensorboard --logdir {shlex.quote(str(out / label))}")
    return outputs
