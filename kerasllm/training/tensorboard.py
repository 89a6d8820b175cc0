"""TensorBoard scalars on one x axis: every epoch's logs, stepped by the optimizer step.

`StepScalars` replaces `keras.callbacks.TensorBoard`, which writes each value twice (`epoch_<name>` against
the epoch number, `evaluation_<name>_vs_iterations` against steps). Here training values go to `<run>/train`
and validation values (the `val_` keys, without the prefix) to `<run>/validation`, each under its plain name
(`loss`, `accuracy`, ...) and once, at the optimizer step the epoch ended on, so a chart overlays train and
validation, and a run resumed from a checkpoint goes on at the step it stopped at. The learning rate in use
is added to the training values.

Put it after the `Checkpointer`: an epoch is logged once it is saved, so a run killed in between and resumed
misses that point rather than drawing it twice.

Example:
>>> import pathlib, tempfile, keras, numpy as np
>>> run_dir = pathlib.Path(tempfile.mkdtemp())
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> x, y = np.zeros((8, 2)), np.zeros((8, 1))
>>> _ = model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y), verbose=0, callbacks=[StepScalars(run_dir)])
>>> sorted(path.name for path in run_dir.iterdir())
['train', 'validation']
"""

import pathlib

import keras

from kerasllm.training.summaries import summary_writer

VALIDATION_PREFIX = "val_"


def split_logs(logs):
    """(training values, validation values) of an epoch's logs; validation names lose their `val_` prefix.

    Example:
    >>> split_logs({"loss": 1.0, "val_loss": 2.0, "val_accuracy": 0.5})
    ({'loss': 1.0}, {'loss': 2.0, 'accuracy': 0.5})
    """
    train = {k: v for k, v in logs.items() if not k.startswith(VALIDATION_PREFIX)}
    validation = {k[len(VALIDATION_PREFIX):]: v for k, v in logs.items() if k.startswith(VALIDATION_PREFIX)}
    return train, validation


class StepScalars(keras.callbacks.Callback):
    """Writes each epoch's logs as scalars into `run_dir/train` and `run_dir/validation` at the optimizer step.

    Args:
        run_dir: the run directory (TensorBoard shows its two folders as two runs).
    """

    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = pathlib.Path(run_dir)
        self._writers = {}

    def _writer(self, split):
        if split not in self._writers:
            self._writers[split] = summary_writer(self.run_dir / split)
        return self._writers[split]

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        step = int(keras.ops.convert_to_numpy(optimizer.iterations))
        train, validation = split_logs(dict(logs or {}))
        train["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        for split, values in (("train", train), ("validation", validation)):
            if not values:
                continue
            writer = self._writer(split)
            for name, value in values.items():
                writer.scalar(name, value, step)
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
