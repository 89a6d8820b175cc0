"""Fine-tuning from an earlier run: `init_from=RUN_DIR` starts a model from that run's embedding and backbone.

The earlier run (an lm or mlm pre-training, or a run on another task) must be of the same architecture and sizes,
and the new run reads text with its tokenizer (`pretrained_tokenizer`), so every token id means what it meant in
pre-training. `copy_pretrained` copies the backbone's weights (the embedding is part of it) into a freshly built
model; the head keeps its fresh initialization. A learned position table of another length is copied for the
positions both have (pre-training on 64-token windows, fine-tuning on 256-token reviews), and the report says so.

Example:
>>> from kerasllm.config import TrainConfig
>>> check_init_from(TrainConfig(task="sst2", arch="lstm", init_from="/no/such/run"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
kerasllm.errors.ConfigError: --init-from /no/such/run: not a kerasllm run directory (...). Point it at ...
"""

import pathlib

import numpy as np

from kerasllm.errors import ConfigError
from kerasllm.tokenizers.base import Tokenizer
from kerasllm.training.model_files import load_run_model
from kerasllm.training.run_dir import RunDirectory, read_json

#: Settings that decide a backbone's weights: an earlier run must match them to be a starting point.
SHAPING_SETTINGS = ("arch", "hidden_dim", "num_layers", "position", "arch_options")


def check_init_from(config):
    """`(run directory, its config.json with missing fields at their defaults)` of `config.init_from`, or a one-line
    `ConfigError` unless it is a finished run this run can start from: the same architecture and sizes, and no other
    tokenizer asked for."""
    run = RunDirectory(config.init_from)
    if not run.config_path.is_file() or not run.tokenizer_path.is_file():
        raise ConfigError(f"--init-from {run.path}: not a kerasllm run directory (no config.json and tokenizer.json). "
                          "Point it at the folder of an earlier `kerasllm train` run.")
    if not run.model_path.is_file():
        raise ConfigError(f"--init-from {run.path}: that run has not finished (no model.keras). Finish it by running "
                          "its command again, or point at a finished run.")
    saved, mine = type(config).with_defaults(read_json(run.config_path)), config.to_dict()
    differing = [name for name in SHAPING_SETTINGS if saved.get(name) != mine[name]]
    if differing:
        raise ConfigError(f"--init-from {run.path} has {_describe(saved, differing)}, but this run has "
                          f"{_describe(mine, differing)}. Use the same architecture and sizes as the earlier run.")
    for name in ("tokenizer", "tokenizer_options"):
        if mine[name] and mine[name] != saved.get(name):
            raise ConfigError(f"--init-from {run.path} reads text with {name}={saved.get(name)!r}, but this run asks "
                              f"for {mine[name]!r}. Leave {name} unset: a fine-tuning run reuses the earlier run's "
                              "tokenizer.")
    return run, saved


def _describe(values, names):
    return ", ".join(f"{name}={values.get(name)!r}" for name in names)


def pretrained_tokenizer(config):
    """The tokenizer of the run `config.init_from` names (checked by `check_init_from`), which a run started from
    it reuses."""
    return Tokenizer.load(RunDirectory(config.init_from).tokenizer_path)


def copy_pretrained(model, config):
    """Copies the backbone weights of the run `config.init_from` into `model`'s backbone; returns a report."""
    run, saved = check_init_from(config)
    target = getattr(model, "backbone", None)
    if target is None:
        raise ConfigError(f"--init-from fills a model with one backbone; this run builds a {type(model).__name__}. "
                          "Use it for classification, lm or mlm runs.")
    source_model = load_run_model(run.model_path, config.replace(lm_metric=saved.get("lm_metric")), target.vocab_size)
    sources, targets = source_model.backbone.weights, target.weights
    if len(sources) != len(targets):
        raise ConfigError(f"--init-from {run.path}: its backbone has {len(sources)} weights, this run's {len(targets)}. "
                          "Use the same architecture and options as the earlier run.")
    partial = []
    for source, destination in zip(sources, targets):
        values, shape = np.asarray(source.numpy()), tuple(destination.shape)
        if values.shape != shape:
            if values.shape[1:] != shape[1:] or values.ndim != 2:  # only a position table may differ, in length
                raise ConfigError(f"--init-from {run.path}: weight {source.name} is {values.shape}, this run needs "
                                  f"{shape}. Use the same architecture and sizes as the earlier run.")
            rows = min(values.shape[0], shape[0])
            values = np.concatenate([values[:rows], np.asarray(destination.numpy())[rows:]])
            partial.append(f"{pathlib.PurePosixPath(destination.path).parent.name}: {rows} of {shape[0]} rows")
        destination.assign(values)
    return {"run": str(run.path), "task": saved.get("task"), "objective": saved.get("objective"),
            "weights_copied": len(targets), "partially_copied": partial}
