"""Lab 08 starter: one byte-pair-encoding merge step.

Fill in the TODOs, then run:
    kerasllm lab check bpe docs/labs/starters/bpe_merge_step.py:MyMergeStep
"""

import collections


class MyMergeStep:
    def step(self, words):
        """words: {("l", "o", "w"): 5, ...}. Returns (pair, new_words), or (None, words) when no pair is left."""
        # TODO 1: count every adjacent pair of every word, adding the word's count each time it occurs
        counts = collections.Counter()
        # TODO 2: pick the most frequent pair; on a tie the smallest pair:
        #         min(counts, key=lambda pair: (-counts[pair], pair))
        # TODO 3: in every word, join each occurrence of the pair, left to right without overlap
        #         ("a a a" with ("a", "a") -> "aa a"), keeping the word's count
        raise NotImplementedError("TODO 1-3: count the pairs, choose one, merge it in every word")
