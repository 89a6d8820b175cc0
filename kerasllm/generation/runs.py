"""Opening a finished run for generation and scoring (no dataset needed): a language model, or a seq2seq model.

Example (a 2-step run of the generated `mqar` task, whose model is a causal LM):
>>> import tempfile
>>> from kerasllm.training import Trainer
>>> run_dir = tempfile.mkdtemp() + "/run"
>>> _ = Trainer({"task": "mqar", "arch": "bow", "steps": 2, "hidden_dim": 8, "num_layers": 1, "jit_compile": False,
...              "task_options": {"num_train": 32, "num_validation": 8, "num_test": 8}}, run_dir=run_dir).fit(verbose=0)
>>> run = load_language_model(run_dir)
>>> run.config.task, type(run.lm).__name__, run.max_length
('mqar', 'CausalLM', 27)
"""

import dataclasses

from kerasllm.config import TrainConfig
from kerasllm.data.base import TASKS
from kerasllm.errors import RunDirectoryError
from kerasllm.models import CausalLM, Seq2Seq
from kerasllm.tokenizers.base import Tokenizer
from kerasllm.training.finished_run import open_run
from kerasllm.training.text_metrics import text_metrics_for


@dataclasses.dataclass
class LanguageModelRun:
    """A run's language model, tokenizer and config."""

    lm: CausalLM
    tokenizer: Tokenizer
    config: TrainConfig

    @property
    def max_length(self):
        """The window length the model was trained and evaluated with."""
        return self.lm.backbone.max_length


def load_language_model(path, trust_code=False):
    """Opens the finished run in `path` (`kerasllm.training.open_run`) and checks it is a language model.

    A run whose config names a user's code (`file.py:Class`) needs `trust_code=True`.

    Raises:
        RunDirectoryError: `path` is not a finished run, or its model is not a language model.
    """
    return language_model_run(open_run(path, trust_code), path)


def language_model_run(run, path):
    """The `LanguageModelRun` of an opened run (`open_run(path)`); raises RunDirectoryError unless it holds a
    language model."""
    if not isinstance(run.model, CausalLM):
        masked = run.config.objective == "mlm"
        raise RunDirectoryError(
            f"{path} holds a {type(run.model).__name__} (task '{run.config.task}'"
            + (", objective mlm: it fills in masked tokens and cannot continue text" if masked else "")
            + "), not a language model. Generate and score with a run of a language-modelling task, e.g. "
            f"tiny_shakespeare, or train one on this task's text with --objective lm."
        )
    return LanguageModelRun(run.model, run.tokenizer, run.config)


def is_seq2seq_run(run):
    """Whether a prompt to an opened run (`open_run`) is a source to translate or summarize: the run holds an
    encoder-decoder, or a prefix LM of a seq2seq task scored on its written text (multi30k, scitldr, ...). A
    prefix LM of a diagnostic scored on tokens (mqar, selective_copy) continues its prompt as any LM does."""
    if isinstance(run.model, Seq2Seq):
        return True
    info = TASKS.get(run.config.task).info if run.config.task in TASKS else None
    return info is not None and info.kind == "seq2seq" and bool(text_metrics_for(info.metric))
