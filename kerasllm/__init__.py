"""kerasllm: compare text-model architectures on the same footing with Keras 3.

Subpackages load on first use, so `kerasllm --help` starts fast and the CLI can quiet TensorFlow's
start-up logging before TensorFlow is imported.

Example:
>>> import kerasllm as kl
>>> "transformer" in kl.models.list_backbones() and "mqar" in kl.data.list_tasks()
True
"""

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = ("bench", "data", "generation", "labs", "layers", "models", "tokenizers", "training")
_ATTRIBUTES = {"Trainer": "kerasllm.training", "TrainConfig": "kerasllm.config"}

__all__ = [*_SUBPACKAGES, *_ATTRIBUTES]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"kerasllm.{name}")
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    raise AttributeError(f"module 'kerasllm' has no attribute '{name}'")
