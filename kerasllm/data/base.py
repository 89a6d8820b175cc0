"""Task base class, metadata and registry.

A task gives train / validation / test splits of raw text plus metadata saying how to model and score
it. Three kinds exist:

- ``classification``: ``Split.texts`` are inputs, ``Split.labels`` integer classes.
- ``lm``: ``Split.texts`` are documents of one corpus; the pipeline joins them (with an eos id after
  each) into one token stream and cuts next-token windows.
- ``seq2seq``: ``Split.texts`` are sources, ``Split.targets`` the outputs (and ``Split.references``, when a
  source has several acceptable outputs, all of them for scoring). ``TaskInfo.seq2seq_form`` says how they are
  modelled by default: ``"encoder_decoder"`` (an encoder reads the source, a decoder writes the target) or
  ``"prefix_lm"`` (one decoder-only model reads ``source <bos> target <eos>``, scored on the target tokens).
- ``mlm``: ``Split.texts`` are documents, as for ``lm``, but modelled as BERT does: a non-causal model restores
  the 15% of tokens masked in its input (`kerasllm.data.objectives` makes such a task of any text task).

Example:
>>> import kerasllm as kl
>>> task = kl.data.get_task("negation_sentiment")
>>> task.info.kind, task.info.num_classes
('classification', 2)
>>> len(task.split("train").texts) == len(task.split("train").labels)
True
"""

import dataclasses
from typing import Optional

from kerasllm.checks import check_keyword_options
from kerasllm.errors import ConfigError
from kerasllm.registry import Registry

TASKS = Registry("task")

KINDS = ("classification", "lm", "seq2seq", "mlm")
SPLITS = ("train", "validation", "test")
SEQ2SEQ_FORMS = ("encoder_decoder", "prefix_lm")


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """What a task is and how it is scored.

    Args:
        name: registry name.
        kind: "classification", "lm", "seq2seq" or "mlm".
        metric: headline metric, one of "accuracy", "perplexity", "bits_per_char", "token_accuracy", "bleu",
            "rouge1".
        num_classes: number of classes (classification only).
        tokenizer: the tokenizer that suits the task by default ("word", "char", ...).
        tokenizer_options: keyword arguments for that tokenizer (e.g. {"split": "whitespace"}).
        max_length: a sensible default sequence length in tokens.
        class_names: optional names of the classes, in id order.
        notes: anything a user must know about the splits (e.g. how validation was carved).
        seq2seq_form: how a seq2seq task is modelled unless the run's config says otherwise, one of
            `SEQ2SEQ_FORMS`: "encoder_decoder" (default) or "prefix_lm" (decoder-only).
        extra_test_splits: names of further test sets `split()` also gives (e.g. "test_2017_flickr").
    """

    name: str
    kind: str
    metric: str
    num_classes: Optional[int] = None
    tokenizer: str = "word"
    tokenizer_options: dict = dataclasses.field(default_factory=dict)
    max_length: int = 128
    class_names: Optional[tuple] = None
    notes: str = ""
    seq2seq_form: str = "encoder_decoder"
    extra_test_splits: tuple = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"Task kind must be one of {KINDS}, got '{self.kind}'.")
        if self.seq2seq_form not in SEQ2SEQ_FORMS:
            raise ConfigError(f"seq2seq_form must be one of {SEQ2SEQ_FORMS}, got '{self.seq2seq_form}'.")


@dataclasses.dataclass(frozen=True)
class Split:
    """One split of a task: texts, plus labels (classification) or targets (seq2seq).

    `references` (seq2seq, optional): per example, the list of every reference output it is scored against;
    None means `[target]` for each.
    """

    texts: list
    labels: Optional[list] = None
    targets: Optional[list] = None
    references: Optional[list] = None

    def all_references(self):
        """Per example, the reference outputs it is scored against."""
        return self.references if self.references is not None else [[target] for target in self.targets]

    def first(self, n):
        """The split of its first `n` examples, every per-example field cut alike.

        >>> Split(texts=["a", "b", "c"], targets=["A", "B", "C"]).first(2)
        Split(texts=['a', 'b'], labels=None, targets=['A', 'B'], references=None)
        """
        return dataclasses.replace(self, **{field.name: getattr(self, field.name)[:n]
                                            for field in dataclasses.fields(self)
                                            if getattr(self, field.name) is not None})

    def __len__(self):
        return len(self.texts)


class Task:
    """Base class: subclasses set `info` and implement `_load_split(name) -> Split`.

    Splits are loaded once and cached.
    """

    info: TaskInfo = None

    def __init__(self):
        self._splits = {}

    def split(self, name):
        """Returns the `Split` called `name` ("train", "validation", "test" or one of `info.extra_test_splits`)."""
        names = SPLITS + tuple(self.info.extra_test_splits)
        if name not in names:
            raise ConfigError(f"Unknown split '{name}'. Use one of: {', '.join(names)}.")
        if name not in self._splits:
            self._splits[name] = self._load_split(name)
        return self._splits[name]

    def _load_split(self, name):
        raise NotImplementedError

    def train_texts(self):
        """All training text a tokenizer may be fitted on (inputs, and targets for seq2seq)."""
        train = self.split("train")
        return list(train.texts) + list(train.targets or [])

    def unlabelled_texts(self):
        """Texts of the task's domain that belong to no split (IMDB's 50,000 unlabelled reviews), which
        language-modelling objectives train on too (`kerasllm.data.objectives`). None by default."""
        return []


def register_task(name):
    """Registers a `Task` subclass (or factory) under `name`."""
    return TASKS.register(name)


def get_task(name, data_dir=None, **kwargs):
    """Builds a task by name. Real datasets read `data_dir/<name>/`; built-in tasks ignore data_dir.

    Example: `get_task("sst2", data_dir="../shared/data")`, `get_task("mqar", seed=1)`.
    """
    cls = TASKS.get(name)
    check_keyword_options(cls, kwargs, f"task '{name}'", "task_options")
    return cls(data_dir=data_dir, **kwargs)


def list_tasks():
    """Names of the registered tasks."""
    return TASKS.names()
