"""The typed configuration of one training run.

A `TrainConfig` is what a run directory's config.json holds; unknown keys are rejected with a
did-you-mean, values are checked, and `key=value` strings from the CLI are parsed by field type.

Example:
>>> from kerasllm.config import TrainConfig
>>> config = TrainConfig.from_dict({"task": "mqar", "arch": "lstm", "epochs": 2})
>>> config = config.with_overrides(["hidden_dim=64", "arch_options.bidirectional=false"])
>>> config.hidden_dim, config.arch_options
(64, {'bidirectional': False})
"""

import dataclasses
import json
import math
import os
import typing
from typing import Optional

from kerasllm.checks import read_settings_file, reject_unknown_keys
from kerasllm.errors import ConfigError
from kerasllm.imports import is_import_path, refuse_untrusted

#: Settings that change how fast a run trains, not what it computes (the same batches, the same steps): a run
#: resumes under another value (`TrainConfig.changes_from` leaves them out).
SPEED_ONLY = ("steps_per_execution",)
#: `arch_options` keys that may hold a user's layer as an import path (see kerasllm.models.plugins).
PLUGIN_OPTIONS = ("cell", "attention", "block")
#: The output layers of a language-model head, and the options of the adaptive one (`kerasllm.layers.AdaptiveSoftmax`).
SOFTMAX_TYPES = ("full", "adaptive")
ADAPTIVE_OPTIONS = ("cutoffs", "div_value")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run's result. `None` means "the task's or architecture's default".

    Args:
        task, arch: registry names (`kerasllm tasks`, `kerasllm archs`).
        data_dir: parent folder of real datasets (`data_dir/<task>/`).
        seed: seeds data order, initialization and dropout.
        tokenizer, tokenizer_options: tokenizer name and keyword arguments (task default if None).
        task_options: keyword arguments for the task (e.g. sizes of a generated task).
        max_length: tokens per sequence (task default if None).
        hidden_dim, num_layers, dropout, position: shared backbone settings.
        arch_options: extra keyword arguments of the backbone (num_heads, kernel_size, ...).
        pooling, tie_weights: head settings (classifier pooling; tie LM input/output embeddings).
        softmax, softmax_options: the output layer of a language-model head (lm, prefix_lm and mlm runs): "full"
            (a softmax over the vocabulary) or "adaptive" (Grave et al.'s adaptive softmax for large word
            vocabularies, `kerasllm.layers.AdaptiveSoftmax`; options `cutoffs`, a list of ids, default a tenth and
            a half of the vocabulary, and `div_value`, default 4).
        seq2seq_form: how a seq2seq task is modelled: "encoder_decoder" or "prefix_lm" (decoder-only,
            `source <bos> target`); None takes the task's `TaskInfo.seq2seq_form`.
        shared_vocabulary: one tokenizer fitted on sources and targets (True), or, for an encoder-decoder, one
            per side (False: the encoder reads the source's vocabulary, the decoder writes the target's).
        cross_attention: the encoder-decoder's cross-attention layer, an import path `file.py:Class` built
            as `Class(num_heads=...)` (lab 09); None uses `kerasllm.layers.MultiHeadCrossAttention`.
        epochs, steps: train for whole passes over the data, or for a number of optimizer steps.
        tokens: train for this many training tokens (real input tokens, as `Trainer.tokens_per_step`
            counts them), an alternative to epochs and steps that gives every architecture of a task
            the same token budget: steps = ceil(tokens / tokens_per_step), rounded up to whole
            validation periods.
        eval_every: steps between validations when training by steps or tokens.
        validation_batches: validate on the first N batches of the validation split during training (the same N
            each time, so validations compare); None uses all of it. A seq2seq run decodes (BLEU, ROUGE) the
            same examples. The best checkpoint is chosen on these, and the final metrics always score the whole
            split (nanoGPT's `eval_iters`).
        optimizer, learning_rate, weight_decay, warmup_ratio, min_lr_ratio, clipnorm: the training recipe
            (optimizer: adamw or sgd, see `kerasllm.training.optimizers`; linear warm-up, then cosine
            decay to `min_lr_ratio` of the peak; global gradient clipping). None takes the
            architecture's recipe (`kerasllm.models.recipes`); config.json records the values used.
        batch_size, label_smoothing: the rest of the optimization.
        early_stopping_patience: stop after this many validations without improvement.
        mixed_precision, jit_compile, steps_per_execution: speed switches.
        distribution: None (one device) or "data_parallel": copy the model onto every GPU (else every CPU
            device) of the machine, or of a TensorFlow `TF_CONFIG` cluster, and split each batch across them
            (`kerasllm.training.distribution`). `batch_size` stays the global batch, so the loss matches one
            device's at the same batch; it must be a multiple of the number of devices.
        lm_metric: one more metric for lm / seq2seq runs, an import path `file.py:Class` of a
            `keras.metrics.Metric` built as `Class()` (lab 10), logged next to the built-in ones.
        objective: train on the task's text instead of its labels: "lm" (next-token prediction on the
            task's texts, ULMFiT's pre-training) or "mlm" (BERT's masked-token prediction, for non-causal
            backbones); None trains the task itself.
        init_from: an earlier run directory of the same architecture whose embedding and backbone weights
            (and tokenizer) this run starts from (fine-tuning).
        freeze_embedding_epochs, freeze_backbone_epochs: keep the embedding / the backbone fixed for the
            first N validation periods (gradual unfreezing), then train them.
        backbone_lr_scale: the embedding's and backbone's learning rate as a fraction of the head's
            (discriminative rates; 1 trains all at the same rate).
        embeddings: a word-vector text file (GloVe, word2vec or fastText format) loaded into the embedding for
            the word tokenizer's vocabulary; freeze_embeddings keeps those vectors fixed for the whole run.
    """

    task: str
    arch: str
    data_dir: Optional[str] = None
    seed: int = 0
    tokenizer: Optional[str] = None
    tokenizer_options: dict = dataclasses.field(default_factory=dict)
    task_options: dict = dataclasses.field(default_factory=dict)
    max_length: Optional[int] = None
    hidden_dim: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    position: Optional[str] = None
    arch_options: dict = dataclasses.field(default_factory=dict)
    pooling: str = "mean"
    tie_weights: bool = True
    softmax: str = "full"
    softmax_options: dict = dataclasses.field(default_factory=dict)
    seq2seq_form: Optional[str] = None
    shared_vocabulary: bool = True
    cross_attention: Optional[str] = None
    epochs: Optional[int] = None
    steps: Optional[int] = None
    tokens: Optional[int] = None
    eval_every: Optional[int] = None
    validation_batches: Optional[int] = None
    batch_size: int = 32
    optimizer: Optional[str] = None
    learning_rate: Optional[float] = None
    weight_decay: Optional[float] = None
    warmup_ratio: Optional[float] = None
    min_lr_ratio: Optional[float] = None
    clipnorm: Optional[float] = None
    label_smoothing: float = 0.0
    early_stopping_patience: Optional[int] = None
    mixed_precision: bool = False
    jit_compile: bool = True
    steps_per_execution: int = 10
    distribution: Optional[str] = None
    lm_metric: Optional[str] = None
    objective: Optional[str] = None
    init_from: Optional[str] = None
    freeze_embedding_epochs: int = 0
    freeze_backbone_epochs: int = 0
    backbone_lr_scale: float = 1.0
    embeddings: Optional[str] = None
    freeze_embeddings: bool = False

    def __post_init__(self):
        self._check()

    def _check(self):
        at_least_one = ["hidden_dim", "num_layers", "batch_size", "steps_per_execution", "epochs", "steps",
                        "eval_every", "max_length", "early_stopping_patience", "validation_batches"]
        for name in at_least_one:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}.")
        for name in ["dropout", "label_smoothing", "warmup_ratio", "min_lr_ratio"]:
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value}.")
        for name in ["learning_rate", "clipnorm"]:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}.")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}.")
        if self.seq2seq_form not in (None, "encoder_decoder", "prefix_lm"):
            raise ConfigError(f"seq2seq_form must be encoder_decoder or prefix_lm, got '{self.seq2seq_form}'.")
        if self.distribution not in (None, "data_parallel"):
            raise ConfigError(f"distribution must be data_parallel (or left unset), got '{self.distribution}'.")
        if self.softmax not in SOFTMAX_TYPES:
            raise ConfigError(f"softmax must be one of {', '.join(SOFTMAX_TYPES)}, got '{self.softmax}'.")
        if self.softmax_options:
            if self.softmax != "adaptive":
                raise ConfigError("softmax_options are the adaptive softmax's: add softmax=adaptive, or remove them.")
            reject_unknown_keys(self.softmax_options, ADAPTIVE_OPTIONS, "adaptive softmax option")
        if self.objective not in (None, "lm", "mlm"):
            raise ConfigError(f"objective must be lm or mlm (or left unset), got '{self.objective}'.")
        for name in ("freeze_embedding_epochs", "freeze_backbone_epochs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}.")
        if not 0.0 < self.backbone_lr_scale <= 1.0:
            raise ConfigError(f"backbone_lr_scale must be in (0, 1], got {self.backbone_lr_scale}.")
        if self.freeze_backbone_epochs and not self.init_from:
            raise ConfigError("freeze_backbone_epochs keeps a pre-trained backbone fixed: give --init-from RUN_DIR too.")
        if (self.freeze_embedding_epochs or self.freeze_embeddings) and not (self.init_from or self.embeddings):
            raise ConfigError("Freezing the embedding keeps pre-trained vectors fixed: give --init-from RUN_DIR or "
                              "--embeddings FILE too.")
        if self.tokens is not None and self.tokens < 1:
            raise ConfigError(f"tokens must be at least 1, got {self.tokens}.")
        budgets = [name for name in ("epochs", "steps", "tokens") if getattr(self, name) is not None]
        if len(budgets) > 1:
            raise ConfigError(f"Give only one of epochs, steps or tokens, got {' and '.join(budgets)}.")

    @classmethod
    def fields(cls):
        return {f.name: f for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values):
        """Builds a config from a dict, rejecting unknown keys."""
        known = cls.fields()
        reject_unknown_keys(values, known, "setting")
        for required in ("task", "arch"):
            if not values.get(required):
                raise ConfigError(f"The setting '{required}' is required (e.g. --{required} ...).")
        coerced = {key: _coerce(key, value, known[key].type) for key, value in values.items()}
        return cls(**coerced)

    @classmethod
    def from_file(cls, path, trust_code=False):
        """Reads a JSON or YAML (safe_load) file. Reading imports nothing; a file that names code
        (`file.py:Class`, imported when a model is built) is refused unless `trust_code`."""
        config = cls.from_dict(read_settings_file(path, "config file", flag="--config"))
        if not trust_code:
            refuse_untrusted(config.import_paths(), path)
        return config

    def import_paths(self):
        """The user code (`file.py:Class` import paths) this config names: its arch, cell, attention or block,
        its lm_metric and cross_attention."""
        named = [self.arch] + [self.arch_options.get(option) for option in PLUGIN_OPTIONS] + [self.lm_metric,
                                                                                             self.cross_attention]
        return [spec for spec in named if is_import_path(spec)]

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def with_defaults(cls, saved):
        """A saved config.json (a dict) with each field it lacks, written before the field existed, at its default
        (a required field it lacks stays missing)."""
        defaults = {field.name: field.default_factory() if field.default_factory is not dataclasses.MISSING
                    else field.default for field in dataclasses.fields(cls)}
        return {**{key: value for key, value in defaults.items()
                   if key not in saved and value is not dataclasses.MISSING}, **saved}

    def changes_from(self, saved):
        """The fields in which a saved config.json (a dict) differs from this config. A field the file lacks,
        because it was written before the field existed, counts as that field's default, so adding a setting
        never orphans earlier runs. A speed-only setting (`SPEED_ONLY`) is not compared: a run resumes under any.

        Example:
        >>> TrainConfig(task="mqar", arch="gru", seed=1).changes_from({"task": "mqar", "arch": "gru", "seed": 0,
        ...                                                            "steps_per_execution": 1})
        ['seed']
        """
        current, saved = self.to_dict(), self.with_defaults(saved)
        return sorted(key for key in set(saved) | set(current)
                      if key not in SPEED_ONLY and saved.get(key) != current.get(key))

    def replace(self, **changes):
        return self.from_dict({**self.to_dict(), **changes})

    def with_overrides(self, assignments):
        """Applies `key=value` strings; `a.b=v` sets key b of the dict setting a."""
        values = self.to_dict()
        for assignment in assignments:
            if "=" not in assignment:
                raise ConfigError(f"Expected key=value, got '{assignment}'.")
            key, raw = assignment.split("=", 1)
            if "." in key:
                parent, child = key.split(".", 1)
                if parent not in values or not isinstance(values[parent], dict):
                    raise ConfigError(f"'{parent}' is not a dict setting; cannot set '{key}'.")
                values[parent] = {**values[parent], child: _parse_scalar(raw)}
            else:
                values[key] = raw
        return self.from_dict(values)


def _parse_scalar(raw):
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, 'none' -> None, JSON for lists/dicts, else the string."""
    lowered = raw.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _coerce(key, value, annotation):
    """Converts CLI strings (and JSON numbers) to the field's declared type."""
    optional = typing.get_origin(annotation) is typing.Union
    base = [a for a in typing.get_args(annotation) if a is not type(None)][0] if optional else annotation
    if isinstance(value, str) and base is not str:
        value = _parse_scalar(value)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key} cannot be empty.")
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}.")
        return value
    if base is int:
        if not _is_finite_number(value) or int(value) != value:
            raise ConfigError(f"{key} must be an integer, got {value!r}.")
        return int(value)
    if base is float:
        if not _is_finite_number(value):
            raise ConfigError(f"{key} must be a number, got {value!r}.")
        return float(value)
    if base is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}.")
        return dict(value)
    if isinstance(value, os.PathLike):  # data_dir=pathlib.Path(...)
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}.")
    return value


def _is_finite_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
