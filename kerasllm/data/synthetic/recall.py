"""Memory tasks for sequence models: multi-query associative recall and selective copying."""

import dataclasses

import numpy as np

from kerasllm.data.base import Split, TaskInfo, register_task
from kerasllm.data.synthetic.base import WORD_TOKENIZER_OPTIONS, GeneratedTask, check_positive
from kerasllm.errors import ConfigError

SEPARATOR = "|"
NOISE = "."


def _join_rows(tokens):
    """(count, n) array of token strings -> list of whitespace-joined strings."""
    return [" ".join(row) for row in tokens.tolist()]


def _distinct_per_row(rng, count, population, size):
    """(count, size) indices, distinct within each row, uniformly drawn from range(population)."""
    return np.argsort(rng.random((count, population)), axis=1)[:, :size]


@register_task("mqar")
class MQAR(GeneratedTask):
    """Multi-query associative recall (Arora et al. 2023, Zoology, https://arxiv.org/abs/2312.04927).

    The source lists `num_pairs` key-value pairs, then the separator `|` and `num_queries` distinct
    keys taken from those pairs; the target is the values of the queried keys, in query order:

        source: a12 b7 a3 b40 a51 b7 | a51 a12      target: b7 b7

    Keys are distinct within an example and come from `a0 .. a{key_vocab_size-1}`; values come from
    the disjoint vocabulary `b0 .. b{value_vocab_size-1}` and may repeat.

    Args:
        data_dir: ignored. Defaults to None.
        seed: generation seed. Defaults to 0.
        num_train: training examples. Defaults to 5000.
        num_validation: validation examples. Defaults to 1000.
        num_test: test examples. Defaults to 1000.
        num_pairs: key-value pairs per example. Defaults to 8.
        num_queries: queried keys per example, at most num_pairs. Defaults to 4.
        key_vocab_size: number of distinct keys, at least num_pairs. Defaults to 64.
        value_vocab_size: number of distinct values. Defaults to 64.

    Example:
    >>> task = MQAR(num_train=2, num_pairs=3, num_queries=2, seed=0)
    >>> example = task.split("train")
    >>> len(example.texts[0].split()), len(example.targets[0].split())
    (9, 2)
    >>> task.info.max_length  # source 9 + <bos> + target 2 + <eos>
    13
    """

    info = TaskInfo(
        name="mqar",
        kind="seq2seq",
        seq2seq_form="prefix_lm",  # decoder-only, as Zoology and Mamba pose it
        metric="token_accuracy",
        tokenizer="word",
        tokenizer_options=WORD_TOKENIZER_OPTIONS,
        max_length=27,
        notes="Generated. Source = key-value pairs, '|', query keys; target = the queried values.",
    )

    def __init__(
        self,
        data_dir=None,
        seed=0,
        num_train=5000,
        num_validation=1000,
        num_test=1000,
        num_pairs=8,
        num_queries=4,
        key_vocab_size=64,
        value_vocab_size=64,
    ):
        super().__init__(data_dir, seed, num_train, num_validation, num_test)
        self.num_pairs = check_positive("num_pairs", num_pairs)
        self.num_queries = check_positive("num_queries", num_queries)
        self.key_vocab_size = check_positive("key_vocab_size", key_vocab_size)
        self.value_vocab_size = check_positive("value_vocab_size", value_vocab_size)
        if self.num_queries > self.num_pairs:
            raise ConfigError(
                f"mqar: num_queries ({num_queries}) cannot exceed num_pairs ({num_pairs}); queries are "
                f"distinct keys from the pairs."
            )
        if self.key_vocab_size < self.num_pairs:
            raise ConfigError(
                f"mqar: key_vocab_size ({key_vocab_size}) must be at least num_pairs ({num_pairs}) so that "
                f"the keys of an example can be distinct."
            )
        source_length = 2 * self.num_pairs + 1 + self.num_queries
        self.info = dataclasses.replace(self.info, max_length=source_length + self.num_queries + 2)
        self._keys = np.array([f"a{i}" for i in range(self.key_vocab_size)])
        self._values = np.array([f"b{i}" for i in range(self.value_vocab_size)])

    def _generate(self, rng, count):
        keys = _distinct_per_row(rng, count, self.key_vocab_size, self.num_pairs)  # (count, P)
        values = rng.integers(self.value_vocab_size, size=(count, self.num_pairs))  # (count, P)
        asked = _distinct_per_row(rng, count, self.num_pairs, self.num_queries)  # (count, Q) pair indices
        rows = np.arange(count)[:, None]
        pairs = np.stack([self._keys[keys], self._values[values]], axis=2).reshape(count, 2 * self.num_pairs)
        queries = self._keys[keys[rows, asked]]  # (count, Q)
        answers = self._values[values[rows, asked]]  # (count, Q)
        separator = np.full((count, 1), SEPARATOR)
        sources = _join_rows(np.concatenate([pairs, separator, queries], axis=1))
        return Split(texts=sources, targets=_join_rows(answers))


@register_task("selective_copy")
class SelectiveCopy(GeneratedTask):
    """Selective copying (Gu & Dao 2023, Mamba, https://arxiv.org/abs/2312.00752).

    The source is `length` tokens of noise `.` with `num_tokens` content tokens (from
    `t0 .. t{vocab_size-1}`, repeats allowed) at random distinct positions; the target is the content
    tokens in order. The model must skip the noise, whose spacing changes from example to example:

        source: . t3 . . . t9 . t3 .      target: t3 t9 t3

    Args:
        data_dir: ignored. Defaults to None.
        seed: generation seed. Defaults to 0.
        num_train: training examples. Defaults to 5000.
        num_validation: validation examples. Defaults to 1000.
        num_test: test examples. Defaults to 1000.
        length: source length in tokens. Defaults to 64.
        num_tokens: content tokens per example, at most length. Defaults to 8.
        vocab_size: number of distinct content tokens. Defaults to 16.

    Example:
    >>> task = SelectiveCopy(num_train=1, length=10, num_tokens=3)
    >>> source, target = task.split("train").texts[0].split(), task.split("train").targets[0].split()
    >>> len(source), [token for token in source if token != "."] == target
    (10, True)
    """

    info = TaskInfo(
        name="selective_copy",
        kind="seq2seq",
        seq2seq_form="prefix_lm",  # decoder-only, as Zoology and Mamba pose it
        metric="token_accuracy",
        tokenizer="word",
        tokenizer_options=WORD_TOKENIZER_OPTIONS,
        max_length=74,
        notes="Generated. Source = noise '.' with content tokens at random positions; target = the content "
        "tokens in order.",
    )

    def __init__(
        self,
        data_dir=None,
        seed=0,
        num_train=5000,
        num_validation=1000,
        num_test=1000,
        length=64,
        num_tokens=8,
        vocab_size=16,
    ):
        super().__init__(data_dir, seed, num_train, num_validation, num_test)
        self.length = check_positive("length", length)
        self.num_tokens = check_positive("num_tokens", num_tokens)
        self.vocab_size = check_positive("vocab_size", vocab_size)
        if self.num_tokens > self.length:
            raise ConfigError(
                f"selective_copy: num_tokens ({num_tokens}) cannot exceed length ({length})."
            )
        self.info = dataclasses.replace(self.info, max_length=self.length + self.num_tokens + 2)
        self._content = np.array([f"t{i}" for i in range(self.vocab_size)])

    def _generate(self, rng, count):
        positions = np.sort(_distinct_per_row(rng, count, self.length, self.num_tokens), axis=1)
        content = self._content[rng.integers(self.vocab_size, size=(count, self.num_tokens))]
        grid = np.full((count, self.length), NOISE, dtype=self._content.dtype)
        grid[np.arange(count)[:, None], positions] = content
        return Split(texts=_join_rows(grid), targets=_join_rows(content))
