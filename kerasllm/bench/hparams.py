"""TensorBoard HParams for benchmark runs, so `tensorboard --logdir OUT/<task>` can sort and filter them.

Each finished run writes one event file into its `validation/` folder (`write_hparams`), beside its
validation curves: the HParams session (`hparams_of`: the cell label, arch, seed, exact parameter count,
width, depth, the learning rate of config.json, batch size and budget), the final metrics as scalars
tagged `final/<metric>` (`final/validation_headline` and `final/test_headline` being the task's headline
metric, for every row), `final/still_improving` (1 or 0, by the rule of
`kerasllm.bench.results.convergence`; left out when the run has too few validations to judge) and its
config.json as a Markdown table (text tag `config`). TensorBoard pairs a session with the run whose folder
holds it, so a cell shows as two runs, `<arch>/seed<k>/train` and `<arch>/seed<k>/validation`.
Each task folder gets one experiment (`write_experiment`: an `hparams_config` summary in `OUT/<task>/`), so
the HParams columns of `--logdir OUT/<task>` are that task's metrics. The "at chance" flag needs the task's
data and is only in results.csv / results.md. A run of a learning-rate sweep is written when it finishes,
before any rate is selected, so its final metrics are the validation ones; the selected rate's test
metrics are added to metrics.json and the tables only (a later selection may change).

Example:
>>> import pathlib, tempfile
>>> task_dir = pathlib.Path(tempfile.mkdtemp())
>>> run_dir = task_dir / "gru" / "seed0"
>>> metrics = final_metrics({"test_accuracy": 0.9, "test_seconds": 1.5, "steps": 300, "headline_metric": "accuracy"})
>>> metrics
{'test_accuracy': 0.9, 'test_headline': 0.9}
>>> write_hparams(run_dir, {"task": "mqar", "arch": "gru", "seed": 0}, metrics, {"arch": "gru"}, step=300)
>>> [path.name.endswith(HPARAMS_FILE_SUFFIX) for path in (run_dir / "validation").iterdir()]
[True]
>>> write_experiment(task_dir, [metrics])
>>> [path.suffix for path in task_dir.iterdir() if path.is_file()]
['.experiment']
"""

import json
import math

from kerasllm.bench.results import budget_of, read_run
from kerasllm.training.baselines import BASELINES
from kerasllm.training.summaries import HParam, Metric, summary_writer

HPARAMS_FILE_SUFFIX = ".hparams"
EXPERIMENT_FILE_SUFFIX = ".experiment"
#: The HParams columns, in order (`hparams_of`).
HPARAM_NAMES = ("task", "arch", "seed", "params", "hidden_dim", "num_layers", "learning_rate", "batch_size",
                "budget")
HEADLINES = ("validation_headline", "test_headline")
STILL_IMPROVING = "still_improving"


def hparams_of(config, label, parameters, time_budget=None):
    """The hyperparameters shown for one run; a value the run does not have (a baseline's rate) is left out.

    Args:
        config: the run's config.json, as a dict (the learning rate is the one the recipe filled in).
        label: the cell label, e.g. "mqar@pairs4".
        parameters: the exact parameter count.
        time_budget: the suite's wall-clock budget in seconds, if any (part of `budget`).

    Example:
    >>> hparams_of({"arch": "gru", "seed": 0, "steps": 400, "learning_rate": 0.01}, "mqar", 1234)["budget"]
    '400 steps'
    """
    values = {
        "task": label, "arch": config.get("arch"), "seed": config.get("seed"),
        "params": int(parameters) if parameters is not None else None,
        "hidden_dim": config.get("hidden_dim"), "num_layers": config.get("num_layers"),
        "learning_rate": config.get("learning_rate"), "batch_size": config.get("batch_size"),
        "budget": budget_of(config, time_budget),
    }
    if config.get("arch") in BASELINES:  # no learning rate, no step budget
        values.update(learning_rate=None, budget=None)
    return {name: value for name, value in values.items() if value is not None}


def config_markdown(config):
    """config.json as a two-column Markdown table (nested settings as JSON).

    Example:
    >>> print(config_markdown({"arch": "gru", "task_options": {"num_train": 32}, "steps": None}))
    | setting | value |
    |---|---|
    | arch | gru |
    | task_options | {"num_train": 32} |
    | steps | null |
    """
    cell = lambda value: (value if isinstance(value, str) else json.dumps(value)).replace("|", r"\|")  # noqa: E731
    rows = [f"| {key} | {cell(value)} |" for key, value in config.items()]
    return "\n".join(["| setting | value |", "|---|---|", *rows])


def final_metrics(metrics):
    """The numeric final metrics worth charting: validation_* and test_* except timings, plus the headline's."""
    final = {
        key: float(value) for key, value in metrics.items()
        if key.startswith(("validation_", "test_")) and not key.endswith("_seconds")
        and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }
    for split in ("validation", "test"):
        if f"{split}_{metrics.get('headline_metric')}" in final:
            final[f"{split}_headline"] = final[f"{split}_{metrics['headline_metric']}"]
    return final


def convergence_metrics(run_dir):
    """{"still_improving": 1.0 or 0.0} for the run in `run_dir`; {} when it cannot be judged."""
    still_improving = read_run(run_dir).get(STILL_IMPROVING)
    return {} if still_improving is None else {STILL_IMPROVING: float(still_improving)}


def has_hparams(run_dir):
    """Whether `write_hparams` has written the run's file (a run killed just before has metrics.json only)."""
    return any((run_dir / "validation").glob(f"*{HPARAMS_FILE_SUFFIX}"))


def write_hparams(run_dir, hparams, metrics, config, step=0, trial_id=None):
    """Writes the HParams session, `final/<metric>` scalars and the config text into `run_dir/validation`.

    Args:
        run_dir: the run directory (a `pathlib.Path`).
        hparams: dict of name -> str / int / float / bool (`hparams_of`).
        metrics: dict of name -> float, written as scalars tagged `final/<name>` at `step`;
            `final/still_improving` (`convergence_metrics`) is added.
        config: the run's config.json (a dict), logged as a Markdown table under the text tag `config`.
        step: the training step the final metrics belong to.
        trial_id: the run's name in the HParams tab. Defaults to `<arch>/seed<k>` from `hparams`.
    """
    metrics = {**metrics, **convergence_metrics(run_dir)}
    with summary_writer(run_dir / "validation", filename_suffix=HPARAMS_FILE_SUFFIX) as writer:
        writer.hparams(hparams, trial_id=trial_id or f"{hparams.get('arch')}/seed{hparams.get('seed')}")
        for name, value in metrics.items():
            writer.scalar(f"final/{name}", value, step)
        writer.text("config", config_markdown(config), step)


def write_experiment(task_dir, metrics):
    """Writes the HParams experiment of one task folder: its columns, replacing an earlier one.

    Args:
        task_dir: `OUT/<task>`, the folder that holds the task's runs.
        metrics: the `final_metrics` of the task's finished runs; the metric columns are the headline ones,
            then every other name found among them, then `still_improving`.
    """
    names = sorted({name for run in metrics for name in run} - set(HEADLINES))
    columns = [*HEADLINES, *names, STILL_IMPROVING]
    for old in task_dir.glob(f"*{EXPERIMENT_FILE_SUFFIX}"):
        old.unlink(missing_ok=True)  # another shard of the bench may have replaced it already
    with summary_writer(task_dir, filename_suffix=EXPERIMENT_FILE_SUFFIX) as writer:
        writer.hparams_config([HParam(name) for name in HPARAM_NAMES],
                              [Metric(f"final/{name}", display_name=name) for name in columns])
