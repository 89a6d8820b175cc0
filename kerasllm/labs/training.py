"""The checker's last step: train the student's class briefly through the one Trainer.

Example:
>>> from kerasllm.labs.training import tiny_config
>>> tiny_config("rnn", cell="my_cell.py:MyCell")["arch_options"]
{'cell': 'my_cell.py:MyCell'}
"""

import tempfile

from kerasllm.labs.base import finite_metrics
from kerasllm.training import Trainer

#: A tiny classification run on the built-in negation task: a few seconds on a laptop CPU.
TINY_RUN = {"task": "negation_sentiment", "hidden_dim": 16, "num_layers": 1, "batch_size": 16, "steps": 8,
            "eval_every": 4, "dropout": 0.0, "jit_compile": False,
            "task_options": {"num_train": 128, "num_validation": 32, "num_test": 32}}


def tiny_config(arch, **arch_options):
    """The settings of the checker's training run for `arch` with the student's class in `arch_options`."""
    return {**TINY_RUN, "arch": arch, "arch_options": dict(arch_options)}


def train_briefly(config):
    """Fits `config` into a temporary run directory; returns the metrics or raises `LabFailure`."""
    with tempfile.TemporaryDirectory(prefix="kerasllm-lab-") as folder:
        metrics = Trainer(config, run_dir=f"{folder}/run").fit(verbose=0)
    finite_metrics(metrics, ["validation_loss", "test_loss"])
    return metrics
