"""Lab 08: one byte-pair-encoding merge step, checked against kerasllm's BPE trainer.

Convention: a class built as `Class()` with `step(words) -> (pair, new_words)`. `words` maps a word,
as a tuple of symbols, to how often it occurs (`{("l", "o", "w"): 5, ...}`). `step` finds the adjacent
pair that occurs most often (each occurrence counts the word's frequency; on a tie the smallest pair,
as Python orders tuples), and returns it with the words in which every occurrence of the pair, left to
right and without overlap, is replaced by the joined symbol. With no pair left it returns
`(None, words)`. Repeating `step` is BPE training
([Sennrich et al., 2016](https://arxiv.org/abs/1508.07909)); `learn_merges` drives it exactly as
`kerasllm.tokenizers.subword.learn_byte_pair_merges` trains the `bpe` tokenizer.
"""

import collections

from kerasllm.data.base import get_task
from kerasllm.labs.base import Lab, LabFailure, check, register_lab
from kerasllm.tokenizers.base import SPECIAL_TOKENS
from kerasllm.tokenizers.subword import (
    BYTE_SYMBOLS,
    BYTE_TO_UNICODE,
    GPT2_SPLIT,
    BytePairTokenizer,
    learn_byte_pair_merges,
)

VOCABULARY_SIZE = 300


class BytePairMergeStep:
    """One BPE merge step, written out (the reference solution of lab 08).

    Override point: `choose(pair_counts)` picks the pair to merge from a `Counter` of pairs.

    Example:
    >>> from kerasllm.labs.bpe import BytePairMergeStep
    >>> pair, words = BytePairMergeStep().step({("l", "o", "w"): 5, ("l", "o", "t"): 2, ("a", "a", "a"): 1})
    >>> pair, words[("lo", "w")], words[("a", "a", "a")]
    (('l', 'o'), 5, 1)

    Merging the rarest pair instead only overrides `choose`:
    >>> class Rarest(BytePairMergeStep):
    ...     def choose(self, pair_counts):
    ...         return min(pair_counts, key=lambda pair: (pair_counts[pair], pair))
    >>> Rarest().step({("l", "o", "w"): 5, ("l", "o", "t"): 2})[0]
    ('o', 't')
    """

    def count_pairs(self, words):
        """A `Counter` of adjacent pairs, each occurrence weighted by its word's frequency."""
        counts = collections.Counter()
        for symbols, frequency in words.items():
            for pair in zip(symbols, symbols[1:]):
                counts[pair] += frequency
        return counts

    def choose(self, pair_counts):
        """The most frequent pair; the smallest one on a tie (deterministic)."""
        return min(pair_counts, key=lambda pair: (-pair_counts[pair], pair))

    def merge(self, symbols, pair):
        """`symbols` with each occurrence of `pair`, left to right without overlap, joined into one symbol."""
        out, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
                out.append(pair[0] + pair[1])
                i += 2
            else:
                out.append(symbols[i])
                i += 1
        return tuple(out)

    def step(self, words):
        counts = self.count_pairs(words)
        if not counts:
            return None, words
        pair = self.choose(counts)
        return pair, {self.merge(symbols, pair): frequency for symbols, frequency in words.items()}


def byte_words(texts):
    """GPT-2 pre-tokenized words of `texts` as tuples of byte symbols, with their counts."""
    counts = collections.Counter()
    for text in texts:
        counts.update(GPT2_SPLIT.findall(text))
    return {tuple(BYTE_TO_UNICODE[b] for b in word.encode("utf-8", "surrogatepass")): n for word, n in counts.items()}


def learn_merges(merger, texts, vocabulary_size):
    """BPE training driven by `merger.step`: `(vocabulary, merges)` as `learn_byte_pair_merges` returns them."""
    words = byte_words(texts)
    vocabulary = list(SPECIAL_TOKENS) + list(BYTE_SYMBOLS)
    known, merges = set(vocabulary), []
    while len(vocabulary) < vocabulary_size:
        pair, words = merger.step(words)
        if pair is None:
            break
        merges.append(f"{pair[0]} {pair[1]}")
        if pair[0] + pair[1] not in known:
            vocabulary.append(pair[0] + pair[1])
            known.add(pair[0] + pair[1])
    return vocabulary, merges


def _texts():
    task = get_task("negation_sentiment", num_train=200, num_validation=50, num_test=10)
    return list(task.train_texts()), task


@register_lab("bpe")
class BytePairLab(Lab):
    number, title = "08", "BPE tokenization: the merge step"
    convention = ("Class(); step(words: {tuple of symbols: count}) -> (most frequent adjacent pair, words with "
                  "the pair merged left to right); ties -> smallest pair; (None, words) when no pair is left; as "
                  "kerasllm's bpe trainer (learn_byte_pair_merges)")
    reference = "kerasllm.labs.bpe:BytePairMergeStep"
    starter = "bpe_merge_step.py"

    def _step(self, words):
        result = self.cls().step(dict(words))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise LabFailure("step must return the pair (pair, new_words)")
        return result

    @check("built as Class() with step(words) -> (pair, new_words)", fatal=True)
    def contract(self):
        pair, words = self._step({("a", "b"): 1})
        if tuple(pair or ()) != ("a", "b"):
            raise LabFailure(f"on {{('a', 'b'): 1}} step returned the pair {pair!r}, expected ('a', 'b') "
                             "(a tuple of the two symbols)")
        if not isinstance(words, dict) or words != {("ab",): 1}:
            raise LabFailure(f"on {{('a', 'b'): 1}} step returned the words {words!r}, expected {{('ab',): 1}}: a "
                             "dict from tuples of symbols to counts, with the pair joined into one symbol")
        pair, words = self._step({("a",): 3})
        if pair is not None or words != {("a",): 3}:
            raise LabFailure("with no pair left (one-symbol words) step must return (None, words) unchanged")

    @check("counts each pair as often as its word occurs")
    def weighted_counts(self):
        pair, _ = self._step({("a", "b"): 1, ("c", "d"): 5, ("a", "b", "x"): 1})
        if pair != ("c", "d"):
            raise LabFailure(f"picked {pair!r} on {{ab: 1, cd: 5, abx: 1}}: pairs are counted once per word; "
                             "count each pair as many times as its word occurs (add the word's count)")
        pair, _ = self._step({("x", "y", "x", "y"): 2, ("c", "d"): 3})
        if pair != ("x", "y"):
            raise LabFailure(f"picked {pair!r} on {{xyxy: 2, cd: 3}}: a pair that occurs twice in a word counts "
                             "twice (x y occurs 2 x 2 = 4 times)")

    @check("breaks ties by the smallest pair")
    def ties(self):
        pair, _ = self._step({("b", "c"): 2, ("a", "b"): 2})
        if pair != ("a", "b"):
            raise LabFailure(f"picked {pair!r} on a tie between ('a', 'b') and ('b', 'c'): on a tie pick the "
                             "smallest pair (min over the tied pairs), so training is deterministic")

    @check("merges left to right without overlap, only inside words")
    def merging(self):
        _, words = self._step({("a", "a", "a"): 1})
        if words != {("aa", "a"): 1}:
            raise LabFailure(f"merging ('a', 'a') in 'a a a' gave {list(words)}; merges are applied left to right "
                             "without overlap: 'a a a' becomes 'aa a'")
        _, words = self._step({("a", "b"): 3, ("b", "a"): 1, ("b",): 1})
        if words != {("ab",): 3, ("b", "a"): 1, ("b",): 1}:
            raise LabFailure(f"merging ('a', 'b') gave {words}; only adjacent 'a' then 'b' inside one word merge, "
                             "and every word keeps its count")

    @check("learns the same merges as kerasllm's bpe trainer (negation_sentiment, 300 tokens)")
    def matches_trainer(self):
        texts, _ = _texts()
        expected = learn_byte_pair_merges(texts, VOCABULARY_SIZE)
        actual = learn_merges(self.cls(), texts, VOCABULARY_SIZE)
        if actual[1] != expected[1]:
            first = next(i for i, (a, b) in enumerate(zip(actual[1] + [None], expected[1] + [None])) if a != b)
            got = actual[1][first] if first < len(actual[1]) else "nothing"
            want = expected[1][first] if first < len(expected[1]) else "nothing"
            raise LabFailure(f"merge {first + 1} is {got!r}, kerasllm's trainer learns {want!r}")
        self.note(f"{len(actual[1])} merges")

    @check("your merges tokenize the task: kerasllm's bpe tokenizer built from them round-trips the text")
    def trains(self):
        texts, task = _texts()
        vocabulary, merges = learn_merges(self.cls(), texts, VOCABULARY_SIZE)
        tokenizer = BytePairTokenizer(vocabulary_size=len(vocabulary), vocabulary=vocabulary, merges=merges)
        validation = task.split("validation").texts
        for text in validation:
            if tokenizer.decode(tokenizer.encode(text)) != text:
                raise LabFailure(f"encoding then decoding {text!r} does not give it back")
        tokens = sum(len(tokenizer.encode(text)) for text in validation)
        characters = sum(len(text.encode("utf-8")) for text in validation)
        self.note(f"{characters / tokens:.2f} bytes per token on the validation split")
