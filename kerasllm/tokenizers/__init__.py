"""Tokenizers: char, byte, word, wordpiece, bpe, registered by name."""

from kerasllm.tokenizers.base import Tokenizer, get_tokenizer, list_tokenizers, register_tokenizer
from kerasllm.tokenizers import char, word, subword  # noqa: F401  (registers the built-ins)

__all__ = ["Tokenizer", "get_tokenizer", "list_tokenizers", "register_tokenizer"]
