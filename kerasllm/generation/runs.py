"""Opening a finished language-model run for generation and scoring (no dataset needed).

Example:
>>> run = load_language_model("runs/shakespeare-lstm")                      # doctest: +SKIP
>>> run.max_length                                                          # doctest: +SKIP
128
"""

import dataclasses

from kerasllm.config import TrainConfig
from kerasllm.errors import RunDirectoryError
from kerasllm.models import CausalLM
from kerasllm.tokenizers.base import Tokenizer
from kerasllm.training.finished_run import open_run


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
    run = open_run(path, trust_code)
    if not isinstance(run.model, CausalLM):
        raise RunDirectoryError(
            f"{path} holds a {type(run.model).__name__} (task '{run.config.task}'), not a language model. "
            "Generate and score with a run of a language-modelling task, e.g. tiny_shakespeare."
        )
    return LanguageModelRun(run.model, run.tokenizer, run.config)
