"""Callbacks and probes the bench adds to a Trainer run: a wall-clock budget and the run's own peak memory.

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


def _rss_high_water_bytes():
    """VmHWM of /proc/self/status: the peak RSS since the process started or the last reset, or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_rss_high_water_mark():
    """Resets VmHWM to the current RSS (Linux >= 4.0: "5" into /proc/self/clear_refs); whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _rss_high_water_bytes() is not None


def _accelerator():
    """The first local JAX device when the backend is JAX on an accelerator that reports its allocator's
    statistics (`memory_stats()` with `peak_bytes_in_use`: JAX's GPU and TPU clients), else None."""
    if keras.backend.backend() != "jax":
        return None
    import jax

    device = jax.local_devices()[0]
    if device.platform == "cpu":
        return None
    stats = device.memory_stats()
    return device if stats and "peak_bytes_in_use" in stats else None


class PeakMemory:
    """The peak memory a block of code (one bench run) used on top of what was in use when it began.

    Where it measures, in order:

    - **device**: the backend is JAX on a GPU (or TPU): the device allocator's bytes in use
      (`jax.local_devices()[0].memory_stats()`: weights, optimizer state, activations, XLA's scratch space).
      The allocator keeps one peak for the process's lifetime (`peak_bytes_in_use`, never reset); when the run
      raises it, that peak is exact; when an earlier run had gone higher, the peak is the largest `bytes_in_use`
      sampled every `interval` seconds instead, and `source` says so.
    - **host RSS**: anywhere else (CPU, or TensorFlow on a GPU, whose device memory this does not see): the
      process's resident memory. On Linux the RSS high-water mark (VmHWM) is reset at the start of the run
      ("5" into `/proc/self/clear_refs`), so its value at the end is the run's exact peak; where the reset is
      not permitted, RSS sampled every `interval` seconds from `/proc/self/statm` stands in.

    Either way `peak_bytes` is that peak minus what was in use at the start (`start_bytes`): what the run
    itself added, not the runtime or memory earlier runs left in the process (compiled programs, caches,
    allocator pools), so two runs in one process each get their own figure. A run that reuses memory an
    earlier run freed but the process kept (allocator pools) is not charged for it: on the host this figure
    is a lower bound of what the run would need alone. `peak_total_bytes` is the peak including what was held
    at the start. Where `/proc` is missing (not Linux), only the process's lifetime peak exists
    (getrusage's ru_maxrss): `peak_bytes` is then that lifetime peak, unsubtracted, and `source` says so.

    Example:
    >>> with PeakMemory() as memory:
    ...     data = bytearray(50 * 2**20)
    >>> memory.peak_mb > 49
    True
    """

    def __init__(self, interval=0.05):
        self.interval = interval
        self.peak_bytes = 0
        self.start_bytes = None
        self.peak_total_bytes = None
        self.source = None
        self._stop = threading.Event()
        self._thread = None
        self._sampled = 0

    def _in_use(self):
        if self._device is not None:
            return self._device.memory_stats()["bytes_in_use"]
        return _current_rss_bytes()

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._sampled = max(self._sampled, self._in_use())

    def __enter__(self):
        self._device = _accelerator()
        if self._device is not None:
            stats = self._device.memory_stats()
            self._lifetime_peak = stats["peak_bytes_in_use"]
            self.start_bytes = stats["bytes_in_use"]
        else:
            self.start_bytes = _current_rss_bytes()
            if self.start_bytes is None:
                self.source = "host RSS: getrusage ru_maxrss, the process's lifetime peak (no /proc here)"
                return self
            self._high_water = _reset_rss_high_water_mark()
            self.start_bytes = _current_rss_bytes()  # after the reset, the mark's starting point
        self._sampled = self.start_bytes
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is None:  # no /proc
            self.peak_bytes = self.peak_total_bytes = _lifetime_peak_rss_bytes()
            return False
        self._stop.set()
        self._thread.join()
        self._sampled = max(self._sampled, self._in_use())
        every = f"sampled every {self.interval * 1000:g} ms"
        if self._device is not None:
            name = f"{self._device.platform}:{self._device.id}"
            lifetime_peak = self._device.memory_stats()["peak_bytes_in_use"]
            if lifetime_peak > self._lifetime_peak:
                self.peak_total_bytes = lifetime_peak
                self.source = f"device {name} peak_bytes_in_use above bytes_in_use at the run's start"
            else:
                self.peak_total_bytes = self._sampled
                self.source = (f"device {name} bytes_in_use {every} (an earlier run set the allocator's peak), "
                               "above its value at the run's start")
        elif self._high_water:
            # a PeakMemory inside this one resets the mark too: the samples cover the time before that
            self.peak_total_bytes = max(self._sampled, _rss_high_water_bytes())
            self.source = "host RSS high-water mark (VmHWM, reset at the run's start) above the RSS at its start"
        else:
            self.peak_total_bytes = self._sampled
            self.source = f"host RSS from /proc/self/statm {every}, above the RSS at the run's start"
        self.peak_bytes = max(0, self.peak_total_bytes - self.start_bytes)
        return False

    @property
    def peak_mb(self):
        """`peak_bytes` in MiB."""
        return self.peak_bytes / 2**20

    def record(self):
        """The fields a bench run's bench.json keeps: `peak_memory_mb`, `memory_source`, `memory_at_start_mb`."""
        start = None if self.start_bytes is None else self.start_bytes / 2**20
        return {"peak_memory_mb": self.peak_mb, "memory_source": self.source, "memory_at_start_mb": start}
