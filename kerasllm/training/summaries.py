"""TensorBoard event files, with or without TensorFlow: scalars, text and the HParams plugin's summaries.

Every kerasllm writer of event files (`StepScalars`, `TextScores`, the bench's HParams and text samples) goes
through `summary_writer`. Where TensorFlow imports, it writes with `tf.summary`, as TensorFlow runs always have;
elsewhere (a JAX or PyTorch machine without TensorFlow) with the tensorboard package's own `EventFileWriter` and
summary protos, which need numpy only. TensorBoard reads both the same: same tags, steps, values and plugin
metadata (tests/test_tensorboard_data_api.py compares them).

Example:
>>> import tempfile
>>> from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
>>> logdir = tempfile.mkdtemp()
>>> with summary_writer(logdir, kind="tensorboard") as writer:
...     writer.scalar("loss", 0.5, step=3)
...     writer.text("notes", ["one", "two"], step=3)
>>> events = EventAccumulator(logdir, size_guidance={"tensors": 0}).Reload()
>>> sorted(events.Tags()["tensors"]), events.Tensors("loss")[0].step
(['loss', 'notes'], 3)
"""

import abc
import pathlib
import time

from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.plugins.text import summary_v2 as text_summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from kerasllm.registry import Registry

WRITERS = Registry("summary writer")
#: The HParams plugin's column and metric declarations (`SummaryWriter.hparams_config`).
HParam, Metric = hparams_summary.HParam, hparams_summary.Metric


class SummaryWriter(abc.ABC):
    """One event file in `logdir` (created if missing), named `events.out.tfevents.*<filename_suffix>`.

    Use it as a context manager, or call `close()`.
    """

    def __init__(self, logdir, filename_suffix=""):
        self.logdir = pathlib.Path(logdir)

    @abc.abstractmethod
    def scalar(self, tag, value, step):
        """A float32 scalar (the Scalars tab)."""

    @abc.abstractmethod
    def text(self, tag, texts, step):
        """A string, or a list of strings shown as a table (the Text tab; Markdown is rendered)."""

    @abc.abstractmethod
    def hparams(self, hparams, trial_id):
        """The HParams plugin's session: `hparams` ({name: str / int / float / bool}) of trial `trial_id`."""

    @abc.abstractmethod
    def hparams_config(self, hparams, metrics):
        """The HParams plugin's experiment: its columns, a list of `HParam` and a list of `Metric`."""

    @abc.abstractmethod
    def flush(self):
        """Writes what is buffered to the file."""

    @abc.abstractmethod
    def close(self):
        """Flushes and closes the file."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


@WRITERS.register("tensorflow")
class TensorFlowWriter(SummaryWriter):
    """Writes with `tf.summary` (`tf.summary.create_file_writer`)."""

    def __init__(self, logdir, filename_suffix=""):
        super().__init__(logdir, filename_suffix)
        import tensorflow as tf

        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(self.logdir), filename_suffix=filename_suffix)

    def scalar(self, tag, value, step):
        with self._writer.as_default():
            self._tf.summary.scalar(tag, float(value), step=step)

    def text(self, tag, texts, step):
        with self._writer.as_default():
            self._tf.summary.text(tag, self._tf.constant(texts), step=step)

    def hparams(self, hparams, trial_id):
        with self._writer.as_default():
            hparams_summary.hparams(hparams, trial_id=trial_id)

    def hparams_config(self, hparams, metrics):
        with self._writer.as_default():
            hparams_summary.hparams_config(hparams=hparams, metrics=metrics)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


@WRITERS.register("tensorboard")
class EventWriter(SummaryWriter):
    """Writes the summary protos `tf.summary` would, with tensorboard's `EventFileWriter` (no TensorFlow).

    The HParams summaries sit at step 0, as `tf.summary` puts them.
    """

    def __init__(self, logdir, filename_suffix=""):
        super().__init__(logdir, filename_suffix)
        self._writer = EventFileWriter(str(self.logdir), filename_suffix=filename_suffix)

    def _write(self, summary, step):
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def scalar(self, tag, value, step):
        self._write(scalar_summary.scalar_pb(tag, float(value)), step)

    def text(self, tag, texts, step):
        self._write(text_summary.text_pb(tag, texts), step)

    def hparams(self, hparams, trial_id):
        self._write(hparams_summary.hparams_pb(hparams, trial_id=trial_id), 0)

    def hparams_config(self, hparams, metrics):
        self._write(hparams_summary.hparams_config_pb(hparams=hparams, metrics=metrics), 0)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


def default_kind():
    """"tensorflow" where TensorFlow imports, else "tensorboard"."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return "tensorboard"
    return "tensorflow"


def summary_writer(logdir, filename_suffix="", kind=None):
    """A `SummaryWriter` on a new event file in `logdir`: `kind` "tensorflow" or "tensorboard" (None: the
    `default_kind()`, `tf.summary` wherever TensorFlow is installed)."""
    return WRITERS.get(kind or default_kind())(logdir, filename_suffix)
