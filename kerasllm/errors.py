"""Errors a user can cause and fix.

Every exception the CLI turns into a one-line message with exit code 2 derives from
`KerasLLMError`. Library code raises the most specific subclass and words the message
as "what is wrong. How to fix it."

Example:
>>> import kerasllm as kl
>>> try:
...     kl.models.get_backbone("lstmm", vocab_size=10, hidden_dim=8, num_layers=1)
... except kl.errors.UnknownNameError as error:
...     print(error)
Unknown architecture 'lstmm'. Did you mean 'lstm'? Known: bow, rnn, gru, lstm, cnn, transformer.
>>> issubclass(kl.errors.UnknownNameError, (kl.errors.ConfigError, KeyError, kl.errors.KerasLLMError))
True
"""


class KerasLLMError(Exception):
    """Base class for all user-facing kerasllm errors."""


class ConfigError(KerasLLMError, ValueError):
    """A setting is unknown, has the wrong type, or is out of range."""


class UnknownNameError(ConfigError, KeyError):
    """A registry lookup failed (unknown architecture, task, tokenizer, ...)."""

    def __str__(self):  # KeyError would otherwise print the message quoted.
        return str(self.args[0]) if self.args else ""


class DataError(KerasLLMError, ValueError):
    """A dataset is missing, empty or malformed."""


class RunDirectoryError(KerasLLMError):
    """A run directory cannot be used (finished, different config, unwritable)."""


class TrainingError(KerasLLMError, RuntimeError):
    """Training cannot go on (for example the loss became NaN)."""
