"""The Trainer, its schedule, loss, metrics, callbacks and run directory."""

from kerasllm.training.trainer import Trainer, count_parameters

__all__ = ["Trainer", "count_parameters"]
