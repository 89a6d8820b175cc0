"""How `run_bench` shows its progress: plain lines, or one live display.

`run_bench` tells a display what happens (a run starts, a run ends with its line, the ETA) and asks it
for the callbacks of each fit; the display decides what the user sees. The caller picks the display
(the CLI: live on a terminal, lines otherwise, Keras' own lines with --verbose); the library never
looks at the terminal itself.

- `BenchLines(log)`: a line when a run starts and one when it ends (`[3/18] mqar@pairs4/gru/seed0: done
  test token_accuracy=0.71 | 41.2s | elapsed 2:03 | ETA 10:15`); Keras prints its per-epoch lines when
  `keras_verbose=2`, nothing with 0.
- `BenchProgress()`: one `rich` display: runs done/total with elapsed time and ETA, and under it the run
  in training with its step bar, loss and tokens/s; each finished run's line scrolls above it.

Example (the CLI passes `BenchProgress()` on a terminal):
>>> from kerasllm.bench.progress import BenchLines
>>> display = BenchLines(keras_verbose=0)
>>> with display:
...     display.bench_started(1)
...     display.run_started("mqar/gru/seed0", "[1/1] mqar/gru/seed0: training ...")
...     display.run_finished("[1/1] mqar/gru/seed0: done test token_accuracy=0.71 | 4.2s | ETA 0:00", eta=0.0)
[1/1] mqar/gru/seed0: training ...
[1/1] mqar/gru/seed0: done test token_accuracy=0.71 | 4.2s | ETA 0:00
"""

import time

from rich.console import Console
from rich.progress import Progress

from kerasllm.training.progress import StepProgress, progress_columns


class BenchLines:
    """Progress as plain lines through `log`.

    Args:
        log: function that prints one line. Defaults to `print`.
        keras_verbose: `fit`'s verbosity for each run: 2 adds Keras' line per epoch, 0 leaves it out.
    """

    def __init__(self, log=print, keras_verbose=2):
        self._log = log
        self.keras_verbose = keras_verbose

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def log(self, line):
        self._log(line)

    def bench_started(self, total):
        """The bench has `total` runs (its first line is already logged)."""

    def run_started(self, name, line):
        """A run that will train starts; `line` is its "[i/n] name: training ..." line."""
        self._log(line)

    def fit_callbacks(self, metric, tokens_per_step):
        return []

    def run_finished(self, line, eta):
        """A run ended (trained, reused or failed); `eta`: seconds left for the bench, None if unknown."""
        self._log(line)


class BenchProgress:
    """One live display of the whole bench (use it as a context manager; `run_bench` does).

    Args:
        console: the `rich.console.Console` to draw on (default: one on stdout).
    """

    keras_verbose = 0

    def __init__(self, console=None):
        self.console = console or Console()
        self._progress = Progress(*progress_columns(), console=self.console)
        self._runs = None
        self._done = 0
        self._current = None
        self._step = None

    def __enter__(self):
        self._progress.start()
        return self

    def __exit__(self, *exc):
        self._close_step()
        self._progress.stop()

    def log(self, line):
        """Prints `line` (above the display while it runs)."""
        self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def bench_started(self, total):
        self._runs = self._progress.add_task("runs", total=total, info="", deadline=None)

    def run_started(self, name, line):
        """A run that will train starts (`line` is for plain output; the display shows `name`)."""
        self._current = name

    def fit_callbacks(self, metric, tokens_per_step):
        """A step bar for the run in training, as a row under the runs."""
        self._close_step()
        self._step = StepProgress(metric=metric, tokens_per_step=tokens_per_step, live=True,
                                  progress=self._progress, description=self._current or "run",
                                  validation_lines=False)
        return [self._step]

    def run_finished(self, line, eta):
        self._close_step()
        self._done += 1
        deadline = None if eta is None else time.monotonic() + eta
        if self._runs is not None:
            self._progress.update(self._runs, completed=self._done, deadline=deadline)
        self.log(line)

    def _close_step(self):
        if self._step is not None:
            self._step.close()
            self._step = None
