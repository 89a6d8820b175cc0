"""Loading `.keras` files safely: safe_mode always on, one-line errors, and a check that the model fits the run.

Every place kerasllm loads a model goes through `load_model`. Keras' safe mode refuses Python code stored in a
file (a `Lambda` layer's bytecode, a pickled function), classes that are neither Keras' nor registered by an
imported package (the module named in the file is never imported), and Keras functions that are not modelling
code (`keras.utils.get_file`, ...). Those refusals, and any other unreadable file, become a `ModelFileError`.

Example:
>>> import tempfile, keras
>>> path = tempfile.mkdtemp() + "/m.keras"
>>> keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(path)
>>> type(load_model(path)).__name__
'Sequential'
>>> load_model(tempfile.mkdtemp() + "/missing.keras")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
kerasllm.training.model_files.ModelFileError: No model file at .../missing.keras. ...
"""

import os
import re
import zipfile

import keras

from kerasllm.errors import RunDirectoryError
from kerasllm.imports import load_object
from kerasllm.models.backbone import BACKBONES
from kerasllm.models.plugins import resolve_arch


class ModelFileError(RunDirectoryError):
    """A `.keras` file cannot be loaded: unsafe, corrupt, or made for another run."""


_ONLY_OURS = ("kerasllm loads models with Keras safe_mode on and never runs code from a file. Only load "
              ".keras files written by kerasllm (or retrain the run).")


def _reason(error):
    """What is wrong with the file, in a few words, from the exception Keras raised."""
    text = str(error)
    if "Requested the deserialization of a" in text:  # Keras' words for a Lambda layer or a Python lambda
        return "it holds a Lambda layer or Python function (code stored in the file)"
    unknown = re.search(r"Could not (?:locate|deserialize) (?:class|function) '([^']+)'", text)
    if unknown or "KerasSaveable" in text:
        name = unknown.group(1) if unknown else "?"
        return f"it needs the unknown class or function '{name}', which is not part of Keras or kerasllm"
    if "modeling function" in text or "Non-modeling" in text:
        return "it calls a Keras function that is not modelling code"
    first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"it is not a valid .keras file ({first_line[:200]})"


def load_model(path):
    """Loads the `.keras` file at `path` with safe_mode on.

    Raises:
        ModelFileError: the file is missing, is not a .keras archive, or Keras' safe mode refuses it.
    """
    if not os.path.isfile(path):
        raise ModelFileError(f"No model file at {path}. Check the path (a run's model is RUN_DIR/model.keras).")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path} is not a .keras file (not a zip archive; truncated or something else). Use the run's own "
            "file, or retrain the run."
        )
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises ValueError, TypeError, KeyError, zipfile.BadZipFile, ...
        raise ModelFileError(f"Refusing to load {path}: {_reason(error)}. {_ONLY_OURS}") from None


def check_model_fits(model, path, backbone_class, vocabulary_size, num_classes=None):
    """Raises `ModelFileError` unless `model` has the run's backbone class, vocabulary and classes.

    Catches a checkpoint or model.keras copied in from another run, which would otherwise load and give
    meaningless results (or fail deep inside Keras on the first batch).
    """
    backbone = getattr(model, "backbone", None)
    if backbone is None or type(backbone) is not backbone_class:
        found = type(backbone if backbone is not None else model)
        raise ModelFileError(
            f"{path} holds a '{BACKBONES.name_of(found, found.__name__)}' model but this run's arch is "
            f"'{BACKBONES.name_of(backbone_class, backbone_class.__name__)}'. Put back this run's own file, "
            "or train a new run."
        )
    if backbone.vocab_size != vocabulary_size:
        raise ModelFileError(
            f"{path} was built for a vocabulary of {backbone.vocab_size} tokens but this run's tokenizer.json has "
            f"{vocabulary_size}. Put back this run's own model and tokenizer.json, or train a new run."
        )
    if num_classes is not None and getattr(model, "num_classes", num_classes) != num_classes:
        raise ModelFileError(
            f"{path} predicts {model.num_classes} classes but this run's task has {num_classes}. Put back this "
            "run's own file, or train a new run."
        )


def load_run_model(path, config, vocabulary_size, num_classes=None):
    """Loads a run's checkpoint or model.keras: imports the user code its config names (so the classes are
    registered), loads with safe_mode on, and checks the model fits the run (`check_model_fits`)."""
    backbone_class, _ = resolve_arch(config.arch, config.arch_options)
    for spec in (config.lm_metric, config.cross_attention):  # the run's extra metric, its cross-attention layer
        if spec:
            load_object(spec)
    model = load_model(path)
    check_model_fits(model, path, backbone_class, vocabulary_size, num_classes)
    return model
