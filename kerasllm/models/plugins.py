"""A user's own layer inside a built-in backbone: a cell in `rnn`, attention in `transformer`, a block in `cnn`.

`get_backbone("rnn", cell=MyCell)` (a class, an instance, or an import path `my_cell.py:MyCell`) runs the
user's cell in every recurrent layer; `attention=` and `block=` do the same for the Transformer and the
CNN. The classes follow the lab conventions (docs/labs/):

| option      | backbones             | built as                                      | follows                          |
|-------------|-----------------------|-----------------------------------------------|----------------------------------|
| `cell`      | rnn, gru, lstm        | `Class(units)`                                | a Keras RNN cell                 |
| `attention` | transformer           | `Class(num_heads=..., causal=...)`, or        | `MultiHeadSelfAttention`         |
|             |                       | `Class(causal=...)` (one head, then every     | `ScaledDotProductAttention`      |
|             |                       | head of `MultiHeadSelfAttention` uses it)     |                                  |
| `block`     | cnn                   | `Class(kernel_size=..., dilation_rate=...)`   | `CausalConvBlock`                |

A backbone stores the plugin as a serialized Keras object (class name and config, never a file path),
so a saved model names no file to import: loading needs the class to be defined (imported) first, as
for any custom Keras object. `kerasllm` does that from the run's config.json, where the import path
is kept (`TrainConfig.arch_options`).

Example:
>>> from kerasllm.models import get_backbone
>>> from kerasllm.layers import GRUCell
>>> backbone = get_backbone("rnn", vocab_size=50, hidden_dim=8, num_layers=2, cell=GRUCell)
>>> backbone.get_config()["cell"]["class_name"]
'GRUCell'
"""

import inspect

import keras

from kerasllm.errors import ConfigError
from kerasllm.imports import check_may_import, is_import_path, load_object, takes

#: Backbone option -> the built-in architectures that take it.
PLUGIN_OPTIONS = {"cell": ("rnn", "gru", "lstm"), "attention": ("transformer",), "block": ("cnn",)}


def plugin_arch(spec):
    """`(arch, arch_options)` that run the class named by `spec` (a `file.py:Class` import path).

    A `Backbone` subclass is an architecture of its own; a cell goes into `rnn`, an attention layer
    into `transformer`, a convolution block into `cnn`.
    """
    from kerasllm.models.backbone import Backbone

    cls = load_object(spec)
    if inspect.isclass(cls) and issubclass(cls, Backbone):
        return spec, {}
    if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer):
        if takes(cls, "units"):
            return "rnn", {"cell": spec}
        if takes(cls, "causal"):
            return "transformer", {"attention": spec}
        if takes(cls, "kernel_size"):
            return "cnn", {"block": spec}
    raise ConfigError(
        f"{spec} is neither a Backbone nor a cell (Class(units)), an attention layer (Class(causal=...)) or a "
        "convolution block (Class(kernel_size=...)). See docs/labs/ for the conventions."
    )


def plugin_label(spec):
    """A short name for a class given by import path (its class name), for run folders and tables."""
    return spec.rsplit(":", 1)[-1] if is_import_path(spec) else spec




def load_backbone_path(spec):
    """Loads a `Backbone` subclass named by an import path and registers it under that path."""
    from kerasllm.models.backbone import BACKBONES, Backbone, register_backbone

    cls = load_object(spec)
    if not (inspect.isclass(cls) and issubclass(cls, Backbone)):
        raise ConfigError(f"arch {spec} is not a kerasllm.models.Backbone subclass. Derive it from Backbone, or pass "
                          "a cell / attention / block with --cell / --attention / --block.")
    if spec not in BACKBONES:
        register_backbone(spec)(cls)
    return cls


def load_plugins(arch, arch_options):
    """Imports the user's classes a run names by import path (its `arch`, or `cell` / `attention` / `block` in
    `arch_options`), so that its model builds, and its saved checkpoints load, in this process.

    Refused when the settings come from a file read without `trust_code` (`kerasllm.imports.settings_from`).
    """
    named = [arch] if is_import_path(arch) else []
    named += [arch_options[o] for o in PLUGIN_OPTIONS if is_import_path(arch_options.get(o))]
    check_may_import(named)
    if is_import_path(arch):
        load_backbone_path(arch)
    for option in PLUGIN_OPTIONS:
        value = arch_options.get(option)
        if value is not None and not is_import_path(value):
            raise ConfigError(f"arch_options.{option} must be an import path like my_file.py:MyClass, got {value!r}.")
        if value is not None:
            load_object(value)


__all__ = ["PLUGIN_OPTIONS", "load_backbone_path", "load_plugins", "plugin_arch", "plugin_label"]
