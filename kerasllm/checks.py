"""The small checks every layer of kerasllm shares: argument checks, did-you-mean, unknown keys, settings files.

Each raises `ConfigError` with a message worded "what is wrong. How to fix it.", so the CLI prints it as
one line.

Example:
>>> from kerasllm.checks import did_you_mean, reject_unknown_keys
>>> did_you_mean("lstmm", ["gru", "lstm"])
" Did you mean 'lstm'?"
>>> reject_unknown_keys({"num_trian": 5}, ["num_train"], "task_options key", where=" for task 'demo'")
Traceback (most recent call last):
...
kerasllm.errors.ConfigError: Unknown task_options key 'num_trian' for task 'demo'. Did you mean 'num_train'? Known: num_train.
"""

import difflib
import inspect
import json

import yaml

from kerasllm.errors import ConfigError


def require(condition, message):
    """Raises `ConfigError(message)` unless `condition` holds."""
    if not condition:
        raise ConfigError(message)


def did_you_mean(name, known):
    """`" Did you mean 'x'?"` for the closest of `known` to `name`, or `""` when none is close."""
    hint = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" Did you mean '{hint[0]}'?" if hint else ""


def reject_unknown_keys(keys, known, what, where=""):
    """Raises `ConfigError` for the first of `keys` not in `known`, with a did-you-mean and the known keys.

    Args:
        keys: the keys given (any iterable; a dict gives its keys).
        known: the keys allowed.
        what: what a key is, for the message ("setting", "task_options key").
        where: text after the key in the message (" for task 'mqar'", " in suite 'quick'").
    """
    known = list(known)
    for key in keys:
        if key not in known:
            raise ConfigError(
                f"Unknown {what} '{key}'{where}.{did_you_mean(key, known)} Known: {', '.join(map(str, known)) or 'none'}."
            )


def check_keyword_options(target, options, what, setting):
    """Raises `ConfigError` for a key of `options` that `target`'s constructor does not take.

    Example:
    >>> class Task:
    ...     def __init__(self, data_dir=None, num_train=10): pass
    >>> check_keyword_options(Task, {"num_trian": 5}, "task 'demo'", "task_options")
    Traceback (most recent call last):
    ...
    kerasllm.errors.ConfigError: Unknown task_options key 'num_trian' for task 'demo'. Did you mean 'num_train'? Known: num_train.
    """
    parameters = inspect.signature(target).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    known = [p.name for p in parameters
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "data_dir")]
    reject_unknown_keys(options, known, f"{setting} key", where=f" for {what}")


def read_settings_file(path, what="settings file", flag=None):
    """The mapping in a JSON or YAML (`yaml.safe_load`) file, by its extension; one-line errors.

    Args:
        path: the file.
        what: what the file is, for the messages ("config file").
        flag: the option that named the file ("--config"), for the fix of a missing file.

    Raises:
        ConfigError: the file is missing, not UTF-8, not valid JSON/YAML, or not a mapping.
    """
    text_path = str(path)
    sentence = what[:1].upper() + what[1:]
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise ConfigError(f"Cannot read {what} {text_path}: {error.strerror}. Check the {flag + ' ' if flag else ''}path.") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{sentence} {text_path} is not UTF-8 text (byte {error.start}). Save it as UTF-8.") from None
    is_yaml = text_path.endswith((".yaml", ".yml"))
    try:
        if is_yaml:
            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except Exception as error:  # yaml and json raise different types; both mean a malformed file
        reason = " ".join(str(error).split())  # yaml's messages span several lines
        raise ConfigError(
            f"{sentence} {text_path} is not valid {'YAML' if is_yaml else 'JSON'} ({reason}). "
            "Fix it: plain `key: value` settings only."
        ) from None
    if not isinstance(values, dict):
        raise ConfigError(f"{sentence} {text_path} must hold a mapping of settings, e.g. `arch: lstm`.")
    return values
