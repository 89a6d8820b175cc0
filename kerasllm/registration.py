"""Registering kerasllm's classes with Keras as soon as Keras is imported, and not before.

`import kerasllm` must be enough for loading a `.keras` file with plain Keras (as `import keras_hub` is),
yet `kerasllm --help` must not pay for importing TensorFlow. So `import kerasllm` imports the modules that
define serializable classes (layers, backbones, heads, tokenizers, samplers, the labs' reference layers) at once
when Keras is already imported, and otherwise when Keras gets imported: a finder on `sys.meta_path` watches
the import of `keras` and of kerasllm's own modules, and runs the registration when Keras is loaded and no
kerasllm module is halfway through its own import (one of them is often what imports Keras).

Example:
>>> import keras
>>> import kerasllm
>>> keras.saving.get_registered_object("kerasllm>CausalLM").__name__
'CausalLM'
"""

import importlib
import importlib.abc
import sys

#: Modules whose import registers every serializable kerasllm class, bottom layer first.
SERIALIZABLE_MODULES = ("kerasllm.layers", "kerasllm.tokenizers", "kerasllm.models", "kerasllm.generation",
                        "kerasllm.labs.reference")


def _import_serializable_modules():
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Wraps the loaders of `keras` and `kerasllm.*` to register kerasllm's classes once Keras is loaded."""

    def __init__(self):
        self.keras_loaded = False
        self.kerasllm_depth = 0  # kerasllm modules being executed right now (nested imports)

    def find_spec(self, name, path, target=None):
        is_ours = name.startswith("kerasllm.")
        if name != "keras" and not is_ours:
            return None
        spec = next((s for s in (f.find_spec(name, path, target) for f in sys.meta_path
                                 if f is not self and hasattr(f, "find_spec")) if s is not None), None)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            self.kerasllm_depth += is_ours
            try:
                execute(module)
            finally:
                self.kerasllm_depth -= is_ours
            self.keras_loaded = self.keras_loaded or name == "keras"
            if self.keras_loaded and self.kerasllm_depth == 0 and self in sys.meta_path:
                sys.meta_path.remove(self)
                _import_serializable_modules()

        spec.loader.exec_module = exec_module
        return spec


def register_with_keras():
    """Registers kerasllm's classes with Keras now if Keras is imported, else as soon as it is."""
    if "keras" in sys.modules:
        _import_serializable_modules()
    elif not any(isinstance(finder, _RegisterAfterKeras) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterKeras())
