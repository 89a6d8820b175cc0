"""Training objectives on a task's text: next-token ("lm") or masked-token ("mlm") prediction instead of its labels.

`objective_task(task, objective)` turns a task into the task a run with `objective` trains on, as ULMFiT
(Howard & Ruder 2018, https://arxiv.org/abs/1801.06146) pre-trains on the target task's own text and BERT
(Devlin et al. 2019, https://arxiv.org/abs/1810.04805) on masked tokens:

- `"lm"` on a classification task: a task of kind "lm" named `<task>@lm`, scored by perplexity, whose train split
  is the task's training texts plus its unlabelled texts (`Task.unlabelled_texts()`: IMDB's 50,000
  `train/unsup` reviews), and whose validation and test splits are the task's validation and test texts (for
  IMDB: the 10% of labelled training reviews carved out as validation, and the 25,000 test reviews). Windows
  are `LM_WINDOW` tokens, or the task's own `max_length` if that is longer. On an lm task, "lm" is the task itself.
- `"mlm"` on a classification or lm task: the same text as "lm" gives (an lm task's own splits), of kind "mlm"
  (`<task>@mlm`), read by a non-causal model that restores the masked tokens (`kerasllm.data.pipeline`);
  scored by the perplexity of the masked tokens.

Either keeps the task's tokenizer and its options, so a later fine-tuning run on the task can reuse the
objective run's tokenizer. Any other combination (a seq2seq task) raises a ConfigError.

Example:
>>> import kerasllm as kl
>>> task = kl.data.get_task("negation_sentiment", num_train=8, num_validation=4, num_test=4)
>>> text = objective_task(task, "lm")
>>> text.info.name, text.info.kind, text.info.metric, text.split("train").texts == task.split("train").texts
('negation_sentiment@lm', 'lm', 'perplexity', True)
>>> objective_task(task, None) is task, objective_task(text, "lm") is text, objective_task(task, "mlm").info.kind
(True, True, 'mlm')
"""

import dataclasses

from kerasllm.data.base import Split, Task, TaskInfo
from kerasllm.errors import ConfigError

#: Tokens per window of a classification task's text read as a language model (longer than most sentences,
#: short enough for a CPU); a task whose own `max_length` is longer keeps that, so its fine-tuning run's
#: positions were all trained.
LM_WINDOW = 128


@dataclasses.dataclass(frozen=True)
class Objective:
    """What an objective makes of a task: the kind of task it trains, and the kinds of task it reads (a task of
    the kind it trains is trained as it is)."""

    kind: str
    reads: tuple


#: Objective name -> what it makes of which tasks (`objective_info`). The names are TrainConfig.objective's.
OBJECTIVES = {
    "lm": Objective("lm", ("classification", "lm")),
    "mlm": Objective("mlm", ("classification", "lm")),
}


def _objective(name):
    if name not in OBJECTIVES:
        raise ConfigError(f"Unknown objective '{name}'. Use one of: {', '.join(OBJECTIVES)} (or none).")
    return OBJECTIVES[name]


def objective_info(info, objective):
    """The `TaskInfo` of the task a run with `objective` trains on, given the source task's `info` (no data is
    read, so it also serves code that only has a task's class).

    Raises:
        ConfigError: the objective does not apply to tasks of this kind.
    """
    if objective is None:
        return info
    spec = _objective(objective)
    if info.kind == spec.kind:
        return info
    if info.kind not in spec.reads:
        readable = " or ".join(spec.reads)
        raise ConfigError(f"--objective {objective} trains on the text of a {readable} task; '{info.name}' is a "
                          f"{info.kind} task. Remove --objective, or pick a {readable} task (e.g. sst2, imdb, ptb).")
    max_length = info.max_length if info.kind == "lm" else max(LM_WINDOW, info.max_length)
    return TaskInfo(
        name=f"{info.name}@{objective}", kind=spec.kind, metric="perplexity", tokenizer=info.tokenizer,
        tokenizer_options=dict(info.tokenizer_options), max_length=max_length,
        notes=f"The text of {info.name} for the {objective} objective: train = its training texts and any "
              f"unlabelled ones; validation and test = its validation and test texts. {info.notes}".strip(),
    )


class ObjectiveTask(Task):
    """A task's text as a task of another kind (see the module docstring); its splits are read from `source`.

    Args:
        source: the task whose text it trains on.
        objective: a name in `OBJECTIVES`.
    """

    def __init__(self, source, objective):
        super().__init__()
        self.source = source
        self.objective = objective
        self.info = objective_info(source.info, objective)

    def _load_split(self, name):
        texts = list(self.source.split(name).texts)
        if name == "train":
            texts += self.source.unlabelled_texts()
        return Split(texts=texts)


def objective_task(task, objective):
    """The task a run with `objective` (None, "lm" or "mlm") trains on: `task` itself for None, or when the
    objective is already the task's kind; else an `ObjectiveTask` of the task's text.

    Raises:
        ConfigError: the objective does not apply to the task (e.g. a seq2seq task).
    """
    info = objective_info(task.info, objective)
    return task if info is task.info else ObjectiveTask(task, objective)
