"""kerasllm: compare text-model architectures on the same footing with Keras 3.

`import kerasllm` is all it takes to load any kerasllm `.keras` file with Keras' own loader (safe mode
on): the layers, backbones, heads, tokenizers and samplers are registered with Keras as soon as Keras is
imported (at once if it already is). Until then the package imports nothing heavy, so
`kerasllm --help` and `kerasllm archs` answer without loading TensorFlow (see `kerasllm/registration.py`).

Example:
>>> import kerasllm as kl
>>> "transformer" in kl.models.list_backbones() and "mqar" in kl.data.list_tasks()
True
"""

import importlib

from kerasllm.registration import register_with_keras
from kerasllm.version import __version__

_SUBPACKAGES = ("bench", "data", "generation", "labs", "layers", "models", "tokenizers", "training")
_ATTRIBUTES = {"Trainer": "kerasllm.training", "TrainConfig": "kerasllm.config", "open_run": "kerasllm.training"}

__all__ = [*_SUBPACKAGES, *_ATTRIBUTES, "__version__"]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"kerasllm.{name}")
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    raise AttributeError(f"module 'kerasllm' has no attribute '{name}'")


register_with_keras()
