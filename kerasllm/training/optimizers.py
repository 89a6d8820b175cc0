"""The optimizers a run's recipe can name (`optimizer=adamw` or `optimizer=sgd`), built from its settings.

Each entry builds a Keras optimizer from the learning-rate schedule and the run's config; every one clips
gradients by their global norm (`clipnorm`) and decays weights decoupled from the gradient (`weight_decay`).

Fine-tuning trains parts of a model at their own rates (`group_rates`): the backbone's embedding and the rest of
the backbone at a fraction of the head's rate (discriminative rates, `backbone_lr_scale`), or not at all for their
first steps (gradual unfreezing, `freeze_*_epochs`) or for the whole run (`freeze_embeddings`). The optimizer is
then the `Grouped` subclass of the same Keras optimizer, which scales each variable's step (and its weight decay)
by its group's factor; `parameter_groups(model)` says which group each variable is in.

Example:
>>> from kerasllm.config import TrainConfig
>>> config = TrainConfig(task="ptb", arch="lstm", optimizer="sgd", learning_rate=20.0, clipnorm=0.25,
...                      weight_decay=0.0)
>>> optimizer = build_optimizer(config, schedule=20.0)
>>> type(optimizer).__name__, optimizer.global_clipnorm
('SGD', 0.25)
>>> type(build_optimizer(config, 20.0, group_rates={"embedding": [0.0, 0]})).__name__
'GroupedSGD'
"""

import keras
from keras import ops

from kerasllm.errors import TrainingError
from kerasllm.registry import Registry

OPTIMIZERS = Registry("optimizer")

OPTIMIZERS.register("adamw")(lambda schedule, config, **grouped: _class("adamw", grouped)(
    schedule, weight_decay=config.weight_decay, global_clipnorm=config.clipnorm, **grouped))
# Plain SGD, as Zaremba et al. (2014) and the PyTorch word-language-model example train LSTM LMs.
OPTIMIZERS.register("sgd")(lambda schedule, config, **grouped: _class("sgd", grouped)(
    schedule, weight_decay=config.weight_decay or None, global_clipnorm=config.clipnorm, **grouped))

#: The parts of a model that can train at their own rate. Every variable not in the backbone is the head's.
PARAMETER_GROUPS = ("embedding", "backbone", "head")


def parameter_groups(model):
    """`[(variable, group)]` for every trainable variable of `model`: its backbone's token vectors (`embedding`:
    the table word vectors or pre-training fill; a position table or a projection of narrower vectors trains with
    the rest), the rest of its `backbone`, or the `head` (everything else, e.g. a classifier's logits)."""
    backbone = getattr(model, "backbone", None)
    table = getattr(getattr(getattr(backbone, "embedding", None), "token_embedding", None), "embeddings", None)
    in_embedding = {id(table)} if table is not None else set()
    in_backbone = {id(v) for v in backbone.trainable_weights} if backbone is not None else set()
    return [(v, "embedding" if id(v) in in_embedding else "backbone" if id(v) in in_backbone else "head")
            for v in model.trainable_weights]


class Grouped:
    """Mixin for a Keras optimizer: each variable's learning rate (and weight decay) is scaled by its group's
    factor, which is 0 for the group's first `frozen_steps` steps.

    Args:
        group_rates: dict group -> `[scale, frozen_steps]` (a group left out: `[1.0, 0]`).

    Call `set_parameter_groups(parameter_groups(model))` after building or loading the model: the groups are not
    saved with it (a Keras optimizer keeps no variable names), so training refuses to start without them.
    """

    def __init__(self, *args, group_rates=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.group_rates = {group: list(value) for group, value in (group_rates or {}).items()}
        self._group_of = {}

    def set_parameter_groups(self, groups):
        self._group_of = {self._var_key(variable): group for variable, group in groups}

    def _scale(self, variable):
        group = self._group_of.get(self._var_key(variable))
        if group is None:
            raise TrainingError("A fine-tuning optimizer was used before its parameter groups were set: call "
                                "optimizer.set_parameter_groups(parameter_groups(model)) after loading the model.")
        scale, frozen_steps = self.group_rates.get(group, (1.0, 0))
        return scale if not frozen_steps else ops.where(self.iterations >= frozen_steps, scale, 0.0)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype) * ops.cast(self._scale(variable), variable.dtype)
        if self.weight_decay is not None and self._use_weight_decay(variable):  # decoupled, at the group's rate
            self.assign_sub(variable, variable * ops.cast(self.weight_decay, variable.dtype) * learning_rate)
        return super().update_step(gradient, variable, learning_rate)

    def _apply_weight_decay(self, variables):
        """Weight decay is applied per variable, at its group's rate, in `update_step`."""

    def get_config(self):
        return {**super().get_config(), "group_rates": self.group_rates}


@keras.saving.register_keras_serializable(package="kerasllm")
class GroupedAdamW(Grouped, keras.optimizers.AdamW):
    """AdamW with per-group learning rates (`Grouped`)."""


@keras.saving.register_keras_serializable(package="kerasllm")
class GroupedSGD(Grouped, keras.optimizers.SGD):
    """SGD with per-group learning rates (`Grouped`)."""


_GROUPED = {"adamw": GroupedAdamW, "sgd": GroupedSGD}
_PLAIN = {"adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD}


def _class(name, grouped):
    return _GROUPED[name] if grouped.get("group_rates") else _PLAIN[name]


def group_rates_of(config, steps_per_epoch):
    """The run's `group_rates` (`Grouped`) from its fine-tuning settings, or None when every part trains alike."""
    rates = {}
    for group, frozen_epochs in (("embedding", max(config.freeze_embedding_epochs, config.freeze_backbone_epochs)),
                                 ("backbone", config.freeze_backbone_epochs)):
        scale = 0.0 if group == "embedding" and config.freeze_embeddings else config.backbone_lr_scale
        if scale != 1.0 or frozen_epochs:
            rates[group] = [scale, frozen_epochs * steps_per_epoch if scale else 0]
    return rates or None


def build_optimizer(config, schedule, group_rates=None):
    """The optimizer `config.optimizer` names, at learning rate `schedule` (a number or a Keras schedule), with
    `group_rates` (see `Grouped`) when given."""
    grouped = {"group_rates": group_rates} if group_rates else {}
    return OPTIMIZERS.get(config.optimizer)(schedule, config, **grouped)
