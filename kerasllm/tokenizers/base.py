"""Tokenizer base class and registry.

All tokenizers share the same reserved ids (0 = pad, 1 = unk, 2 = bos, 3 = eos), are fitted on the
training split only, and save to JSON (never pickle). A subclass implements `_fit`, `encode`,
`decode`, `vocabulary_size` and puts its learned state into `get_config`.

Example:
>>> import kerasllm as kl
>>> tok = kl.tokenizers.get_tokenizer("char").fit(["hello world"])
>>> tok.decode(tok.encode("hello"))
'hello'
"""

import json
import os

import keras

from kerasllm.checks import check_keyword_options
from kerasllm.errors import ConfigError, DataError, RunDirectoryError
from kerasllm.registry import Registry

TOKENIZERS = Registry("tokenizer")

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")


def register_tokenizer(name):
    """Registers a `Tokenizer` subclass under `name` (and as a Keras serializable)."""

    def decorator(cls):
        cls.registered_name = name
        keras.saving.register_keras_serializable(package="kerasllm")(cls)
        return TOKENIZERS.register(name)(cls)

    return decorator


def get_tokenizer(name, **kwargs):
    """Builds an unfitted tokenizer by registry name, e.g. `get_tokenizer("word", max_vocab=20000)`."""
    cls = TOKENIZERS.get(name)
    check_keyword_options(cls, kwargs, f"the '{name}' tokenizer", "tokenizer_options")
    return cls(**kwargs)


def list_tokenizers():
    """Names of the registered tokenizers."""
    return TOKENIZERS.names()


class Tokenizer:
    """Maps text to integer ids and back.

    Override `_fit(texts)` to learn the vocabulary, `encode`, `decode` and `vocabulary_size`;
    add constructor settings and learned state to `get_config`.
    """

    registered_name = None
    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def fit(self, texts):
        """Learns the vocabulary from an iterable of training strings; returns self."""
        texts = list(texts)
        if not texts or not any(texts):
            raise DataError(
                f"Cannot fit the '{self.registered_name}' tokenizer on empty text. "
                "Check that the training split has examples."
            )
        self._fit(texts)
        return self

    def _fit(self, texts):
        raise NotImplementedError

    @property
    def is_fitted(self):
        return True

    def _check_fitted(self):
        if not self.is_fitted:
            raise ConfigError(
                f"The '{self.registered_name}' tokenizer is not fitted yet. Call fit(train_texts) first."
            )

    def encode(self, text):
        """Returns the list of ids for one string."""
        raise NotImplementedError

    def decode(self, ids):
        """Returns the string for a sequence of ids (special tokens are dropped)."""
        raise NotImplementedError

    def encode_batch(self, texts):
        """Encodes many strings; subclasses may override with a faster version."""
        return [self.encode(text) for text in texts]

    @property
    def vocabulary_size(self):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def save(self, path):
        """Writes `{"name": ..., "config": ...}` as JSON, atomically; non-ASCII characters as \\u escapes, so a
        vocabulary with a lone surrogate (which UTF-8 cannot encode) saves too."""
        payload = {"name": self.registered_name, "config": self.get_config()}
        tmp = f"{path}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(payload, f)
            os.replace(tmp, path)
        except BaseException as error:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(error, OSError):
                raise RunDirectoryError(
                    f"Cannot write {path}: {error.strerror or error}. Free disk space or choose a writable folder."
                ) from None
            raise

    @staticmethod
    def load(path):
        """Reads a tokenizer written by `save`."""
        try:
            with open(path, encoding="utf-8") as f:
                payload = json.load(f)
            cls = TOKENIZERS.get(payload["name"])
            return cls.from_config(payload["config"])
        except FileNotFoundError:
            raise DataError(f"No tokenizer file at {path}. Is this a kerasllm run directory?")
        except (ValueError, KeyError, TypeError, RecursionError) as e:  # RecursionError: absurdly nested JSON
            if isinstance(e, ConfigError):
                raise
            raise DataError(
                f"Tokenizer file {path} is not a valid kerasllm tokenizer ({type(e).__name__}: {e}). Restore the run's own "
                "tokenizer.json, or train a new run."
            ) from None
