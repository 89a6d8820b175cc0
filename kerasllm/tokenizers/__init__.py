"""Tokenizers: char, byte, word, wordpiece, bpe (and hub, a keras-hub preset's own), registered by name in `TOKENIZERS`.

Every tokenizer is fitted on the training split only, shares the reserved ids (0 pad, 1 unk, 2 bos, 3 eos)
and saves to JSON.

Example:
>>> import kerasllm as kl
>>> kl.tokenizers.list_tokenizers()
['char', 'byte', 'word', 'wordpiece', 'bpe', 'hub']
>>> tok = kl.tokenizers.get_tokenizer("word").fit(["a gripping , funny film"])
>>> tok.decode(tok.encode("a funny film"))
'a funny film'
"""

from kerasllm.tokenizers.base import TOKENIZERS, Tokenizer, get_tokenizer, list_tokenizers, register_tokenizer
from kerasllm.tokenizers import char, word, subword, hub  # noqa: F401  (registers the built-ins)

__all__ = ["TOKENIZERS", "Tokenizer", "get_tokenizer", "list_tokenizers", "register_tokenizer"]
