"""`copy` and `lead`: the source itself, or its first sentence, as the output: the floors of translation and
summarization.

Neither learns anything. `copy` outputs each source unchanged, the floor a translation model must beat
(names, numbers and cognates already score some BLEU / chrF). `lead` outputs the source's first sentence, the
classic lead baseline of summarization (an extractive floor a summarizer must beat). Each is scored with the
task's text metrics (`kerasllm.training.text_metrics`): "bleu" and "chrf" for a task whose headline metric is
BLEU, "rouge1", "rouge2" and "rougeL" for one headed by ROUGE-1, against every reference of each example
(`Split.all_references`). Either runs on any seq2seq task scored on text; a task scored on tokens (mqar's
token accuracy) is refused.

The first sentence is the task's own, when the task splits its sources into sentences (a method
`source_sentences(split_name)` -> per example a list of sentences); otherwise the source up to and including
the first ".", "!" or "?" that is followed by whitespace (`first_sentence`; an abbreviation such as "e.g."
ends it early), or the whole source when there is none.

Run directory and metrics as `tfidf_lr`'s: config.json, manifest.json and metrics.json (last: a finished
run), no model or checkpoints. metrics.json holds `validation_<m>` and `test_<m>` for each text metric `m`
(0-100), `validation_seconds` / `test_seconds` (making the outputs and scoring them), the task's
`headline_metric`, `parameters` 0, `steps` 0, `epochs` and `best_epoch` null, `train_seconds` 0 and
`train_tokens_per_second` null (nothing is trained), the split sizes (`examples`), and for BLEU and chrF
sacrebleu's signature strings (`validation_bleu_signature`, `test_chrf_signature`, ...), the keys
`corpus_scores` gives, under the split's prefix as in a neural run. A task's further test sets
(`TaskInfo.extra_test_splits`) are scored too, as `<split>_<m>`. No `arch_options` are taken.

Example:
>>> import tempfile
>>> from kerasllm.data.base import Split, Task, TaskInfo, register_task
>>> @register_task("doc_echo")
... class Echo(Task):
...     '''Targets equal to the sources.'''
...     info = TaskInfo(name="doc_echo", kind="seq2seq", metric="bleu")
...     def __init__(self, data_dir=None):
...         super().__init__()
...     def _load_split(self, name):
...         texts = ["a small dog runs home .", "the red cat sleeps all day ."]
...         return Split(texts=texts, targets=list(texts))
>>> metrics = train_copy({"task": "doc_echo", "arch": "copy"}, run_dir=tempfile.mkdtemp() + "/run")
>>> round(metrics["test_bleu"], 2), round(metrics["validation_chrf"], 2), metrics["parameters"]
(100.0, 100.0, 0)
>>> first_sentence("Deep nets overfit. We fix that! Code inside.")
'Deep nets overfit.'
"""

import contextlib
import re
import time
from importlib import metadata

import sacrebleu

from kerasllm.checks import reject_unknown_keys
from kerasllm.config import TrainConfig
from kerasllm.data.base import TASKS, get_task
from kerasllm.errors import ConfigError
from kerasllm.training.baselines.registry import register_baseline
from kerasllm.training.run_dir import RunDirectory, default_run_path, manifest, write_json_atomic
from kerasllm.training.text_metrics import METRICS_OF_HEADLINE, corpus_scores, text_metrics_for

#: The end of the first sentence: ".", "!" or "?" followed by whitespace.
SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def first_sentence(text):
    """`text` up to and including its first ".", "!" or "?" followed by whitespace (all of it if none)."""
    text = text.strip()
    match = SENTENCE_END.search(text)
    return text[:match.start()] if match else text


def _check_task(name, config):
    """Refuses, before reading any data, a task that is not seq2seq or has no text metric; returns its info."""
    info = TASKS.get(config.task).info
    if info.kind != "seq2seq":
        raise ConfigError(f"{name} is a baseline for seq2seq tasks; '{config.task}' is a {info.kind} task. "
                          "Pick a neural --arch for it (kerasllm archs).")
    if not text_metrics_for(info.metric):
        raise ConfigError(f"{name} is scored on text (BLEU or ROUGE); '{config.task}' is scored by {info.metric}. "
                          "Pick a neural --arch for it (kerasllm archs).")
    reject_unknown_keys(config.arch_options, (), "arch_options key", f" of {name}")
    return info


def _copy_outputs(task, split_name, split):
    """`copy`'s outputs: the sources."""
    return list(split.texts)


def _lead_outputs(task, split_name, split):
    """`lead`'s outputs: each source's first sentence (the task's own sentence split if it has one)."""
    sentences = getattr(task, "source_sentences", None)
    if callable(sentences):
        return [example[0] if example else "" for example in sentences(split_name)]
    return [first_sentence(text) for text in split.texts]


def _train(name, outputs, config, run_dir, runs_root, log):
    """The run of baseline `name`, whose `outputs(task, split_name, split)` are one string per example."""
    log = log or (lambda line: None)
    c = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    info = _check_task(name, c)
    text_metrics = text_metrics_for(info.metric)
    task = get_task(c.task, data_dir=c.data_dir, **c.task_options)
    scored = ("validation", "test", *info.extra_test_splits)
    splits = {split_name: task.split(split_name) for split_name in ("train", *scored)}
    run = RunDirectory.check(run_dir or default_run_path(c, runs_root), c)
    if not run.resuming:  # an unfinished baseline run (killed) has nothing to resume: it is run again
        run.create(c)
    with contextlib.suppress(OSError):
        run.checkpoint_dir.rmdir()  # made by create; a baseline keeps no checkpoints
    log(f"run directory: {run.path}" + (" (started before; running again)" if run.resuming else ""))

    metrics = {}
    for split_name in scored:
        start = time.perf_counter()
        split = splits[split_name]
        scores = corpus_scores(outputs(task, split_name, split), split.all_references(), text_metrics)
        seconds = time.perf_counter() - start
        for key, value in {**scores, "seconds": seconds}.items():  # as a neural run's: test_bleu, test_seconds
            metrics[f"{split_name}_{key}"] = value
        log(f"{split_name}: " + ", ".join(f"{metric} {scores[metric]:.2f}" for metric in text_metrics)
            + f" ({len(split):,} examples, {seconds:.1f} s)")
    metrics.update({
        "task": c.task, "arch": c.arch, "seed": c.seed, "headline_metric": info.metric,
        "parameters": 0, "epochs": None, "steps": 0, "best_epoch": None,  # nothing is trained
        "train_seconds": 0.0, "train_tokens_per_second": None,
        "examples": {split_name: len(split) for split_name, split in splits.items()},
    })
    record = manifest(c)
    record["versions"].update({"sacrebleu": sacrebleu.__version__, "rouge-score": metadata.version("rouge-score")})
    write_json_atomic(run.manifest_path, {**record, "parameters": 0})
    write_json_atomic(run.metrics_path, metrics)
    return metrics


@register_baseline("copy", kinds=("seq2seq",), metrics=tuple(METRICS_OF_HEADLINE))
def train_copy(config, run_dir=None, runs_root="runs", log=None):
    """The source itself as the output: the floor of translation (BLEU, chrF), with nothing to train.

    Args:
        config: a `TrainConfig` (arch "copy") or a dict of its fields.
        run_dir: the run directory (default: a new timestamped folder under `runs_root`).
        runs_root: parent of default run directories. Defaults to "runs".
        log: a function of one line for progress (the run directory, then a line per split), or None.

    Returns:
        The metrics, also written to metrics.json.

    Raises:
        ConfigError: the task is not seq2seq or not scored on text, or arch_options are given.
        RunDirectoryError: `run_dir` holds a finished run or another config, as for a neural run.
    """
    return _train("copy", _copy_outputs, config, run_dir, runs_root, log)


@register_baseline("lead", kinds=("seq2seq",), metrics=tuple(METRICS_OF_HEADLINE))
def train_lead(config, run_dir=None, runs_root="runs", log=None):
    """The first sentence of the source as the output: the lead baseline of summarization (ROUGE).

    Args:
        config: a `TrainConfig` (arch "lead") or a dict of its fields.
        run_dir: the run directory (default: a new timestamped folder under `runs_root`).
        runs_root: parent of default run directories. Defaults to "runs".
        log: a function of one line for progress (the run directory, then a line per split), or None.

    Returns:
        The metrics, also written to metrics.json.

    Raises:
        ConfigError: the task is not seq2seq or not scored on text, or arch_options are given.
        RunDirectoryError: `run_dir` holds a finished run or another config, as for a neural run.
    """
    return _train("lead", _lead_outputs, config, run_dir, runs_root, log)
