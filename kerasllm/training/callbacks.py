"""Callbacks the Trainer adds to every fit: throughput and crash-safe checkpoints.

Example:
>>> throughput = Throughput(tokens_per_step=32 * 64)
"""

import math
import os
import shutil
import time

import keras
import numpy as np

from kerasllm.errors import KerasLLMError
from kerasllm.training.interrupts import deferred_interrupts, kill_point
from kerasllm.training.run_dir import disk_write_error, write_json_atomic


class Throughput(keras.callbacks.Callback):
    """Adds `tokens_per_second` (real input tokens) and `epoch_seconds` to each epoch's logs.

    Both count training only: the time `fit` spends on validation is left out, and an epoch cut
    short (by a time budget or Ctrl-C) counts the steps it ran. Put it before `StepScalars`
    so TensorBoard records the values.

    Args:
        tokens_per_step: average number of non-pad input tokens in one training batch.
    """

    # Its batch hook only stores an int, so Keras may run it off the training thread (`fit` waits for every
    # batch hook before `on_epoch_end`): a synchronous batch hook makes Keras convert each step's logs.
    async_safe = True

    def __init__(self, tokens_per_step):
        super().__init__()
        self.tokens_per_step = tokens_per_step
        self.train_seconds = 0.0
        self.last_validation_seconds = None  # of the last epoch's validation

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._validation_seconds = 0.0
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps = batch + 1  # `batch` is the last step of the call (steps_per_execution)

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        self._validation_seconds += time.perf_counter() - self._test_start

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start - self._validation_seconds
        self.train_seconds += seconds
        self.last_validation_seconds = self._validation_seconds
        if logs is not None:
            logs["epoch_seconds"] = seconds
            logs["tokens_per_second"] = self.tokens_per_step * self._steps / max(seconds, 1e-9)


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the end of an epoch whose training loss is NaN or infinite.

    Keras' `TerminateOnNaN` checks every batch, and its batch hook makes `fit` wait for each step's logs; the
    epoch's mean loss is NaN as soon as one batch's is, so checking it once per epoch stops the same runs.
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True


def save_model_atomic(model, path):
    """Saves a `.keras` file under a temporary name, then renames it over `path` (`_replace_atomic`)."""
    _replace_atomic(path, model.save)


def copy_file_atomic(source, path):
    """Copies `source` to `path` as `save_model_atomic` writes (`_replace_atomic`): a saved model copied is the same
    file, without serializing the model again."""
    _replace_atomic(path, lambda tmp: shutil.copyfile(source, tmp))


def _replace_atomic(path, write):
    """Runs `write(tmp)` on a temporary name beside `path` (`model.tmp.keras` for `model.keras`), then renames it
    over `path`.

    Ctrl-C waits until the file is complete; on a failed write (say, a full disk) the temporary file
    is removed and a `DiskWriteError` says what to do.
    """
    path = str(path)
    root, extension = os.path.splitext(path)
    tmp = root + ".tmp" + extension
    with deferred_interrupts():
        try:
            write(tmp)
            kill_point(f"before-rename:{os.path.basename(path)}")
            os.replace(tmp, path)
        except BaseException as error:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(error, OSError) and not isinstance(error, KerasLLMError):
                raise disk_write_error(path, error) from None
            raise


def seed_states(model):
    """The model's random seed-generator variables (dropout), in a fixed order.

    Keras leaves them out of `.keras` files; state.json keeps their values so that a resumed run
    draws the same dropout masks as an uninterrupted one (`restore_seed_states`).
    """
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def restore_seed_states(model, values):
    """Sets the seed-generator states saved by `Checkpointer` (no-op for a state.json without them)."""
    variables = seed_states(model)
    if values is None or len(values) != len(variables):
        return
    for variable, value in zip(variables, values):
        variable.assign(np.asarray(value, dtype=variable.dtype))


class Checkpointer(keras.callbacks.Callback):
    """Crash-safe checkpoints: after epoch n saves `epoch-<n>.keras` (with optimizer state), and
    `best-epoch-<n>.keras` when the monitored validation value improves, then `state.json`, which
    names both files; older files are removed only after that. Every write is atomic and state.json
    is written last, so a kill at any moment leaves a state.json that names complete files; a Ctrl-C
    during these writes takes effect once they are done.

    Args:
        run: the `RunDirectory`.
        monitor: logs key to watch, e.g. "val_accuracy".
        mode: "max" or "min".
        state: the state.json of a previous (interrupted) attempt, or None; its best value,
            history and training time carry over.
        throughput: the `Throughput` callback whose training time is added to the state.
    """

    def __init__(self, run, monitor, mode, state=None, throughput=None):
        super().__init__()
        self.run, self.monitor, self.mode = run, monitor, mode
        self.throughput = throughput
        state = state or {}
        self.best = state.get("best", -math.inf if mode == "max" else math.inf)
        self.best_epoch = state.get("best_epoch")
        self.best_checkpoint = state.get("best_checkpoint")
        self.history = state.get("history", [])
        self.seconds_before = state.get("train_seconds", 0.0)

    def _improved(self, value):
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        value = logs.get(self.monitor)
        if value is None or math.isnan(value):
            return  # NaN: TerminateOnNaN stops; the last good checkpoint stays.
        epochs_done = epoch + 1
        last = f"epoch-{epochs_done}.keras"
        with deferred_interrupts():  # a Ctrl-C stops training only after the state below is complete
            save_model_atomic(self.model, self.run.checkpoint_dir / last)
            if self._improved(value):
                self.best, self.best_epoch = float(value), epochs_done
                self.best_checkpoint = f"best-epoch-{epochs_done}.keras"
                copy_file_atomic(self.run.checkpoint_dir / last, self.run.checkpoint_dir / self.best_checkpoint)
            self.history.append({"epoch": epochs_done, **{k: float(v) for k, v in logs.items()}})
            write_json_atomic(self.run.state_path, self.state(epochs_done, last))
            for stale in self.run.checkpoint_dir.glob("*.keras"):
                if stale.name not in (last, self.best_checkpoint):
                    stale.unlink()

    def state(self, epochs_done, last_checkpoint):
        seconds = self.seconds_before + (self.throughput.train_seconds if self.throughput else 0.0)
        return {"epoch": epochs_done, "last_checkpoint": last_checkpoint,
                "best_checkpoint": self.best_checkpoint, "best": self.best, "best_epoch": self.best_epoch,
                "monitor": self.monitor, "history": self.history, "train_seconds": seconds,
                "seed_states": [np.asarray(keras.ops.convert_to_numpy(v)).tolist() for v in seed_states(self.model)]}
