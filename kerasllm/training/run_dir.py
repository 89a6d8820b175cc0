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
>>> run = RunDirectory.check(tempfile.mkdtemp() + "/run", config)
>>> run.resuming
False
>>> run.create(config)
>>> run.config_path.exists(), run.finished
(True, False)
"""

import datetime
import errno
import json
import os
import pathlib
import platform
import subprocess
import sys

import keras
import keras_hub
import numpy

from kerasllm.errors import KerasLLMError, RunDirectoryError
from kerasllm.training.interrupts import deferred_interrupts, kill_point
from kerasllm.version import __version__


class DiskWriteError(RunDirectoryError, OSError):
    """A file could not be written (disk full, read-only, no permission); no partial file is left."""


class CorruptFileError(RunDirectoryError, ValueError):
    """A run file is not valid JSON (edited by hand, or written by something else)."""


_WRITE_FIXES = {
    errno.ENOSPC: "Free some disk space, then run the same command again (a run resumes where it stopped).",
    errno.EDQUOT: "Free some disk space, then run the same command again (a run resumes where it stopped).",
    errno.EACCES: "Choose a writable --out (or fix the folder's permissions).",
    errno.EPERM: "Choose a writable --out (or fix the folder's permissions).",
    errno.EROFS: "Choose an --out on a writable disk.",
}


def disk_write_error(path, error):
    """A one-line `DiskWriteError` for an `OSError` raised while writing `path`."""
    fix = _WRITE_FIXES.get(error.errno, "Check the disk and the folder, or choose another --out.")
    return DiskWriteError(f"Cannot write {path}: {error.strerror or error}. {fix}")


def temporary_path(path, suffix=".tmp"):
    """The name an atomic write of `path` writes first: beside it, hidden, and this process's own, so two
    processes writing one file at once (shards of a bench finishing together) never share it."""
    path = pathlib.Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{suffix}")


def write_json_atomic(path, payload):
    """Writes JSON to a temporary file in the same folder, then renames it over `path`.

    Ctrl-C waits until the write is complete; on a failed write (say, a full disk) the temporary
    file is removed and a `DiskWriteError` says what to do.
    """
    path = pathlib.Path(path)
    tmp = temporary_path(path)
    with deferred_interrupts():
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(payload, f, indent=2, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            kill_point(f"before-rename:{path.name}")
            os.replace(tmp, path)
        except BaseException as error:
            tmp.unlink(missing_ok=True)
            if isinstance(error, OSError) and not isinstance(error, KerasLLMError):
                raise disk_write_error(path, error) from None
            raise


def read_json(path):
    """The JSON in `path`; a `CorruptFileError` naming the file if it is not valid JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError; nesting too deep to parse
        raise CorruptFileError(
            f"{path} is not valid JSON ({type(error).__name__}: {error}). Restore it from a copy, or choose a new --out."
        ) from None


def default_run_path(config, root="runs"):
    """`root/<task>/<timestamp>/<task>/<arch>/seed<k>`, made unique if that timestamp is taken."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = pathlib.Path(root) / config.task / stamp
    candidate, n = base, 1
    while candidate.exists():
        candidate, n = base.with_name(f"{stamp}-{n}"), n + 1
    arch = config.arch.rsplit(":", 1)[-1]  # a student's backbone given as file.py:Class is named by its class
    return candidate / config.task / arch / f"seed{config.seed}"


def _is_temporary(path):
    """Temporary files of atomic writes: `.name.<pid>.tmp`, `name.tmp`, `name.tmp.keras`."""
    return ".tmp" in path.name


def _is_leftover(path):
    """What a killed attempt can leave in a run directory before config.json exists."""
    if path.is_dir():
        return path.name == "checkpoints" and not any(path.iterdir())
    return _is_temporary(path)


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
    source_tokenizer_path = property(lambda self: self.path / "source_tokenizer.json")  # separate vocabularies
    checkpoint_dir = property(lambda self: self.path / "checkpoints")
    state_path = property(lambda self: self.checkpoint_dir / "state.json")

    @property
    def finished(self):
        return self.metrics_path.exists()

    @classmethod
    def check(cls, path, config):
        """Opens `path` for a run of `config` without writing anything: `resuming` says whether it holds an
        unfinished run with this config (to resume); otherwise `create(config)` then makes a new one.

        Raises `RunDirectoryError` if the folder holds a finished run, a run with another config,
        something that is not a run, or is a file.
        """
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise RunDirectoryError(f"--out {run.path} is a file, not a folder. Choose a new --out.")
        if run.path.exists() and any(not _is_leftover(p) for p in run.path.iterdir()):
            if not run.config_path.exists():
                raise RunDirectoryError(
                    f"--out {run.path} exists and is not a kerasllm run directory. Choose a new --out."
                )
            if run.finished:
                raise RunDirectoryError(
                    f"The run in {run.path} is finished; it is never overwritten. Choose a new --out."
                )
            changed = config.changes_from(read_json(run.config_path))
            if changed:
                raise RunDirectoryError(
                    f"The unfinished run in {run.path} has a different config ({', '.join(changed)}). "
                    "Use the same settings to resume it, or choose a new --out."
                )
            run.resuming = True
            run.remove_leftovers()
        return run

    def create(self, config):
        """Makes the folder and writes config.json; on failure removes the folders it made."""
        missing = [folder for folder in (self.checkpoint_dir, self.path, *self.path.parents) if not folder.exists()]
        try:
            self.remove_leftovers()  # of an attempt killed before config.json was written
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.config_path, config.to_dict())
        except OSError as e:
            for folder in missing:  # deepest first: leave no empty folders behind
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            if isinstance(e, RunDirectoryError):
                raise
            raise RunDirectoryError(
                f"Cannot write the run directory {self.path}: {e.strerror}. Choose a writable --out."
            ) from None

    def remove_leftovers(self):
        """Deletes what a killed attempt can leave behind: temporary files of atomic writes, and
        checkpoint files that checkpoints/state.json does not name (written after it, or not yet
        cleaned up)."""
        for folder in (self.path, self.checkpoint_dir):
            if folder.is_dir():
                for leftover in [p for p in folder.iterdir() if p.is_file() and _is_temporary(p)]:
                    leftover.unlink()
        if not self.checkpoint_dir.is_dir():
            return
        state = read_json(self.state_path) if self.state_path.exists() else {}
        named = {state.get("last_checkpoint"), state.get("best_checkpoint")}
        for checkpoint in self.checkpoint_dir.glob("*.keras"):
            if checkpoint.name not in named:
                checkpoint.unlink()

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
    versions = {"kerasllm": __version__, "keras": keras.__version__,
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
