"""The optimizers a run's recipe can name (`optimizer=adamw` or `optimizer=sgd`), built from its settings.

Each entry builds a Keras optimizer from the learning-rate schedule and the run's config; every one clips
gradients by their global norm (`clipnorm`) and decays weights decoupled from the gradient (`weight_decay`).

Example:
>>> from kerasllm.config import TrainConfig
>>> config = TrainConfig(task="ptb", arch="lstm", optimizer="sgd", learning_rate=20.0, clipnorm=0.25,
...                      weight_decay=0.0)
>>> optimizer = build_optimizer(config, schedule=20.0)
>>> type(optimizer).__name__, optimizer.global_clipnorm
('SGD', 0.25)
"""

import keras

from kerasllm.registry import Registry

OPTIMIZERS = Registry("optimizer")

OPTIMIZERS.register("adamw")(lambda schedule, config: keras.optimizers.AdamW(
    schedule, weight_decay=config.weight_decay, global_clipnorm=config.clipnorm))
# Plain SGD, as Zaremba et al. (2014) and the PyTorch word-language-model example train LSTM LMs.
OPTIMIZERS.register("sgd")(lambda schedule, config: keras.optimizers.SGD(
    schedule, weight_decay=config.weight_decay or None, global_clipnorm=config.clipnorm))


def build_optimizer(config, schedule):
    """The optimizer `config.optimizer` names, at learning rate `schedule` (a number or a Keras schedule)."""
    return OPTIMIZERS.get(config.optimizer)(schedule, config)
