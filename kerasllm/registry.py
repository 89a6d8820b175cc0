"""Name -> class registries, filled by a decorator.

Example:
>>> from kerasllm.registry import Registry
>>> shapes = Registry("shape")
>>> @shapes.register("square")
... class Square:
...     pass
>>> shapes.get("square") is Square
True
>>> shapes.names()
['square']
"""

from kerasllm.checks import did_you_mean
from kerasllm.errors import ConfigError, UnknownNameError


class Registry:
    """A named collection of classes (or factories) looked up by string.

    Args:
        kind: what the registry holds, used in error messages ("architecture").
    """

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

    def register(self, name):
        """Decorator that registers its target under `name`."""

        def decorator(obj):
            if name in self._entries and self._entries[name] is not obj:
                raise ConfigError(
                    f"A {self.kind} named '{name}' is already registered "
                    f"({self._entries[name].__qualname__}). Pick another name."
                )
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name):
        """Returns what is registered under `name`, or raises `UnknownNameError`."""
        if name in self._entries:
            return self._entries[name]
        raise UnknownNameError(
            f"Unknown {self.kind} '{name}'.{did_you_mean(name, self._entries)} "
            f"Known: {', '.join(self.names())}."
        )

    def name_of(self, obj, default=None):
        """The name `obj` is registered under, or `default`."""
        return next((name for name, entry in self._entries.items() if entry is obj), default)

    def names(self):
        """Registered names in registration order."""
        return list(self._entries)

    def __contains__(self, name):
        return name in self._entries
