"""Word tokenizer: one id per word of a vocabulary counted on the training texts.

Example:
>>> from kerasllm.tokenizers.word import WordTokenizer
>>> tok = WordTokenizer().fit(["The cat sat.", "the dog sat!"])
>>> tok.decode(tok.encode("The cat ran."))
'the cat <unk> .'
"""

import collections
import re

from kerasllm.errors import ConfigError, DataError
from kerasllm.tokenizers.base import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    Tokenizer,
    register_tokenizer,
)

# Words (runs of letters, digits and "_") and single punctuation characters; whitespace is dropped.
PUNCTUATION_SPLIT = re.compile(r"\w+|[^\w\s]")
SPLIT_MODES = ("punctuation", "whitespace")
_DROPPED_ON_DECODE = frozenset((PAD_ID, BOS_ID, EOS_ID))


@register_tokenizer("word")
class WordTokenizer(Tokenizer):
    """Splits text into words and maps each to its id in a frequency-ranked vocabulary.

    The vocabulary holds the reserved tokens (ids 0..3), then the training words that occur at least
    `min_frequency` times, most frequent first (ties in alphabetical order), cut to `max_vocab` ids in all.
    Other words map to the unk id; so does a literal "<pad>", "<unk>", "<bos>" or "<eos>" in the text (PTB
    marks rare words as "<unk>", which therefore becomes our unk id). `decode` joins words with single spaces.

    Args:
        lowercase: bool, lowercase the text before splitting. Defaults to `True`.
        min_frequency: int, keep only words seen at least this often in training. Defaults to `1`.
        max_vocab: int or None, the most ids in all, the 4 reserved ones included. Defaults to `None` (no cap).
        split: "punctuation" (words and single punctuation marks, regex `\\w+|[^\\w\\s]`) or "whitespace"
            (plain `str.split()`, keeps tokens like "<unk>" or "don't" whole). Defaults to "punctuation".
        vocabulary: list of str, the learned words in id order after the reserved ids (set by `fit`, stored
            by `get_config`). Defaults to `None` (not fitted).

    Example:
    >>> tok = WordTokenizer(max_vocab=6).fit(["a b b c c c"])
    >>> tok.vocabulary
    ['c', 'b']
    >>> tok.encode("c b a")
    [4, 5, 1]
    """

    def __init__(self, lowercase=True, min_frequency=1, max_vocab=None, split="punctuation", vocabulary=None):
        if not isinstance(lowercase, bool):
            raise ConfigError(f"lowercase must be True or False, got {lowercase!r}. Pass a bool.")
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
            raise ConfigError(
                f"min_frequency must be an integer >= 1, got {min_frequency!r}. Use 1 to keep every word."
            )
        if max_vocab is not None and (
            isinstance(max_vocab, bool) or not isinstance(max_vocab, int) or max_vocab <= len(SPECIAL_TOKENS)
        ):
            raise ConfigError(
                f"max_vocab must be None or an integer >= {len(SPECIAL_TOKENS) + 1} (it counts the "
                f"{len(SPECIAL_TOKENS)} reserved ids), got {max_vocab!r}. Raise it, or pass None for no cap."
            )
        if split not in SPLIT_MODES:
            raise ConfigError(f"Unknown word split '{split}'. Use one of: {', '.join(SPLIT_MODES)}.")
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        self.max_vocab = max_vocab
        self.split = split
        self.vocabulary = None
        if vocabulary is not None:
            self._set_vocabulary(vocabulary)

    def _set_vocabulary(self, vocabulary):
        vocabulary = list(vocabulary)
        if len(set(vocabulary)) != len(vocabulary) or set(vocabulary) & set(SPECIAL_TOKENS):
            raise ConfigError(
                "A word vocabulary must be a list of distinct words without the reserved tokens. "
                "Pass the 'vocabulary' from a saved WordTokenizer config, or call fit(texts)."
            )
        self.vocabulary = vocabulary
        self._word_to_id = {w: i for i, w in enumerate(vocabulary, start=len(SPECIAL_TOKENS))}
        self._id_to_word = list(SPECIAL_TOKENS) + vocabulary

    def split_words(self, text):
        """The words of `text` as this tokenizer sees them (lowercased if asked)."""
        if self.lowercase:
            text = text.lower()
        if self.split == "whitespace":
            return text.split()
        return PUNCTUATION_SPLIT.findall(text)

    def _fit(self, texts):
        counts = collections.Counter()
        for text in texts:
            counts.update(self.split_words(text))
        for token in SPECIAL_TOKENS:
            counts.pop(token, None)
        ranked = sorted(
            (word for word, n in counts.items() if n >= self.min_frequency),
            key=lambda word: (-counts[word], word),
        )
        if self.max_vocab is not None:
            ranked = ranked[: self.max_vocab - len(SPECIAL_TOKENS)]
        self._set_vocabulary(ranked)

    @property
    def is_fitted(self):
        return self.vocabulary is not None

    @property
    def vocabulary_size(self):
        self._check_fitted()
        return len(self._id_to_word)

    def encode(self, text):
        self._check_fitted()
        lookup = self._word_to_id.get
        return [lookup(word, UNK_ID) for word in self.split_words(text)]

    def decode(self, ids):
        self._check_fitted()
        words = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self._id_to_word):
                raise DataError(
                    f"Token id {i} is outside the word vocabulary (size {len(self._id_to_word)}). "
                    "Decode only ids produced by this tokenizer (or a model built with its vocabulary_size)."
                )
            if i not in _DROPPED_ON_DECODE:
                words.append(self._id_to_word[i])
        return " ".join(words)

    def get_config(self):
        return {
            "lowercase": self.lowercase,
            "min_frequency": self.min_frequency,
            "max_vocab": self.max_vocab,
            "split": self.split,
            "vocabulary": self.vocabulary,
        }
