"""TensorBoard HParams for benchmark runs, so `tensorboard --logdir OUT` can sort and filter them.

Each finished run directory gets one event file at its top level holding the run's hyperparameters
(`hp.hparams`, the plugin's session data) and its final metrics as scalars tagged `final/<metric>`,
plus `final/still_improving` (1 or 0, from the run's checkpoints/state.json by the rule of
`kerasllm.bench.results.convergence`; left out when the run has too few validations to judge). The
"at chance" flag needs the task's data and is only in results.csv / results.md.
The Trainer's TensorBoard callback already writes `train/` and `validation/` scalars below it, so
TensorBoard's run names read `<task>/<arch>/seed<k>/train` and overlay every architecture.
LM text samples are not logged: generation is not part of the bench. A run of a learning-rate sweep is
written when it finishes, before any rate is selected, so its final metrics are the validation ones; the
selected rate's test metrics are added to metrics.json and the tables only (a later selection may change).

Example:
>>> import pathlib, tempfile
>>> run_dir = pathlib.Path(tempfile.mkdtemp())
>>> metrics = final_metrics({"test_accuracy": 0.9, "test_seconds": 1.5, "steps": 300})
>>> metrics
{'test_accuracy': 0.9}
>>> write_hparams(run_dir, {"task": "mqar", "arch": "gru", "seed": 0}, metrics, step=300)
>>> [path.name.endswith(HPARAMS_FILE_SUFFIX) for path in run_dir.iterdir()]
[True]
"""

import math

from kerasllm.bench.results import read_run

HPARAMS_FILE_SUFFIX = ".hparams"


def hparams_of(config, label, parameters):
    """The hyperparameters shown for one run (strings, ints, floats and bools only)."""
    return {
        "task": label,
        "task_name": config.task,
        "arch": config.arch,
        "params": int(parameters) if parameters is not None else -1,
        "hidden_dim": config.hidden_dim,
        "num_layers": config.num_layers,
        "learning_rate": config.learning_rate,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "steps": config.steps if config.steps is not None else -1,
        "epochs": config.epochs if config.epochs is not None else -1,
        "tokens": config.tokens if config.tokens is not None else -1,
    }


def final_metrics(metrics):
    """The numeric final metrics worth charting: validation_* and test_* except timings."""
    return {
        key: float(value) for key, value in metrics.items()
        if key.startswith(("validation_", "test_")) and not key.endswith("_seconds")
        and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }


def convergence_metrics(run_dir):
    """{"still_improving": 1.0 or 0.0} for the run in `run_dir`; {} when it cannot be judged."""
    still_improving = read_run(run_dir).get("still_improving")
    return {} if still_improving is None else {"still_improving": float(still_improving)}


def write_hparams(run_dir, hparams, metrics, step=0, trial_id=None):
    """Writes the HParams session data and `final/<metric>` scalars into `run_dir`.

    Args:
        run_dir: the run directory (TensorBoard treats it as one run).
        hparams: dict of name -> str / int / float / bool.
        metrics: dict of name -> float, written as scalars tagged `final/<name>` at `step`;
            `final/still_improving` (`convergence_metrics`) is added.
        step: the training step the final metrics belong to.
        trial_id: the run's name in the HParams tab. Defaults to `<task>/<arch>/seed<k>` from `hparams`.
    """
    metrics = {**metrics, **convergence_metrics(run_dir)}
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(str(run_dir), filename_suffix=HPARAMS_FILE_SUFFIX)
    with writer.as_default():
        default_id = f"{hparams.get('task')}/{hparams.get('arch')}/seed{hparams.get('seed')}"
        hp.hparams(hparams, trial_id=trial_id or default_id)
        for name, value in metrics.items():
            tf.summary.scalar(f"final/{name}", value, step=step)
    writer.flush()
    writer.close()
