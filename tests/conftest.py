"""Shared pytest fixtures.

- `shared_data`: the folder of real datasets beside the repository (`<repo>/../shared/data`), laid out as
  `--data-dir` expects; tests that use it are skipped where it is absent.
- Hypothesis profiles: "dev" (default; few examples, so `python -m pytest` stays fast) and "ci" (the
  fuzz job: `HYPOTHESIS_PROFILE=ci python -m pytest -m fuzz`, 10k+ examples in all). Tests that set
  their own max_examples keep it.
- Every test runs offline: dataset downloads go through `kerasllm.data.download.urlopen`, which is
  replaced by a function that fails like a machine without network. Tests that exercise downloads
  replace it again with their own fake server.
"""

import os
import pathlib
import urllib.error

import pytest
from hypothesis import settings

settings.register_profile("dev", max_examples=20, deadline=None)
settings.register_profile("ci", max_examples=600, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """Path of the shared real-data folder (`<repo>/../shared/data`); skips the test if it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (expected beside the repository)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Makes any dataset download fail as it would offline (tests never use the network)."""
    from kerasllm.data import download

    def refuse(request, timeout=None):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(download, "urlopen", refuse)


# Module fixtures that train a run many tests read. With `--dist loadgroup` (setup.cfg) the tests that use one go
# to the same xdist worker, which trains it once; spread over two workers, each would train it.
SHARED_RUNS = {"bench", "sweep", "earlier_run", "ptb_run", "ptb_slice", "finished_run", "cnn_run",
               "serial_bench"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        for name in SHARED_RUNS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}.{name}"))
