"""A step progress bar for `Trainer.fit`: step/total, loss, tokens/s and ETA, plus a line per validation.

The caller decides how it looks (the library never asks whether stdout is a terminal): `live=True` draws
one `rich` bar that updates in place and prints each validation above it; `live=False` prints only the
validation lines, plain text for logs, CI and pipes. Pass it with `verbose=0`, so Keras' own progress
lines are off.

Example (with the Trainer: `StepProgress(metric=trainer.info.metric,
tokens_per_step=trainer.tokens_per_step, live=sys.stdout.isatty())`, then `trainer.fit(callbacks=[it], verbose=0)`):
>>> import keras, numpy as np
>>> from kerasllm.training.progress import StepProgress
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> with StepProgress(live=False) as progress:
...     history = model.fit(np.zeros((8, 2)), np.zeros((8, 1)), batch_size=4, epochs=2, callbacks=[progress],
...                         verbose=0)
step 2/4  loss 0.0000
step 4/4  loss 0.0000
"""

import sys
import time

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

def validation_line(step, total, logs, metric=None):
    """`step 80/400  loss 2.3012  val_loss 2.2875  val_accuracy 0.5120  10,914 tokens/s` from an epoch's logs."""
    parts = [f"step {step}/{total}"]
    names = ["loss", "val_loss"] + ([f"val_{metric}"] if metric else [])
    for name in dict.fromkeys(names):
        if logs.get(name) is not None:
            parts.append(f"{name} {float(logs[name]):.4f}")
    if logs.get("tokens_per_second") is not None:
        parts.append(f"{float(logs['tokens_per_second']):,.0f} tokens/s")
    return "  ".join(parts)


class EtaColumn(ProgressColumn):
    """`ETA 1:23`: the task's own estimate, or a countdown to its `deadline` field (a `time.monotonic()`)."""

    def render(self, task):
        if "deadline" in task.fields:
            deadline = task.fields["deadline"]
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        else:
            remaining = 0.0 if task.finished else task.time_remaining
        return Text("ETA -:--" if remaining is None else f"ETA {clock(remaining)}", style="progress.remaining")


def progress_columns():
    """The columns of a bar: description, bar, done/total, its `info` field, elapsed time, ETA."""
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), EtaColumn())


def clock(seconds):
    """`m:ss`, or `h:mm:ss` past an hour."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class StepProgress(keras.callbacks.Callback):
    """Shows the optimizer steps of one `fit` as a progress bar (or, not live, as a line per validation).

    Args:
        metric: the task's headline metric; each validation line shows `val_<metric>` when Keras logs it.
        tokens_per_step: average input tokens per batch (`Trainer.tokens_per_step`), for a live tokens/s.
            Without it the bar shows tokens/s from the last validation (the Trainer's Throughput).
        live: draw a bar that updates in place (a terminal); False prints plain validation lines only.
        console: the `rich.console.Console` to draw on or print to (default: one on stdout).
        progress: a running `rich.progress.Progress` to add this bar to (as the bench does); it is left
            running. Default: the callback starts its own and stops it when training ends.
        description: the bar's label. Defaults to "train".
        validation_lines: print a line at each validation (live: above the bar). Defaults to True.

    Use it as a context manager (or call `close()`) so a bar is taken down even when `fit` raises.
    """

    # The batch hook may run off the training thread (rich's Progress takes a lock; `fit` waits for every batch
    # hook before `on_epoch_end`), so `fit` need not wait for each step's logs.
    async_safe = True

    def __init__(self, metric=None, tokens_per_step=None, live=True, console=None, progress=None,
                 description="train", validation_lines=True):
        super().__init__()
        self.metric, self.tokens_per_step, self.live = metric, tokens_per_step, live
        self.console, self.description, self.validation_lines = console, description, validation_lines
        self._progress, self._owns_progress = progress, progress is None
        self._task = None
        self._tokens_per_second = None
        self._loss = None

    # ------------------------------------------------------------------ display
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Takes the bar down (idempotent): stops its own display, or removes its row from a shared one."""
        if self._progress is not None:
            if self._owns_progress:
                self._progress.stop()
                self._progress = None
            elif self._task is not None:
                self._progress.remove_task(self._task)
        self._task = None

    def _print(self, line):
        if self.live and self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        elif self.console is not None:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=sys.stdout, flush=True)

    def _info(self):
        parts = []
        if self._loss is not None:
            parts.append(f"loss {self._loss:.4f}")
        if self._tokens_per_second is not None:
            parts.append(f"{self._tokens_per_second:,.0f} tok/s")
        return "  ".join(parts)

    # ------------------------------------------------------------------ Keras hooks
    def on_train_begin(self, logs=None):
        self._steps_per_epoch = self.params.get("steps") or 0
        self._total = self._steps_per_epoch * (self.params.get("epochs") or 1)
        if not self.live:
            return
        if self._progress is None:
            self._progress = Progress(*progress_columns(), console=self.console or Console())
            self._progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        self._base = epoch * self._steps_per_epoch
        self._epoch_start = time.perf_counter()
        self._done = None
        if self.live and self._task is None:  # a resumed run starts at its first unfinished epoch
            self._task = self._progress.add_task(self.description, total=self._total or None, completed=self._base,
                                                 info=self._info())

    def on_train_batch_end(self, batch, logs=None):
        self._done = done = batch + 1  # `batch` is the last step of the call (steps_per_execution)
        if self._task is None:
            return
        if logs and logs.get("loss") is not None:
            self._loss = float(logs["loss"])
        seconds = time.perf_counter() - self._epoch_start
        if self.tokens_per_step and seconds > 0:
            self._tokens_per_second = self.tokens_per_step * done / seconds
        self._progress.update(self._task, completed=self._base + done, info=self._info())

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        # the steps run: fewer than an epoch's when a time budget (or Ctrl-C) cut it short
        step = self._base + (self._done if self._done is not None else self._steps_per_epoch)
        if logs.get("tokens_per_second") is not None:
            self._tokens_per_second = float(logs["tokens_per_second"])
        if logs.get("loss") is not None:
            self._loss = float(logs["loss"])
        if self._task is not None:
            self._progress.update(self._task, completed=step, info=self._info())
        if self.validation_lines:
            self._print(validation_line(step, self._total, logs, self.metric))

    def on_train_end(self, logs=None):
        self.close()
