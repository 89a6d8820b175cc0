"""The one composition point: a run's config + its task + its vocabulary -> the built model.

`build_model` is the only place that resolves the architecture (a registry name or an import path, see
`kerasllm.models.plugins`), applies the shared settings and arch options, picks the head from the task kind
(`HEADS`) and builds the weights. The Trainer, bench sizing, the labs and everything that opens a run go
through it, so a model is always built the same way.

Example:
>>> from kerasllm.config import TrainConfig
>>> from kerasllm.models import build_model, count_parameters
>>> class Info:  # what build_model reads of a task's `TaskInfo`
...     kind, num_classes, max_length = "classification", 2, 16
>>> model = build_model(TrainConfig(task="demo", arch="gru", hidden_dim=8, num_layers=1), Info, 50)
>>> type(model).__name__, type(model.backbone).__name__, count_parameters(model)
('TextClassifier', 'GRUBackbone', 850)
"""

import dataclasses

import numpy as np

from kerasllm.models.backbone import construct_backbone
from kerasllm.models.heads import CausalLM, TextClassifier
from kerasllm.models.plugins import resolve_arch
from kerasllm.registry import Registry


@dataclasses.dataclass(frozen=True)
class HeadRecipe:
    """How a task kind is modelled: whether the backbone is causal, and the head put on it.

    Args:
        causal: the backbone must not read ahead (language models).
        build: `build(backbone, config, task_info, dtype) -> keras.Model`.
    """

    causal: bool
    build: object


#: Task kind -> the head that models it.
HEADS = Registry("task kind")
HEADS.register("classification")(HeadRecipe(False, lambda backbone, config, info, dtype: TextClassifier(
    backbone, num_classes=info.num_classes, pooling=config.pooling, dtype=dtype)))
HEADS.register("lm")(HeadRecipe(True, lambda backbone, config, info, dtype: CausalLM(
    backbone, tie_weights=config.tie_weights, dtype=dtype)))
# Sequence to sequence as a decoder-only prefix LM: `source <bos> target`, scored on the target.
HEADS.register("seq2seq")(HEADS.get("lm"))


def max_length_of(config, task_info):
    """Tokens per sequence: the config's `max_length`, else the task's default."""
    return config.max_length or task_info.max_length


def build_model(config, task_info, vocabulary_size):
    """Builds the model a run trains: backbone (with plugins) + the head for the task kind, weights created.

    Args:
        config: a `kerasllm.TrainConfig`.
        task_info: the task's `TaskInfo` (its `kind`, `num_classes`, `max_length` are read).
        vocabulary_size: int. The fitted tokenizer's `vocabulary_size`.

    Raises:
        UnknownNameError: unknown architecture or task kind.
        ConfigError: an invalid setting, or an import path that does not load.
    """
    backbone_class, options = resolve_arch(config.arch, config.arch_options)
    if config.position is not None:
        options["position"] = config.position
    recipe = HEADS.get(task_info.kind)
    dtype = "mixed_bfloat16" if config.mixed_precision else None
    max_length = max_length_of(config, task_info)
    backbone = construct_backbone(
        backbone_class, vocab_size=vocabulary_size, hidden_dim=config.hidden_dim, num_layers=config.num_layers,
        dropout=config.dropout, causal=recipe.causal, max_length=max_length, dtype=dtype, **options,
    )
    model = recipe.build(backbone, config, task_info, dtype)
    ones = np.ones((1, max_length), "int32")
    model({"token_ids": ones, "padding_mask": ones.astype(bool)})  # creates the weights
    return model


def count_parameters(model):
    """Trainable parameters of a built model."""
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))
