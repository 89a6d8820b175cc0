"""Base class of the built-in generated tasks: deterministic splits from independent sub-seeds."""

import numpy as np

from kerasllm.data.base import SPLITS, Task
from kerasllm.errors import ConfigError

WORD_TOKENIZER_OPTIONS = {"split": "whitespace", "lowercase": False}


def check_positive(name, value, minimum=1):
    """Raises ConfigError unless `value` is an int >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


class GeneratedTask(Task):
    """A task generated with numpy: the same seed always gives the same splits, no download.

    The seed is split with `np.random.SeedSequence(seed).spawn(3)` into one independent stream per
    split (train, validation, test), so changing `num_train` never changes the test set. Subclasses
    set `info` and implement `_generate(rng, count) -> Split`.

    Args:
        data_dir: ignored (built-in tasks need no files). Defaults to None.
        seed: generation seed. Defaults to 0.
        num_train: training examples. Defaults to 5000.
        num_validation: validation examples. Defaults to 1000.
        num_test: test examples. Defaults to 1000.

    Example:
    >>> from kerasllm.data.base import Split, TaskInfo
    >>> class Parity(GeneratedTask):
    ...     info = TaskInfo("parity", "classification", "accuracy", num_classes=2)
    ...     def _generate(self, rng, count):
    ...         bits = rng.integers(0, 2, size=(count, 6))
    ...         texts = [" ".join(map(str, row)) for row in bits]
    ...         return Split(texts=texts, labels=(bits.sum(axis=1) % 2).tolist())
    >>> task = Parity(num_train=4)
    >>> len(task.split("train")), task.split("test").texts == Parity().split("test").texts
    (4, True)
    """

    def __init__(self, data_dir=None, seed=0, num_train=5000, num_validation=1000, num_test=1000):
        super().__init__()
        self.seed = check_positive("seed", seed, minimum=0)
        self.sizes = {
            "train": check_positive("num_train", num_train),
            "validation": check_positive("num_validation", num_validation),
            "test": check_positive("num_test", num_test),
        }
        streams = np.random.SeedSequence(self.seed).spawn(len(SPLITS))
        self._streams = dict(zip(SPLITS, streams))

    def _load_split(self, name):
        return self._generate(np.random.default_rng(self._streams[name]), self.sizes[name])

    def _generate(self, rng, count):
        raise NotImplementedError
