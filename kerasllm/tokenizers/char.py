"""Character and byte tokenizers: one id per character, or one id per UTF-8 byte.

Both keep the reserved ids 0..3 (pad, unk, bos, eos) and put their own tokens after them.

Example:
>>> from kerasllm.tokenizers.char import ByteTokenizer, CharTokenizer
>>> tok = CharTokenizer().fit(["abc"])
>>> tok.encode("cab")
[6, 4, 5]
>>> ByteTokenizer().encode("hé")
[108, 199, 173]
"""

from kerasllm.errors import ConfigError, DataError
from kerasllm.tokenizers.base import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, Tokenizer, register_tokenizer

NUM_RESERVED = len(SPECIAL_TOKENS)
NUM_BYTES = 256
# Lone surrogates ("\ud800") are not valid UTF-8; "surrogatepass" still turns them into bytes and back.
UTF8_ERRORS = "surrogatepass"
# What an unknown id decodes to: the Unicode replacement character, one character like every other token.
UNKNOWN_TEXT = "\N{REPLACEMENT CHARACTER}"
_DROPPED_ON_DECODE = frozenset((PAD_ID, BOS_ID, EOS_ID))
# The text of every id of the byte tokenizer: reserved ids first (only unk has text), then the 256 bytes.
_RESERVED_AND_BYTE_TEXT = ["", UNKNOWN_TEXT, "", ""] + [None] * NUM_BYTES


def bytes_to_text(data):
    """UTF-8 bytes to text; keeps lone surrogates, replaces bytes that are not UTF-8 at all."""
    try:
        return data.decode("utf-8", UTF8_ERRORS)
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def _decode_with_bytes(ids, byte_end, id_to_text, name):
    """Joins the text of each id; a run of byte ids (4 .. byte_end - 1) is decoded together as UTF-8.

    Pad, bos and eos are dropped; `id_to_text[i]` gives the text of every other id.
    """
    ids = [int(i) for i in ids]
    for i in ids:
        if not 0 <= i < len(id_to_text):
            raise DataError(
                f"Token id {i} is outside the '{name}' vocabulary (size {len(id_to_text)}). "
                "Decode only ids produced by this tokenizer (or a model built with its vocabulary_size)."
            )
    pieces, pending_bytes = [], bytearray()
    for i in ids:
        if i in _DROPPED_ON_DECODE:
            continue
        if NUM_RESERVED <= i < byte_end:
            pending_bytes.append(i - NUM_RESERVED)
            continue
        if pending_bytes:
            pieces.append(bytes_to_text(pending_bytes))
            pending_bytes.clear()
        pieces.append(id_to_text[i])
    if pending_bytes:
        pieces.append(bytes_to_text(pending_bytes))
    return "".join(pieces)


@register_tokenizer("char")
class CharTokenizer(Tokenizer):
    """One id per character, with the characters seen in training as vocabulary.

    Ids 0..3 are the reserved tokens, then (with `byte_fallback=True`) 256 byte tokens, then the training
    characters in sorted order. A character not seen in training becomes the unk id, or with
    `byte_fallback=True` the byte tokens of its UTF-8 encoding, so that `decode(encode(s)) == s` for any string.
    An unk id decodes to the replacement character "\N{REPLACEMENT CHARACTER}".

    Args:
        byte_fallback: bool, encode unseen characters as UTF-8 bytes instead of unk. Defaults to `False`.
        vocabulary: list of str, the learned characters (set by `fit`, stored by `get_config`).
            Defaults to `None` (not fitted).

    Example:
    >>> tok = CharTokenizer(byte_fallback=True).fit(["to be or not to be"])
    >>> tok.vocabulary_size  # 4 reserved + 256 bytes + 7 characters
    267
    >>> tok.decode(tok.encode("to be, é"))
    'to be, é'
    """

    def __init__(self, byte_fallback=False, vocabulary=None):
        if not isinstance(byte_fallback, bool):
            raise ConfigError(f"byte_fallback must be True or False, got {byte_fallback!r}. Pass a bool.")
        self.byte_fallback = byte_fallback
        self.vocabulary = None
        if vocabulary is not None:
            self._set_vocabulary(vocabulary)

    @property
    def _first_char_id(self):
        return NUM_RESERVED + (NUM_BYTES if self.byte_fallback else 0)

    def _set_vocabulary(self, vocabulary):
        vocabulary = list(vocabulary)
        if any(not isinstance(c, str) or len(c) != 1 for c in vocabulary) or len(set(vocabulary)) != len(vocabulary):
            raise ConfigError(
                "A char vocabulary must be a list of distinct single characters. "
                "Pass the 'vocabulary' from a saved CharTokenizer config, or call fit(texts)."
            )
        self.vocabulary = vocabulary
        first = self._first_char_id
        self._char_to_id = {c: first + i for i, c in enumerate(vocabulary)}
        # id -> text of that id; byte tokens are decoded in runs, so their entries are never read.
        self._id_to_char = _RESERVED_AND_BYTE_TEXT[:first] + vocabulary

    def _fit(self, texts):
        self._set_vocabulary(sorted(set().union(*texts)))

    @property
    def is_fitted(self):
        return self.vocabulary is not None

    @property
    def vocabulary_size(self):
        self._check_fitted()
        return self._first_char_id + len(self.vocabulary)

    def encode(self, text):
        self._check_fitted()
        lookup = self._char_to_id.get
        if not self.byte_fallback:
            return [lookup(c, UNK_ID) for c in text]
        ids = [lookup(c) for c in text]
        if None not in ids:
            return ids
        out = []
        for c, i in zip(text, ids):
            if i is None:
                out.extend(NUM_RESERVED + b for b in c.encode("utf-8", UTF8_ERRORS))
            else:
                out.append(i)
        return out

    def decode(self, ids):
        self._check_fitted()
        return _decode_with_bytes(ids, self._first_char_id, self._id_to_char, self.registered_name)

    def get_config(self):
        return {"byte_fallback": self.byte_fallback, "vocabulary": self.vocabulary}


@register_tokenizer("byte")
class ByteTokenizer(Tokenizer):
    """One id per UTF-8 byte: id = 4 + byte value, so the vocabulary is always 260 ids.

    Needs no training (`fit` is accepted and learns nothing) and is lossless on any string, lone surrogates
    included. Byte sequences that are not valid UTF-8 (say, sampled from a model) decode with replacement
    characters instead of failing.

    Example:
    >>> tok = ByteTokenizer()
    >>> tok.encode("hi!")
    [108, 109, 37]
    >>> tok.decode([2, 108, 109, 37, 3])
    'hi!'
    >>> tok.vocabulary_size
    260
    """

    def _fit(self, texts):
        """Nothing to learn: the 256 byte values are the vocabulary."""

    @property
    def vocabulary_size(self):
        return NUM_RESERVED + NUM_BYTES

    def encode(self, text):
        return [NUM_RESERVED + b for b in text.encode("utf-8", UTF8_ERRORS)]

    def decode(self, ids):
        return _decode_with_bytes(ids, self.vocabulary_size, _RESERVED_AND_BYTE_TEXT, self.registered_name)
