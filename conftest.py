"""Pytest setup for the docstring examples of kerasllm/ (collected by `--doctest-modules`, see setup.cfg).

Every docstring example runs in the test session itself, isolated by `_isolated_example`:

- the registries (every `kerasllm.registry.Registry` a kerasllm module holds: BACKBONES, TASKS, TOKENIZERS,
  SAMPLERS, LABS, HEADS, ... found by scanning the modules, not listed here) show the example only what the
  package registers: entries that tests registered (from modules outside kerasllm) are hidden while it runs.
  Afterwards each registry is put back exactly as it was, so an example that registers `doc_token_mlp` leaves
  no trace in `list_backbones()` for later tests and examples;
- it runs in a fresh temporary working directory and offline (dataset downloads fail as without network).

Every kerasllm module is imported before the first example runs, so whatever a module registers when it is
imported is in place before the registries are snapshotted (an example never causes a registration that
restoring would then drop). The test fixtures and hypothesis profiles live in tests/conftest.py.
"""

import importlib
import pkgutil
import sys
import urllib.error

import pytest
from _pytest.doctest import DoctestItem


def _is_kerasllm(module_name):
    return module_name == "kerasllm" or str(module_name).startswith("kerasllm.")


def find_registries():
    """Every `Registry` held by an imported kerasllm module, each once."""
    from kerasllm.registry import Registry

    found = {}
    for name, module in list(sys.modules.items()):
        if _is_kerasllm(name) and module is not None:
            for value in list(vars(module).values()):
                if isinstance(value, Registry):
                    found[id(value)] = value
    return list(found.values())


@pytest.fixture(scope="session")
def kerasllm_registries():
    """Imports every kerasllm module (so import-time registrations are done), then finds the registries."""
    import kerasllm

    for module in pkgutil.walk_packages(kerasllm.__path__, "kerasllm."):
        importlib.import_module(module.name)
    return find_registries()


@pytest.fixture(autouse=True)
def _isolated_example(request):
    """Around each docstring example: package-only registries, restored afterwards; a temporary cwd; offline."""
    if not isinstance(request.node, DoctestItem):
        yield
        return
    from kerasllm.data import download

    def refuse(request, timeout=None):
        raise urllib.error.URLError("network disabled in docstring examples")

    saved = [(registry, dict(registry._entries)) for registry in request.getfixturevalue("kerasllm_registries")]
    for registry, entries in saved:
        registry._entries.clear()
        registry._entries.update(
            (name, entry) for name, entry in entries.items() if _is_kerasllm(getattr(entry, "__module__", "")))
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    monkeypatch.setattr(download, "urlopen", refuse)
    try:
        yield
    finally:
        for registry, entries in saved:
            registry._entries.clear()
            registry._entries.update(entries)
