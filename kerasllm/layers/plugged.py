"""A user's layer inside a kerasllm layer: a cell in a recurrent backbone, attention in a block, a conv block.

A backbone keeps the user's layer as a serialized Keras object (class name and config, never a file path), so
a saved model names no file to import. `plugged_config` turns what the user passed (a class, an instance, an
import path or an already serialized config) into that form; `plugged_layer` builds a fresh layer from it with
some constructor arguments replaced (each recurrent layer's `units`, each block's `dilation_rate`, ...).

Example:
>>> import keras
>>> class DocCell(keras.layers.GRUCell):  # a user's cell
...     pass
>>> config = plugged_config(DocCell, "cell", lambda cls: cls(8))
>>> config["class_name"], config["registered_name"]
('DocCell', 'kerasllm_user>DocCell')
>>> plugged_layer(config, "cell", units=4).units
4
"""

import importlib
import inspect

import keras

from kerasllm.errors import ConfigError
from kerasllm.imports import load_object, register_serializable


def _template(value, option, build):
    """A layer instance from a class, an instance or an import path (a class is built with `build(cls)`)."""
    if isinstance(value, str):
        value = load_object(value)
    if inspect.isclass(value):
        if not issubclass(value, keras.layers.Layer):
            raise ConfigError(f"{option}={value.__name__} is not a keras.layers.Layer subclass. "
                              "Derive your class from keras.layers.Layer.")
        register_serializable(value)
        return build(value)
    if isinstance(value, keras.layers.Layer):
        register_serializable(type(value))
        return value
    raise ConfigError(f"{option} must be a Layer class, an instance, or an import path like my_file.py:MyClass; "
                      f"got {value!r}.")


def plugged_config(value, option, build):
    """The JSON-able form a layer keeps in `get_config` for a plugged layer (None stays None)."""
    if value is None:
        return None
    if isinstance(value, dict):  # already serialized (from_config)
        return value
    return keras.saving.serialize_keras_object(_template(value, option, build))


def plugged_class(config, option):
    """The class of a serialized plugged layer (it must be defined in this process: imported or registered)."""
    cls = keras.saving.get_registered_object(config.get("registered_name") or config["class_name"])
    if cls is None and str(config.get("module", "")).split(".")[0] == "keras":  # a Keras built-in layer
        cls = getattr(importlib.import_module(config["module"]), config["class_name"], None)
    if cls is None:
        raise ConfigError(
            f"This model uses your {option} class '{config['class_name']}', which is not loaded. Import the file "
            "that defines it first (kerasllm evaluate/generate do this from the run's config.json)."
        )
    return cls


def plugged_layer(config, option, **overrides):
    """A fresh layer from a serialized plugged layer, with some constructor arguments replaced."""
    return plugged_class(config, option).from_config({**config["config"], **overrides})


def takes(cls, argument):
    """Whether `cls(...)` accepts the keyword `argument`."""
    return argument in inspect.signature(cls.__init__).parameters


def is_multi_head(config):
    """Whether a serialized attention layer is multi-head (built with `num_heads`), not a single head."""
    return takes(plugged_class(config, "attention"), "num_heads")
