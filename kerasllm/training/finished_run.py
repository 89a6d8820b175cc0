"""Opening a finished run: the one way `evaluate`, `generate`, `score` and later runs read a run folder.

`open_run(path)` reads config.json (code it names needs `trust_code`), tokenizer.json and model.keras (safe
mode on, checked against the config), and needs no dataset; `FinishedRun.evaluate(split)` opens the task's
data only when asked.

Example (a 2-step run on a tiny generated task, then opened again):
>>> import tempfile
>>> from kerasllm.training import Trainer
>>> run_dir = tempfile.mkdtemp() + "/run"
>>> _ = Trainer({"task": "mqar", "arch": "bow", "steps": 2, "hidden_dim": 8, "num_layers": 1, "jit_compile": False,
...              "task_options": {"num_train": 32, "num_validation": 8, "num_test": 8}}, run_dir=run_dir).fit(verbose=0)
>>> run = open_run(run_dir)
>>> run.config.arch, type(run.model).__name__, type(run.tokenizer).__name__
('bow', 'CausalLM', 'WordTokenizer')
>>> 0.0 <= run.evaluate("test")["token_accuracy"] <= 1.0
True
"""

import dataclasses
import functools
import pathlib
import time

from kerasllm.config import TrainConfig
from kerasllm.data.base import get_task
from kerasllm.data.objectives import objective_task
from kerasllm.data.pipeline import encode_split, evaluation_dataset
from kerasllm.errors import RunDirectoryError
from kerasllm.models.build import max_length_of
from kerasllm.tokenizers.base import Tokenizer
from kerasllm.training.metrics import derived_metrics
from kerasllm.training.model_files import check_model_fits, load_run_model
from kerasllm.training.run_dir import RunDirectory
from kerasllm.training.text_metrics import text_metrics_for
from kerasllm.training.text_scores import output_writer, score_outputs


def evaluate_split(model, encoded, kind, batch_size, written=None):
    """Metrics of `model` on an encoded split (token-weighted for LM tasks), plus the seconds it took.

    `written`, for a task scored on the text the model writes: `(write, split, headline_metric)`, where
    `write(source_texts)` returns the outputs (`text_scores.output_writer`) and `split` is the raw `Split`;
    its BLEU / chrF / ROUGE are added.
    """
    start = time.perf_counter()
    values = model.evaluate(evaluation_dataset(encoded, batch_size), verbose=0, return_dict=True)
    seconds = time.perf_counter() - start
    metrics = {**derived_metrics(kind, values, encoded.tokens_per_character), "seconds": seconds}
    if written is not None:
        write, split, headline_metric = written
        metrics.update(score_outputs(write(split.texts), split, headline_metric))
    return metrics


def written_text(write, task, split):
    """`evaluate_split`'s `written` for `split` of `task`, or None for a task scored on tokens only."""
    if not text_metrics_for(task.info.metric):
        return None
    return write(), task.split(split), task.info.metric


@dataclasses.dataclass
class FinishedRun:
    """A finished run's folder, config, tokenizer and best model; its task's data is read only when asked."""

    path: pathlib.Path
    config: TrainConfig
    tokenizer: Tokenizer
    model: object
    source_tokenizer: object = None  # the source side's, for a run with separate vocabularies

    @functools.cached_property
    def task(self):
        """The run's task, read from the config's `data_dir`, as its objective trains it (`objective_task`)."""
        task = objective_task(get_task(self.config.task, data_dir=self.config.data_dir, **self.config.task_options),
                              self.config.objective)
        if task.info.kind == "classification":
            check_model_fits(self.model, self.path / "model.keras", type(self.model.backbone),
                             self.tokenizer.vocabulary_size, task.info.num_classes)
        return task

    def encoded(self, split):
        """The split's padded arrays, encoded as the run was trained."""
        return encode_split(self.task, split, self.tokenizer, max_length_of(self.config, self.task.info),
                            self.config.seq2seq_form, self.source_tokenizer)

    def evaluate(self, split="test"):
        """Metrics of the run's model on `split` of its task, token-weighted for LM tasks, and for a task scored
        on written text (translation, summarization) its BLEU / chrF / ROUGE too."""
        return evaluate_split(self.model, self.encoded(split), self.task.info.kind, self.config.batch_size,
                              written_text(lambda: self.output_writer, self.task, split))

    @functools.cached_property
    def output_writer(self):
        """`write(source_texts) -> outputs` of the run's model (one compiled decoder for every split)."""
        return output_writer(self.model, self.tokenizer, source_tokenizer=self.source_tokenizer)


def open_run(path, trust_code=False, data_dir=None):
    """Opens the finished run in `path` (its dataset read from `data_dir` instead of the config's, if given).

    A run whose config names a user's code (`--cell my_cell.py:MyCell`) is refused unless `trust_code=True`:
    a run folder from someone else never runs code on its own.

    Raises:
        RunDirectoryError: `path` is not a finished run, or its model does not fit its config.
        ConfigError: the config names code and `trust_code` is False.
    """
    run = RunDirectory(path)
    for needed in (run.config_path, run.model_path, run.tokenizer_path):
        if not needed.exists():
            raise RunDirectoryError(
                f"{path} is not a finished kerasllm run ({needed.name} is missing). Pass the folder "
                "that `kerasllm train` printed as its run directory, after training finished."
            )
    config = TrainConfig.from_file(run.config_path, trust_code)
    if data_dir is not None:
        config = config.replace(data_dir=str(data_dir))
    tokenizer = Tokenizer.load(run.tokenizer_path)
    model = load_run_model(run.model_path, config, tokenizer.vocabulary_size)
    source = Tokenizer.load(run.source_tokenizer_path) if run.source_tokenizer_path.exists() else None
    return FinishedRun(run.path, config, tokenizer, model, source)
