"""A user's class named by import path: a backbone of its own, or a layer inside a built-in backbone.

`kerasllm train --arch my_backbone.py:MyBackbone` runs a `Backbone` subclass; `--cell`, `--attention` and
`--block` (`arch_options.cell` / `attention` / `block`) put a student's layer inside `rnn`/`gru`/`lstm`,
`transformer` or `cnn`; `kerasllm bench --archs my_cell.py:MyCell` puts the class where the lab conventions
(docs/labs/) say it belongs:

| option      | backbones             | built as                                      | follows                          |
|-------------|-----------------------|-----------------------------------------------|----------------------------------|
| `cell`      | rnn, gru, lstm        | `Class(units)`                                | a Keras RNN cell                 |
| `attention` | transformer           | `Class(num_heads=..., causal=...)`, or        | `MultiHeadSelfAttention`         |
|             |                       | `Class(causal=...)` (one head, then every     | `ScaledDotProductAttention`      |
|             |                       | head of `MultiHeadSelfAttention` uses it)     |                                  |
| `block`     | cnn                   | `Class(kernel_size=..., dilation_rate=...)`   | `CausalConvBlock`                |

`resolve_arch` is the one place that turns a config's `arch` and `arch_options` into the backbone class and
its options, importing what they name; `kerasllm.models.build_model` calls it. A config keeps the import path
(config.json must rebuild the run anywhere); a saved model keeps only the serialized layer, so loading it needs
the class imported first, as for any custom Keras object (`kerasllm.training.open_run` does that).

Example:
>>> from kerasllm.models.plugins import resolve_arch
>>> cls, options = resolve_arch("rnn", {"cell": "keras.layers:GRUCell"})
>>> cls.__name__, options["cell"].__name__
('SimpleRNNBackbone', 'GRUCell')
"""

import inspect

import keras

from kerasllm.config import PLUGIN_OPTIONS
from kerasllm.errors import ConfigError
from kerasllm.imports import is_import_path, is_prefixed_arch, load_object
from kerasllm.layers.plugged import takes
from kerasllm.models.backbone import BACKBONES, Backbone
from kerasllm.registry import Registry

#: Architecture prefix -> `resolve(rest) -> (backbone class, arch_options)` for the names `prefix:rest`:
#: `hub:<preset or ClassName>` (kerasllm.models.hub). Its names are `kerasllm.imports.ARCH_PREFIXES`.
ARCH_PREFIXES = Registry("architecture prefix")


def plugin_arch(spec):
    """`(arch, arch_options)` that run the class named by `spec` (an import path), by the lab conventions.

    A `Backbone` subclass is an architecture of its own; a cell (`Class(units)`) goes into `rnn`, an attention
    layer (`Class(causal=...)`) into `transformer`, a convolution block (`Class(kernel_size=...)`) into `cnn`.
    """
    cls = load_object(spec)
    if inspect.isclass(cls) and issubclass(cls, Backbone):
        return spec, {}
    if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer):
        for argument, arch, option in (("units", "rnn", "cell"), ("causal", "transformer", "attention"),
                                       ("kernel_size", "cnn", "block")):
            if takes(cls, argument):
                return arch, {option: spec}
    raise ConfigError(
        f"{spec} is neither a Backbone nor a cell (Class(units)), an attention layer (Class(causal=...)) or a "
        "convolution block (Class(kernel_size=...)). See docs/labs/ for the conventions."
    )


def resolve_arch(arch, arch_options):
    """The backbone class and constructor options of `arch` (a registry name or an import path).

    Import paths in `cell` / `attention` / `block` are replaced by the classes they name; an `arch` that names a
    layer (not a Backbone) runs inside the built-in backbone it plugs into (`plugin_arch`).

    Raises:
        UnknownNameError: an unknown registry name (with a did-you-mean).
        ConfigError: an import path that fails to load, or names the wrong kind of class.
    """
    cls, plugged = _backbone_of(arch)
    options = {**arch_options, **plugged}
    for option in PLUGIN_OPTIONS:
        value = options.get(option)
        if isinstance(value, str):
            if not is_import_path(value):
                raise ConfigError(f"arch_options.{option} must be an import path like my_file.py:MyClass, "
                                  f"got {value!r}.")
            options[option] = load_object(value)
    return cls, options


def backbone_class(arch):
    """The backbone class `arch` runs as: a registered name's, a `Backbone` import path's own, or for a layer's
    import path the built-in backbone it plugs into (a cell -> rnn, ...), as `resolve_arch` builds it."""
    return _backbone_of(arch)[0]


def _backbone_of(arch):
    """(backbone class, the arch_options a plugged layer adds) of `arch`."""
    plugged = {}
    if is_prefixed_arch(arch):
        prefix, _, rest = arch.partition(":")
        return ARCH_PREFIXES.get(prefix)(rest)
    if is_import_path(arch):
        arch, plugged = plugin_arch(arch)
    cls = load_object(arch) if is_import_path(arch) else BACKBONES.get(arch)  # plugin_arch checked a Backbone
    return cls, plugged


def knows_arch(arch):
    """Whether `arch` names a backbone: a registered name, an import path or a prefixed name (`hub:...`)."""
    return is_import_path(arch) or is_prefixed_arch(arch) or arch in BACKBONES.names()


__all__ = ["ARCH_PREFIXES", "backbone_class", "knows_arch", "plugin_arch", "resolve_arch"]
