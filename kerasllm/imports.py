"""Loading a user's class from an import path such as `path/to/my_cell.py:MyCell`.

This is how a student's layer reaches the checker (`kerasllm lab check LAB FILE.py:Class`), the models
(`get_backbone("rnn", cell="my_cell.py:MyCell")`) and the CLI (`kerasllm train --cell my_cell.py:MyCell`).
A path names a Python file (loaded once per absolute path, whatever the working directory) or a
module (`package.module:Name`). Loaded classes are registered as Keras serializable (under the
package `kerasllm_user` unless they registered themselves), so models that hold them save and
load with `safe_mode=True` once the file has been loaded again.

Example:
>>> from kerasllm.imports import load_object
>>> load_object("kerasllm.layers.cells:SimpleRNNCell").__name__
'SimpleRNNCell'
"""

import contextlib
import contextvars
import difflib
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys

from kerasllm.errors import ConfigError

USER_PACKAGE = "kerasllm_user"

# Set while settings are read from a file the user has not vouched for (see `settings_from`).
_UNVOUCHED_SOURCE = contextvars.ContextVar("kerasllm_unvouched_source", default=None)


@contextlib.contextmanager
def settings_from(path, trust_code=False):
    """Settings read inside this block come from the file at `path`: import paths they name
    (`file.py:Class`) are refused unless `trust_code`, so a run folder someone sent never runs
    code on its own. Import paths given directly (CLI flags, Python arguments) are always allowed.
    """
    token = _UNVOUCHED_SOURCE.set(None if trust_code else str(path))
    try:
        yield
    finally:
        _UNVOUCHED_SOURCE.reset(token)


def check_may_import(specs):
    """Raises `ConfigError` if `specs` (import paths) come from a file nobody vouched for."""
    source = _UNVOUCHED_SOURCE.get()
    if source is not None and specs:
        raise ConfigError(
            f"{source} names code that would be imported and run: {', '.join(specs)}. kerasllm runs "
            "code named in a file only when you vouch for it: pass --trust-code (trust_code=True) if "
            "you wrote that code or trust its author."
        )


def is_import_path(text):
    """True for strings of the form `something.py:Name` or `package.module:Name`."""
    return isinstance(text, str) and text.count(":") == 1 and all(text.split(":"))


def _module_from_file(path):
    absolute = os.path.abspath(path)
    if not os.path.isfile(absolute):
        raise ConfigError(f"No such file: {path}. Give the path of your .py file, e.g. my_cell.py:MyCell.")
    digest = hashlib.sha1(absolute.encode()).hexdigest()[:10]
    module_name = f"{USER_PACKAGE}.{os.path.splitext(os.path.basename(absolute))[0]}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, absolute)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's file: report any error it raises as one line
        del sys.modules[module_name]
        raise ConfigError(
            f"Importing {path} failed: {type(error).__name__}: {error}. Fix the file and try again."
        ) from error
    return module


def load_object(spec):
    """Returns the object named by `spec` (`file.py:Name` or `package.module:Name`).

    Raises:
        ConfigError: the spec is malformed, the file or module is missing or fails to import, or it
            has no such name (with a did-you-mean).
    """
    if not is_import_path(spec):
        raise ConfigError(
            f"Expected an import path like path/to/file.py:ClassName, got {spec!r}."
        )
    where, name = spec.split(":")
    if where.endswith(".py"):
        module = _module_from_file(where)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as error:
            raise ConfigError(f"Cannot import module '{where}': {error}. Check the spelling.") from error
    if not hasattr(module, name):
        names = [n for n, v in vars(module).items() if inspect.isclass(v) and not n.startswith("_")]
        hint = difflib.get_close_matches(name, names, n=1)
        suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
        raise ConfigError(
            f"{where} has no '{name}'.{suggestion} Classes defined there: {', '.join(names) or 'none'}."
        )
    obj = getattr(module, name)
    if inspect.isclass(obj):
        register_serializable(obj)
    return obj


def register_serializable(cls):
    """Registers `cls` as Keras serializable (package `kerasllm_user`) unless it already is."""
    import keras  # here, so that the CLI and configs can parse import paths without loading Keras

    registered = keras.saving.get_registered_name(cls)
    if keras.saving.get_registered_object(registered) is not cls and hasattr(cls, "get_config"):
        keras.saving.register_keras_serializable(package=USER_PACKAGE)(cls)
    return cls


def import_path_of(cls):
    """`file.py:Name` for a class defined in a file (how the CLI and the checker name it)."""
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    if filename and cls.__module__.startswith(f"{USER_PACKAGE}."):
        return f"{filename}:{cls.__qualname__}"
    return f"{cls.__module__}:{cls.__qualname__}"


# ------------------------------------------------------------- a user's layer inside a kerasllm layer
def _template(value, option, build):
    """A layer instance from a class, an instance or an import path (built with `build(cls)`)."""
    import keras

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


def plugin_config(value, option, build):
    """The JSON-able form a backbone keeps in `get_config` for a plugin given as class / instance / path / config."""
    import keras

    if value is None:
        return None
    if isinstance(value, dict):  # already serialized (from_config)
        return value
    return keras.saving.serialize_keras_object(_template(value, option, build))


def plugin_class(config, option):
    """The class of a stored plugin config (it must be loaded: imported or defined in this process)."""
    import keras

    cls = keras.saving.get_registered_object(config.get("registered_name") or config["class_name"])
    if cls is None:
        raise ConfigError(
            f"This model uses your {option} class '{config['class_name']}', which is not loaded. Import the file "
            "that defines it first (kerasllm train/evaluate do this from the run's config.json)."
        )
    return cls


def plugin_layer(config, option, **overrides):
    """A fresh layer from a stored plugin config, with some constructor arguments replaced (units, name...)."""
    return plugin_class(config, option).from_config({**config["config"], **overrides})


def takes_num_heads(config):
    """Whether a stored attention plugin is a multi-head layer (built with `num_heads`), not a single head."""
    return takes(plugin_class(config, "attention"), "num_heads")


def takes(cls, argument):
    """Whether `cls(...)` accepts the keyword `argument`."""
    return argument in inspect.signature(cls.__init__).parameters
