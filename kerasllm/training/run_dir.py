"""The run directory: one folder per training run that is never overwritten.

Layout::

    config.json      the TrainConfig (what decides the result)
    manifest.json    versions, backend, hardware, git commit, seed, command
    tokenizer.json   the fitted tokenizer
    train/ validation/   TensorBoard event files
    checkpoints/     state.json (epoch reached, names of the last and best checkpoint files, best
                     value, history) and those two files, epoch-<n>.keras and best-epoch-<k>.keras
    model.keras      the best model (by the validation headline metric)
    metrics.json     final metrics; its presence marks the run as finished

Example:
>>> import tempfile
>>> from kerasllm.config import TrainConfig
>>> config = TrainConfig(task="mqar", arch="lstm")
>>> run = RunDirectory.prepare(tempfile.mkdtemp() + "/run", config)
>>> run.resuming
False
"""

import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys

from kerasllm.errors import RunDirectoryError


def write_json_atomic(path, payload):
    """Writes JSON to a temporary file in the same folder, then renames it over `path`."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def default_run_path(config, root="runs"):
    """`root/<task>/<timestamp>/<task>/<arch>/seed<k>`, made unique if that timestamp is taken."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = pathlib.Path(root) / config.task / stamp
    candidate, n = base, 1
    while candidate.exists():
        candidate, n = base.with_name(f"{stamp}-{n}"), n + 1
    return candidate / config.task / config.arch / f"seed{config.seed}"


class RunDirectory:
    """Paths and atomic writes inside one run directory."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.resuming = False

    config_path = property(lambda self: self.path / "config.json")
    manifest_path = property(lambda self: self.path / "manifest.json")
    metrics_path = property(lambda self: self.path / "metrics.json")
    model_path = property(lambda self: self.path / "model.keras")
    tokenizer_path = property(lambda self: self.path / "tokenizer.json")
    checkpoint_dir = property(lambda self: self.path / "checkpoints")
    state_path = property(lambda self: self.checkpoint_dir / "state.json")

    @property
    def finished(self):
        return self.metrics_path.exists()

    @classmethod
    def prepare(cls, path, config):
        """Creates a new run directory, or reopens an unfinished one with the same config to resume.

        Raises `RunDirectoryError` if the folder holds a finished run, a run with another config,
        something that is not a run, or cannot be written.
        """
        run = cls(path)
        if run.path.exists() and any(run.path.iterdir()):
            if not run.config_path.exists():
                raise RunDirectoryError(
                    f"--out {run.path} exists and is not a kerasllm run directory. Choose a new --out."
                )
            if run.finished:
                raise RunDirectoryError(
                    f"The run in {run.path} is finished; it is never overwritten. Choose a new --out."
                )
            saved = read_json(run.config_path)
            if saved != config.to_dict():
                changed = sorted(k for k in set(saved) | set(config.to_dict()) if saved.get(k) != config.to_dict().get(k))
                raise RunDirectoryError(
                    f"The unfinished run in {run.path} has a different config ({', '.join(changed)}). "
                    "Use the same settings to resume it, or choose a new --out."
                )
            run.resuming = True
            return run
        try:
            run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(run.config_path, config.to_dict())
        except OSError as e:
            raise RunDirectoryError(f"Cannot write the run directory {run.path}: {e.strerror}. Choose a writable --out.")
        return run

    def write_manifest(self, config, extra=None):
        write_json_atomic(self.manifest_path, {**manifest(config), **(extra or {})})


def _git_commit():
    source = pathlib.Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=source, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def manifest(config):
    """What is needed to reproduce and compare a run: versions, backend, hardware, commit, seed."""
    import keras
    import keras_hub
    import numpy

    import kerasllm

    versions = {"kerasllm": kerasllm.__version__, "keras": keras.__version__,
                "keras_hub": keras_hub.__version__, "numpy": numpy.__version__,
                "python": platform.python_version()}
    for module in ("tensorflow", "jax", "torch"):
        if module in sys.modules:
            versions[module] = getattr(sys.modules[module], "__version__", "unknown")
    return {
        "config": config.to_dict(),
        "seed": config.seed,
        "backend": keras.backend.backend(),
        "versions": versions,
        "git_commit": _git_commit(),
        "hardware": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "devices": [str(d) for d in keras.distribution.list_devices()],
        },
        "command": sys.argv,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }
