"""Scoring text with a language model: per-line log-likelihood and corpus perplexity.

Lines are read as documents exactly as an lm task reads its splits (each non-blank line one
document, with an eos after it), joined into one stream and cut into the model's training
windows. So the corpus perplexity of a file equals `kerasllm evaluate`'s perplexity on a split
with the same lines, and each line's log-likelihood is the sum over its tokens (and its eos)
of log p(token | what came before in its window). The stream's very first token has no
context and is not scored.

Example:
>>> import keras
>>> from kerasllm.models import CausalLM, get_backbone
>>> from kerasllm.tokenizers import get_tokenizer
>>> tok = get_tokenizer("char").fit(["abc"])
>>> lm = CausalLM(get_backbone("gru", vocab_size=tok.vocabulary_size, hidden_dim=8,
...                            num_layers=1, causal=True))
>>> result = score_texts(lm, tok, ["abc", "cab"], max_length=4)
>>> [line.num_tokens for line in result.lines], result.num_tokens
([3, 4], 7)
"""

import dataclasses
import math

import numpy as np

from kerasllm.data.pipeline import encode_lm_texts


@dataclasses.dataclass(frozen=True)
class LineScore:
    """One line's score: `log_likelihood` in nats over `num_tokens` scored tokens."""

    text: str
    log_likelihood: float
    num_tokens: int

    @property
    def perplexity(self):
        return math.exp(-self.log_likelihood / self.num_tokens) if self.num_tokens else float("nan")


@dataclasses.dataclass(frozen=True)
class ScoreResult:
    """Per-line scores and their token-weighted total."""

    lines: list
    log_likelihood: float
    num_tokens: int

    @property
    def cross_entropy(self):
        """Token-weighted cross-entropy in nats (`kerasllm evaluate`'s lm loss)."""
        return -self.log_likelihood / self.num_tokens

    @property
    def perplexity(self):
        return math.exp(min(self.cross_entropy, 700.0))


def _log_softmax(logits):
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def score_texts(lm, tokenizer, texts, max_length, batch_size=32):
    """Scores `texts` (one document each) with `lm`; returns a `ScoreResult`.

    Args:
        lm: a `kerasllm.models.CausalLM`.
        tokenizer: the tokenizer the model was trained with.
        texts: list of str, one document per entry.
        max_length: int. Window length; the run's own gives `kerasllm evaluate`'s numbers.
        batch_size: int. Windows per forward pass.
    """
    encoded = encode_lm_texts(texts, tokenizer, max_length)
    totals = np.zeros(len(texts), np.float64)
    counts = np.zeros(len(texts), np.int64)
    for start in range(0, encoded.num_examples, batch_size):
        rows = slice(start, start + batch_size)
        token_ids = encoded.token_ids[rows]
        logits = lm.predict_on_batch({"token_ids": token_ids, "padding_mask": token_ids != 0})
        log_probs = _log_softmax(np.asarray(logits))
        targets = encoded.targets[rows]
        picked = np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
        scored = encoded.weights[rows] > 0
        documents = encoded.target_documents[rows][scored]
        totals += np.bincount(documents, weights=picked[scored], minlength=len(texts))
        counts += np.bincount(documents, minlength=len(texts))
    lines = [LineScore(text, float(total), int(count)) for text, total, count in zip(texts, totals, counts)]
    return ScoreResult(lines, float(totals.sum()), int(counts.sum()))
