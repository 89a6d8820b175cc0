"""The Trainer, its schedule, loss, metrics, callbacks and run directory, and `open_run` for finished runs.

Example:
>>> from kerasllm.training import Trainer, open_run
>>> Trainer.__name__, open_run.__name__
('Trainer', 'open_run')
"""

from kerasllm.models.build import count_parameters
from kerasllm.training.finished_run import FinishedRun, open_run
from kerasllm.training.trainer import Trainer, fit_tokenizer

__all__ = ["FinishedRun", "Trainer", "count_parameters", "fit_tokenizer", "open_run"]
