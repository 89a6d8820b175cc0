"""Opening a finished language-model run for generation and scoring (no dataset needed)."""

import dataclasses

from kerasllm.config import TrainConfig
from kerasllm.errors import RunDirectoryError
from kerasllm.models import CausalLM
from kerasllm.tokenizers.base import Tokenizer
from kerasllm.training.model_files import check_model_fits, load_model
from kerasllm.training.run_dir import RunDirectory


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
    """Loads `path/model.keras` (safe_mode on), `tokenizer.json` and `config.json`.

    A run whose config names a user's code (`file.py:Class`) needs `trust_code=True`.

    Raises:
        RunDirectoryError: `path` is not a finished run, or its model is not a language model.
    """
    run = RunDirectory(path)
    for needed in (run.config_path, run.model_path, run.tokenizer_path):
        if not needed.exists():
            raise RunDirectoryError(
                f"{path} is not a finished kerasllm run ({needed.name} is missing). Pass the folder "
                "that `kerasllm train` printed as its run directory, after training finished."
            )
    config = run.saved_config(trust_code)
    tokenizer = Tokenizer.load(run.tokenizer_path)
    lm = load_model(run.model_path)
    if not isinstance(lm, CausalLM):
        raise RunDirectoryError(
            f"{path} holds a {type(lm).__name__} (task '{config.task}'), not a language model. "
            "Generate and score with a run of a language-modelling task, e.g. tiny_shakespeare."
        )
    check_model_fits(lm, run.model_path, config.arch, tokenizer.vocabulary_size)
    return LanguageModelRun(lm, tokenizer, config)
