"""Callbacks and probes the bench adds to a Trainer run: a wall-clock budget and peak memory.

Example (a budget of 0 s stops any `fit` after its first step; the Trainer takes it as `fit(callbacks=[...])`):
>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> budget = TimeBudget(seconds=0.0)
>>> _ = model.fit(np.zeros((8, 2)), np.zeros((8, 1)), batch_size=2, epochs=3, verbose=0, callbacks=[budget])
>>> budget.stopped, budget.steps_done
(True, 1)
"""

import os
import resource
import sys
import threading
import time

import keras


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of wall clock have been spent in `fit`.

    It sets `model.stop_training` after the first batch that ends past the budget; Keras then
    finishes the epoch's bookkeeping (validation, checkpoints) and returns, so every architecture
    trains for the same wall clock. The learning-rate schedule was laid out for the full step budget,
    so a run stopped early never reaches the end of its decay.

    Args:
        seconds: the wall-clock budget for training (compilation and validation included).
        spent: seconds already spent by an earlier, interrupted attempt of the same run.
        steps_per_epoch: optimizer steps per epoch (to count the steps actually done).

    Attributes:
        stopped: whether the budget ended training.
        steps_done: optimizer steps completed when training stopped (None if it never stopped).
        elapsed: seconds spent (including `spent`) when training ended.
    """

    def __init__(self, seconds, spent=0.0, steps_per_epoch=None):
        super().__init__()
        self.seconds = float(seconds)
        self.spent = float(spent)
        self.steps_per_epoch = steps_per_epoch
        self.stopped = False
        self.steps_done = None
        self.elapsed = self.spent
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.elapsed = self.spent + time.perf_counter() - self._start
        if not self.stopped and self.elapsed >= self.seconds:
            self.stopped = True
            self.model.stop_training = True
            steps_per_epoch = self.steps_per_epoch or self.params.get("steps") or 0
            self.steps_done = self._epoch * steps_per_epoch + batch + 1

    def on_train_end(self, logs=None):
        self.elapsed = self.spent + time.perf_counter() - self._start


def _current_rss_bytes():
    """Resident set size now, from /proc/self/statm (Linux), or None where it is unavailable."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _lifetime_peak_rss_bytes():
    """getrusage's ru_maxrss: the process's peak RSS since it started (KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class PeakMemory:
    """Peak resident memory (RSS) of this process while a block runs.

    Samples /proc/self/statm every `interval` seconds in a background thread, so each benchmark
    cell gets its own peak even though cells share the process (the TensorFlow/JAX runtime's own
    few hundred MB are included). Where /proc is unavailable it falls back to getrusage's
    ru_maxrss, the peak since the process started; `source` says which one was used.

    Example:
    >>> with PeakMemory() as memory:
    ...     data = bytearray(50 * 2**20)
    >>> memory.peak_mb > 50
    True
    """

    def __init__(self, interval=0.05):
        self.interval = interval
        self.peak_bytes = 0
        self.source = None
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._update()

    def _update(self):
        rss = _current_rss_bytes()
        if rss is not None:
            self.peak_bytes = max(self.peak_bytes, rss)

    def __enter__(self):
        if _current_rss_bytes() is None:
            self.source = "getrusage ru_maxrss (process lifetime peak)"
            self._thread = None
        else:
            self.source = f"/proc/self/statm RSS sampled every {self.interval * 1000:g} ms during the run"
            self._update()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._update()
        else:
            self.peak_bytes = _lifetime_peak_rss_bytes()
        return False

    @property
    def peak_mb(self):
        return self.peak_bytes / 2**20
