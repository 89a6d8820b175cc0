"""Loading a user's class from an import path such as `path/to/my_cell.py:MyCell`.

This is how a student's layer reaches the checker (`kerasllm lab check LAB FILE.py:Class`), the models
(`get_backbone("rnn", cell="my_cell.py:MyCell")`) and the CLI (`kerasllm train --cell my_cell.py:MyCell`).
A path names a Python file (loaded once per absolute path, whatever the working directory) or a
module (`package.module:Name`). Loaded classes are registered as Keras serializable (under the
package `kerasllm_user` unless they registered themselves), so models that hold them save and
load with `safe_mode=True` once the file has been loaded again.

Example:
>>> from kerasllm.imports import load_object
>>> load_object("kerasllm.layers:TextEmbedding").__name__
'TextEmbedding'
"""

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys

from kerasllm.checks import did_you_mean
from kerasllm.errors import ConfigError

USER_PACKAGE = "kerasllm_user"


def refuse_untrusted(specs, source):
    """Raises `ConfigError` if settings read from the file `source` name code (`specs`, import paths).

    A run folder or config someone sent must never run code on its own: the caller passes `--trust-code`
    (`trust_code=True`) and skips this check when the user vouches for the file.
    """
    if specs:
        raise ConfigError(
            f"{source} names code that would be imported and run: {', '.join(specs)}. kerasllm runs "
            "code named in a file only when you vouch for it: pass --trust-code (trust_code=True) if "
            "you wrote that code or trust its author."
        )


#: Architecture names of the form `prefix:rest` that name no code: `hub:<preset or ClassName>`, a keras-hub
#: backbone (kerasllm.models.hub; `kerasllm.models.plugins.ARCH_PREFIXES` resolves them).
ARCH_PREFIXES = ("hub",)


def is_import_path(text):
    """True for strings of the form `something.py:Name` or `package.module:Name` (not `hub:...`, see
    `ARCH_PREFIXES`)."""
    return (isinstance(text, str) and text.count(":") == 1 and all(text.split(":"))
            and text.split(":")[0] not in ARCH_PREFIXES)


def is_prefixed_arch(text):
    """True for an architecture name `prefix:rest` with a prefix of `ARCH_PREFIXES`, e.g. `hub:BertBackbone`."""
    prefix, colon, rest = text.partition(":") if isinstance(text, str) else ("", "", "")
    return bool(colon and rest) and prefix in ARCH_PREFIXES


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


#: Modules that moved; import paths in run configs written before the move still resolve.
MOVED_MODULES = {
    f"kerasllm.layers.{name}": f"kerasllm.labs.reference.{name}"
    for name in ("cells", "positions", "scaled_dot_product_attention", "causal_conv")
}


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
    where = MOVED_MODULES.get(where, where)
    if where.endswith(".py"):
        module = _module_from_file(where)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as error:
            raise ConfigError(f"Cannot import module '{where}': {error}. Check the spelling.") from error
    if not hasattr(module, name):
        names = [n for n, v in vars(module).items() if inspect.isclass(v) and not n.startswith("_")]
        raise ConfigError(
            f"{where} has no '{name}'.{did_you_mean(name, names)} Classes defined there: {', '.join(names) or 'none'}."
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


def absolute_import_path(spec):
    """`file.py:Name` with the file made absolute (so a config works from any folder); other values as given."""
    if is_import_path(spec) and spec.split(":")[0].endswith(".py"):
        where, name = spec.split(":")
        return f"{os.path.abspath(where)}:{name}"
    return spec


def import_path_of(cls):
    """`file.py:Name` for a class defined in a file (how the CLI and the checker name it)."""
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    if filename and cls.__module__.startswith(f"{USER_PACKAGE}."):
        return f"{filename}:{cls.__qualname__}"
    return f"{cls.__module__}:{cls.__qualname__}"
