"""The registry of non-neural baselines: name -> training function, which carries the task kinds it trains on.

A baseline is a row of a bench beside the architectures (same splits, metric names, results.csv columns and
run directory files), but it has no backbone: one function trains it, registered here with a decorator as
`train(config, run_dir=None, runs_root="runs", log=None) -> metrics`. It trains on the config's task into a
run directory (config.json, manifest.json, then metrics.json last), returns the metrics under a neural run's
names, and sends progress lines to `log` (a function of one line) if given.

Example (a baseline of one's own; the shipped one is in `tfidf_lr.py`):
>>> @register_baseline("always_first_class", kinds=("classification",))
... def train_always_first_class(config, run_dir=None, runs_root="runs", log=None):
...     '''Predicts class 0 for every text.'''
>>> BASELINES.get("always_first_class") is train_always_first_class, train_always_first_class.kinds
(True, ('classification',))
>>> plans_on("always_first_class", "mqar"), plans_on("always_first_class", "sst2"), plans_on("lstm", "mqar")
(False, True, True)
"""

from kerasllm.data.base import KINDS, TASKS
from kerasllm.errors import ConfigError
from kerasllm.registry import Registry

BASELINES = Registry("baseline")


def register_baseline(name, kinds=("classification",), metrics=None):
    """Decorator that registers a baseline's training function under `name` (the `--arch` it answers to) and
    sets its `kinds`: the task kinds it trains on, and `metrics`: the headline metrics it can score (None: any
    of those kinds' tasks)."""
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise ConfigError(f"Baseline '{name}': unknown task kind '{unknown[0]}'; use {', '.join(KINDS)}.")

    def decorator(train):
        train.kinds = tuple(kinds)
        train.metrics = None if metrics is None else tuple(metrics)
        return BASELINES.register(name)(train)

    return decorator


def plans_on(arch, task):
    """Whether a bench plans `arch` on a cell of `task`: always for an architecture; for a baseline only on
    the task kinds (and headline metrics) it trains on (an unknown task is planned, and fails in the run with the
    registry's word)."""
    if arch not in BASELINES or task not in TASKS:
        return True
    info, baseline = TASKS.get(task).info, BASELINES.get(arch)
    return info.kind in baseline.kinds and (baseline.metrics is None or info.metric in baseline.metrics)
