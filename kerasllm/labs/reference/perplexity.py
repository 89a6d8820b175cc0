"""Perplexity as a Keras metric, token-weighted over padded batches (the reference solution of lab 10).

The cross-entropy of a sequence is the mean negative log-likelihood of its tokens,
`L = -(1/N) sum_t log p(y_t)` (with one-hot targets, `-sum y log p` over the vocabulary keeps only the
target's term), and the perplexity is its exponent, `exp(L)`. Over a dataset, N counts the real tokens
of every batch: padded positions (`sample_weight` 0) count neither in the sum nor in N, and batches
are never averaged with each other.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasllm")
class TokenPerplexity(keras.metrics.Metric):
    """Perplexity `exp(total NLL / real tokens)` from logits, accumulated over batches.

    Computes what `keras_hub.metrics.Perplexity(from_logits=True)` computes: each token's negative
    log-likelihood `-log_softmax(logits)[y]` (never `log(softmax(...))`, which is `-inf` where the
    softmax underflows to 0), weighted by `sample_weight` (and by `y != mask_token_id`), summed into one
    variable while the weights are summed into another; `result()` divides once, at the end.

    Override point: `token_nll(y_true, y_pred)` returns the per-token loss `(batch, seq)`.

    Args:
        mask_token_id: int or None. Targets equal to it weigh 0 (as in keras-hub). Defaults to `None`.
        name: str. The metric's name (what Keras logs). Defaults to `"token_perplexity"`.
        **kwargs: passed to `keras.metrics.Metric` (`dtype`).

    Example:
    >>> import numpy as np
    >>> from kerasllm.labs.reference import TokenPerplexity
    >>> metric = TokenPerplexity()
    >>> logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]]], "float32"))  # (batch, seq, vocab)
    >>> metric.update_state(np.array([[0, 2]]), logits, sample_weight=np.array([[1.0, 0.0]]))
    >>> round(float(metric.result()), 4)  # only the first token counts: 1 / 0.5
    2.0

    A metric that reports bits per token instead only changes `result`:
    >>> class BitsPerToken(TokenPerplexity):
    ...     def result(self):
    ...         return ops.divide_no_nan(self.total_nll, self.token_count) / np.log(2.0)
    >>> bits = BitsPerToken(name="bits")
    >>> bits.update_state(np.array([[0, 2]]), logits, sample_weight=np.array([[1.0, 0.0]]))
    >>> round(float(bits.result()), 4)
    1.0
    """

    def __init__(self, mask_token_id=None, name="token_perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mask_token_id = mask_token_id
        self.total_nll = self.add_variable(shape=(), initializer="zeros", name="total_nll")
        self.token_count = self.add_variable(shape=(), initializer="zeros", name="token_count")

    def token_nll(self, y_true, y_pred):
        """`-log p(y)` of every token `(batch, seq)`, from targets `(batch, seq)` and logits `(batch, seq, vocab)`."""
        log_probs = ops.log_softmax(ops.cast(y_pred, self.dtype), axis=-1)  # stable: no log of 0
        targets = ops.expand_dims(ops.cast(y_true, "int32"), -1)  # (B, T, 1)
        return -ops.squeeze(ops.take_along_axis(log_probs, targets, axis=-1), -1)  # (B, T)

    def update_state(self, y_true, y_pred, sample_weight=None):
        nll = self.token_nll(y_true, y_pred)  # (B, T)
        weight = ops.ones_like(nll) if sample_weight is None else ops.cast(sample_weight, self.dtype)
        if self.mask_token_id is not None:
            weight = weight * ops.cast(ops.not_equal(ops.cast(y_true, "int32"), self.mask_token_id), self.dtype)
        self.total_nll.assign_add(ops.sum(nll * weight))  # summed, not averaged: batches weigh by tokens
        self.token_count.assign_add(ops.sum(weight))

    def result(self):
        return ops.exp(ops.divide_no_nan(self.total_nll, self.token_count))

    # reset_state: keras.metrics.Metric's zeroes every variable made with add_variable.

    def get_config(self):
        config = super().get_config()
        config.update({"mask_token_id": self.mask_token_id})
        return config
