"""Subword tokenizers: WordPiece (BERT) and byte-level BPE (GPT-2), compatible with keras-hub.

WordPiece learns its vocabulary with `keras_hub.tokenizers.compute_word_piece_vocabulary` and runs
`keras_hub.tokenizers.WordPieceTokenizer`. BPE learns its merges with the small trainer `learn_byte_pair_merges`
below; its vocabulary and merges load into `keras_hub.tokenizers.BytePairTokenizer`.
Ids 0..3 are always our reserved tokens "<pad>", "<unk>", "<bos>", "<eos>".

Example:
>>> from kerasllm.tokenizers.subword import BytePairTokenizer
>>> tok = BytePairTokenizer(vocabulary_size=270).fit(["low lower lowest"] * 5)
>>> tok.decode(tok.encode("slow, lower"))
'slow, lower'
"""

import collections
import heapq

import keras_hub
import regex

from kerasllm.errors import ConfigError, DataError
from kerasllm.tokenizers.base import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, Tokenizer, register_tokenizer
from kerasllm.tokenizers.char import bytes_to_text

_DROPPED_ON_DECODE = frozenset((PAD_ID, BOS_ID, EOS_ID))
# Lone surrogates ("\ud800") cannot become a UTF-8 tf.string; WordPiece sees them as U+FFFD (an unknown word).
_SURROGATE = regex.compile("[\ud800-\udfff]")


def _tf_text_safe(texts):
    """`texts` as tf-text's WordPiece ops can read them whole: lone surrogates as U+FFFD, and NULs removed, as
    BERT's own tokenizer removes them (tf-text stops reading a text at its first NUL)."""
    return [_SURROGATE.sub("\N{REPLACEMENT CHARACTER}", text).replace("\x00", "") for text in texts]


def _tensorflow_text():
    """TensorFlow, once tensorflow-text imports too (keras-hub's WordPiece runs on their ops), or a clear error."""
    try:
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
    except ImportError:
        raise ConfigError("The wordpiece tokenizer needs TensorFlow and tensorflow-text, which this Python cannot "
                          "import: install them (pip install tensorflow-text), or use tokenizer=bpe, word or char "
                          "on this machine.") from None
    return tf


_NO_RANK = float("inf")  # the rank of a pair that no merge rule joins

# GPT-2's pre-tokenizer: contractions, words, numbers and punctuation runs (each with at most one leading space),
# and whitespace. Merges are learned inside these pieces only, so a token never spans two of them.
GPT2_SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    """GPT-2's table from the 256 byte values to 256 printable characters.

    Printable Latin-1 bytes map to themselves; the others (control characters, space, ...) to the characters
    from U+0100 on, so that a token is always a printable string without spaces (" the" is "Ġthe").
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, shifted = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + shifted)
            shifted += 1
    return table


BYTE_TO_UNICODE = bytes_to_unicode()
UNICODE_TO_BYTE = {symbol: byte for byte, symbol in BYTE_TO_UNICODE.items()}
BYTE_SYMBOLS = tuple(BYTE_TO_UNICODE[b] for b in range(256))


def _merge_pair(symbols, pair, merged):
    """`symbols` with every adjacent occurrence of `pair` (left to right) replaced by `merged`."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            out.append(merged)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def learn_byte_pair_merges(texts, vocabulary_size):
    """Trains byte-level BPE: returns `(vocabulary, merges)` with `vocabulary[i]` the token of id `i`.

    The vocabulary starts with the reserved tokens and the 256 byte symbols (ids 4..259 = byte value + 4);
    each merge of the most frequent adjacent pair adds one token until `vocabulary_size` tokens exist or no pair
    is left. Ties go to the smallest pair, so training is deterministic. Pair counts are updated incrementally:
    a merge only revisits the words that contain the merged pair.

    Example:
    >>> vocabulary, merges = learn_byte_pair_merges(["aaab aab"], 262)
    >>> merges, vocabulary[260:]
    (['a a', 'a b'], ['aa', 'ab'])
    """
    word_counts = collections.Counter()
    for text in texts:
        word_counts.update(GPT2_SPLIT.findall(text))
    words = [[BYTE_TO_UNICODE[b] for b in word.encode("utf-8", "surrogatepass")] for word in word_counts]
    freqs = list(word_counts.values())

    pair_counts = collections.Counter()
    pair_words = collections.defaultdict(set)  # pair -> indices of the words that (may) contain it
    for index, (symbols, freq) in enumerate(zip(words, freqs)):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += freq
            pair_words[pair].add(index)
    # Max-heap by count, smallest pair first on ties. Entries go stale when counts change; a popped entry is
    # used only if its count is still the pair's current count.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    vocabulary = list(SPECIAL_TOKENS) + list(BYTE_SYMBOLS)
    known, merges = set(vocabulary), []
    while len(vocabulary) < vocabulary_size and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair) != -negative_count:
            continue
        merged = pair[0] + pair[1]
        merges.append(f"{pair[0]} {pair[1]}")
        if merged not in known:  # ("a", "bc") and ("ab", "c") both give "abc": one token, two merges
            vocabulary.append(merged)
            known.add(merged)
        changed = set()
        for index in pair_words.pop(pair):
            symbols = words[index]
            new_symbols = _merge_pair(symbols, pair, merged)
            if len(new_symbols) == len(symbols):
                continue  # the word lost this pair in an earlier merge
            freq = freqs[index]
            for old in zip(symbols, symbols[1:]):
                pair_counts[old] -= freq
                changed.add(old)
            for new in zip(new_symbols, new_symbols[1:]):
                pair_counts[new] += freq
                pair_words[new].add(index)
                changed.add(new)
            words[index] = new_symbols
        for changed_pair in changed:
            count = pair_counts[changed_pair]
            if count > 0:
                heapq.heappush(heap, (-count, changed_pair))
            else:
                del pair_counts[changed_pair]
    return vocabulary, merges


def _check_target_size(vocabulary_size, minimum, name, why):
    if isinstance(vocabulary_size, bool) or not isinstance(vocabulary_size, int) or vocabulary_size < minimum:
        raise ConfigError(
            f"vocabulary_size must be an integer >= {minimum} for the '{name}' tokenizer ({why}), "
            f"got {vocabulary_size!r}. Raise it."
        )


def _check_lowercase(lowercase):
    if not isinstance(lowercase, bool):
        raise ConfigError(f"lowercase must be True or False, got {lowercase!r}. Pass a bool.")


def _ids_to_decode(ids, vocabulary_size, name):
    """Python ints without pad/bos/eos; raises `DataError` for ids outside the vocabulary."""
    kept = []
    for i in ids:
        i = int(i)
        if not 0 <= i < vocabulary_size:
            raise DataError(
                f"Token id {i} is outside the '{name}' vocabulary (size {vocabulary_size}). "
                "Decode only ids produced by this tokenizer (or a model built with its vocabulary_size)."
            )
        if i not in _DROPPED_ON_DECODE:
            kept.append(i)
    return kept


@register_tokenizer("wordpiece")
class WordPieceTokenizer(Tokenizer):
    """BERT's WordPiece: words split into the longest known pieces, "##" marking a piece inside a word.

    `fit` learns up to `vocabulary_size` tokens with `keras_hub.tokenizers.compute_word_piece_vocabulary`
    (its learner keeps pieces seen at least 10 times, so a small corpus may give fewer); encoding runs
    `keras_hub.tokenizers.WordPieceTokenizer` on whole batches in TensorFlow. Text is split on whitespace and
    punctuation first; a word that cannot be built from known pieces becomes "<unk>" (id 1). Decoding joins
    words with spaces, so it restores the words but not the original spacing (nor case, if lowercased).
    It needs TensorFlow and tensorflow-text on every backend: where they do not import, fitting or loading one
    raises a `ConfigError` that says so (bpe, word and char are pure Python).

    Args:
        vocabulary_size: int, the most tokens to learn, the 4 reserved ones included. Defaults to `8000`.
        lowercase: bool, lowercase (case-fold) the text before splitting. Defaults to `True`.
        vocabulary: list of str, the learned tokens in id order, reserved ones first (set by `fit`, stored by
            `get_config`). Defaults to `None` (not fitted).

    Example:
    >>> tok = WordPieceTokenizer(vocabulary_size=100).fit(["the cat sat on the mat"] * 20)
    >>> tok.decode(tok.encode("The cat sat."))
    'the cat sat <unk>'
    """

    def __init__(self, vocabulary_size=8000, lowercase=True, vocabulary=None):
        _check_target_size(vocabulary_size, len(SPECIAL_TOKENS) + 1, "wordpiece", "it counts the 4 reserved ids")
        _check_lowercase(lowercase)
        self.target_vocabulary_size = vocabulary_size
        self.lowercase = lowercase
        self.vocabulary = None
        if vocabulary is not None:
            self._set_vocabulary(vocabulary)

    def _set_vocabulary(self, vocabulary):
        vocabulary = list(vocabulary)
        if tuple(vocabulary[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS or len(set(vocabulary)) != len(vocabulary):
            raise ConfigError(
                "A wordpiece vocabulary must be distinct tokens starting with "
                f"{list(SPECIAL_TOKENS)}. Pass the 'vocabulary' from a saved WordPieceTokenizer config, "
                "or call fit(texts)."
            )
        tf = _tensorflow_text()
        self.vocabulary = vocabulary
        self._layer = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=vocabulary, lowercase=self.lowercase, oov_token=SPECIAL_TOKENS[1]
        )
        # Traced once: inside a tf.function keras-hub runs its TensorFlow (tf-text) path on the whole batch.
        self._tokenize_batch = tf.function(
            self._layer.tokenize, input_signature=[tf.TensorSpec([None], tf.string)], reduce_retracing=True
        )

    def _fit(self, texts):
        dataset = _tensorflow_text().data.Dataset.from_tensor_slices(_tf_text_safe(texts)).batch(1024)
        try:
            vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
                dataset,
                self.target_vocabulary_size,
                lowercase=self.lowercase,
                reserved_tokens=list(SPECIAL_TOKENS),
            )
        except StopIteration:  # raised by the tf-text learner when it counted no word at all
            raise DataError(
                "The wordpiece training text has no words (only whitespace or control characters). "
                "Check that the training split holds real text."
            ) from None
        self._set_vocabulary(vocabulary)

    @property
    def is_fitted(self):
        return self.vocabulary is not None

    @property
    def vocabulary_size(self):
        self._check_fitted()
        return len(self.vocabulary)

    def encode(self, text):
        return self.encode_batch([text])[0]

    def encode_batch(self, texts):
        self._check_fitted()
        texts = list(texts)
        if not texts:
            return []
        tf = _tensorflow_text()
        return self._tokenize_batch(tf.constant(_tf_text_safe(texts), dtype=tf.string)).to_list()

    def decode(self, ids):
        self._check_fitted()
        return self._layer.detokenize(_ids_to_decode(ids, len(self.vocabulary), self.registered_name))

    def get_config(self):
        return {
            "vocabulary_size": self.target_vocabulary_size,
            "lowercase": self.lowercase,
            "vocabulary": self.vocabulary,
        }


@register_tokenizer("bpe")
class BytePairTokenizer(Tokenizer):
    """GPT-2's byte-level byte-pair encoding: text as UTF-8 bytes, frequent byte sequences merged into tokens.

    `fit` learns merges with `learn_byte_pair_merges` (GPT-2 pre-tokenization, most frequent pair first) until
    the vocabulary has `vocabulary_size` tokens. Every byte has a token (ids 4..259 = byte value + 4), so nothing
    is ever unknown and `decode(encode(s)) == s` for any string (when `lowercase=False`). The reserved tokens
    are never produced from text: a literal "<eos>" in the input is encoded as ordinary bytes.

    Encoding is GPT-2's algorithm written out here (split with `GPT2_SPLIT`, then apply the merges in the order
    learned, caching each piece): it gives the same ids as `keras_hub.tokenizers.BytePairTokenizer` inside
    `tf.data` (see `to_keras_hub`), which our tests check on real text. We do not call keras-hub eagerly: its
    eager path (keras-hub 0.32) skips the pre-split regex, and its TensorFlow path drops the character "६".

    Args:
        vocabulary_size: int, the number of tokens to reach: 4 reserved + 256 bytes + one per merge, so at
            least 261. Defaults to `1000`. Training stops early if no pair is left to merge.
        lowercase: bool, lowercase the text before encoding. Defaults to `False`.
        vocabulary: list of str, the tokens in id order (set by `fit`, stored by `get_config`).
            Defaults to `None` (not fitted).
        merges: list of str, the merge rules "left right" in the order learned. Defaults to `None`.

    Example:
    >>> tok = BytePairTokenizer(vocabulary_size=300).fit(["the cat sat on the mat"] * 20)
    >>> len(tok.encode(" the cat")) < len(" the cat")
    True
    >>> tok.decode(tok.encode("The cat sat. 🐈"))
    'The cat sat. 🐈'
    """

    # Encoded pieces are cached; the cache is emptied when it grows past this many entries.
    max_cache_size = 200_000

    def __init__(self, vocabulary_size=1000, lowercase=False, vocabulary=None, merges=None):
        minimum = len(SPECIAL_TOKENS) + len(BYTE_SYMBOLS) + 1
        _check_target_size(
            vocabulary_size, minimum, "bpe", "it needs 4 reserved ids, 256 byte tokens and at least one merge"
        )
        _check_lowercase(lowercase)
        self.target_vocabulary_size = vocabulary_size
        self.lowercase = lowercase
        self.vocabulary = None
        self.merges = None
        if (vocabulary is None) != (merges is None):
            raise ConfigError("Pass both vocabulary and merges (from a saved BPE config), or neither and call fit.")
        if vocabulary is not None:
            self._set_state(vocabulary, merges)

    def _set_state(self, vocabulary, merges):
        vocabulary, merges = list(vocabulary), list(merges)
        start = list(SPECIAL_TOKENS) + list(BYTE_SYMBOLS)
        if vocabulary[: len(start)] != start or len(set(vocabulary)) != len(vocabulary):
            raise ConfigError(
                "A bpe vocabulary must be distinct tokens starting with the 4 reserved tokens and the 256 byte "
                "symbols. Pass the 'vocabulary' from a saved BytePairTokenizer config, or call fit(texts)."
            )
        token_to_id = {token: i for i, token in enumerate(vocabulary)}
        ranks = {}
        for rank, merge in enumerate(merges):
            pair = tuple(merge.split(" "))
            if len(pair) != 2 or any(token not in token_to_id for token in (*pair, pair[0] + pair[1])):
                raise ConfigError(
                    f"The bpe merge rule {merge!r} does not join two tokens into a vocabulary token. "
                    "Pass the 'merges' saved with this vocabulary, or call fit(texts)."
                )
            ranks.setdefault(pair, rank)
        self.vocabulary, self.merges = vocabulary, merges
        self._token_to_id, self._ranks, self._cache = token_to_id, ranks, {}

    def _fit(self, texts):
        if self.lowercase:
            texts = [text.lower() for text in texts]
        vocabulary, merges = learn_byte_pair_merges(texts, self.target_vocabulary_size)
        if not merges:
            raise DataError(
                "The bpe training text has no two adjacent bytes to merge. Fit on more text, or use the "
                "'byte' tokenizer."
            )
        self._set_state(vocabulary, merges)

    @property
    def is_fitted(self):
        return self.vocabulary is not None

    @property
    def vocabulary_size(self):
        self._check_fitted()
        return len(self.vocabulary)

    def _encode_piece(self, piece):
        """GPT-2's `bpe()`: merge the lowest-ranked adjacent pair until no pair has a rank."""
        symbols = [BYTE_TO_UNICODE[b] for b in piece.encode("utf-8", "surrogatepass")]
        while len(symbols) > 1:
            pair = min(zip(symbols, symbols[1:]), key=lambda p: self._ranks.get(p, _NO_RANK))
            if pair not in self._ranks:
                break
            symbols = _merge_pair(symbols, pair, pair[0] + pair[1])
        return [self._token_to_id[symbol] for symbol in symbols]

    def encode(self, text):
        self._check_fitted()
        if self.lowercase:
            text = text.lower()
        if len(self._cache) > self.max_cache_size:
            self._cache.clear()
        ids = []
        for piece in GPT2_SPLIT.findall(text):
            piece_ids = self._cache.get(piece)
            if piece_ids is None:
                piece_ids = self._cache[piece] = self._encode_piece(piece)
            ids.extend(piece_ids)
        return ids

    def decode(self, ids):
        self._check_fitted()
        text = "".join(self.vocabulary[i] for i in _ids_to_decode(ids, len(self.vocabulary), self.registered_name))
        return bytes_to_text(bytes(UNICODE_TO_BYTE[c] for c in text))

    def to_keras_hub(self, **kwargs):
        """This vocabulary and these merges as a `keras_hub.tokenizers.BytePairTokenizer` (for `tf.data`).

        Keyword arguments (such as `sequence_length`) go to the keras-hub constructor.
        """
        self._check_fitted()
        return keras_hub.tokenizers.BytePairTokenizer(vocabulary=dict(self._token_to_id), merges=self.merges, **kwargs)

    def get_config(self):
        return {
            "vocabulary_size": self.target_vocabulary_size,
            "lowercase": self.lowercase,
            "vocabulary": self.vocabulary,
            "merges": self.merges,
        }
