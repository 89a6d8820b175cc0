"""Adaptive softmax (Grave et al., 2017): log-probabilities over a large vocabulary for a fraction of the work.

The vocabulary, ranked by frequency as the word tokenizer ranks it, is cut at `cutoffs` into a shortlist (ids
below `cutoffs[0]`) and tail clusters. A head softmax scores the shortlist words and one entry per cluster;
cluster `i` scores its own words from the features projected to `hidden_dim / div_value**(i + 1)`, so

    log p(w) = log p_head(w)                                  for a shortlist word,
    log p(w) = log p_head(cluster i) + log p_cluster_i(w)     for a word of cluster i.

Frequent words keep the full width, rare ones get a narrow one: at width 128 on PTB's 10,000 words (cutoffs
1,000 and 5,000) the output layer does 4.2x fewer multiply-adds than `Dense(vocab_size)`.

The layer returns log-probabilities over the whole vocabulary at every position. They are logits whose softmax is
themselves, so the loss, the metrics, the samplers and beam search read them unchanged. (Grave et al. also skip
the clusters a batch's targets do not fall in; that needs the targets and shapes that change per batch, which a
compiled step cannot have, so every cluster is scored here and the saving is the narrower tails.)
Paper: [Grave et al., 2017](https://arxiv.org/abs/1609.04309).

Example:
>>> import numpy as np
>>> from kerasllm.layers import AdaptiveSoftmax
>>> layer = AdaptiveSoftmax(vocab_size=100, cutoffs=[10, 50])
>>> log_probs = layer(np.random.default_rng(0).normal(size=(2, 3, 16)).astype("float32"))
>>> tuple(log_probs.shape), bool(np.allclose(np.exp(log_probs).sum(-1), 1.0, atol=1e-5))
((2, 3, 100), True)
"""

import keras
from keras import ops

from kerasllm.errors import ConfigError


#: How much narrower each cluster's projection is than the previous one's (Grave et al.'s 4).
DEFAULT_DIV_VALUE = 4.0


def default_cutoffs(vocab_size):
    """Cutoffs for a vocabulary with none given: a shortlist of the most frequent tenth, then the rest of the first
    half, then the second half (two tail clusters, as Grave et al. use for mid-sized vocabularies).

    Example:
    >>> default_cutoffs(10000), default_cutoffs(33278)
    ([1000, 5000], [3328, 16639])
    """
    return [max(1, round(vocab_size / 10)), max(2, vocab_size // 2)]


@keras.saving.register_keras_serializable(package="kerasllm")
class AdaptiveSoftmax(keras.layers.Layer):
    """Features `(..., hidden_dim)` to float32 log-probabilities `(..., vocab_size)` through an adaptive softmax.

    Args:
        vocab_size: int. Number of token ids; ids must be ranked by frequency (most frequent first).
        cutoffs: list of int. Strictly increasing ids in `(0, vocab_size)` where the shortlist and each
            cluster end.
        div_value: float. Each cluster's projection is `div_value` times narrower than the previous one's.
            Defaults to `4.0` (the paper's).
        tie_shortlist: bool. The shortlist words are scored against rows of the token embedding that the
            caller passes (`shortlist_embeddings`), tied weights as in `CausalLM`; False gives the layer its
            own. Defaults to `False`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        features: float tensor `(..., hidden_dim)`.
        shortlist_embeddings: with `tie_shortlist`, the `(cutoffs[0], hidden_dim)` embedding rows of the shortlist.
    """

    def __init__(self, vocab_size, cutoffs, div_value=DEFAULT_DIV_VALUE, tie_shortlist=False, **kwargs):
        super().__init__(**kwargs)
        cutoffs = list(cutoffs) if isinstance(cutoffs, (list, tuple)) else cutoffs
        if (not isinstance(cutoffs, list) or not cutoffs
                or any(isinstance(c, bool) or not isinstance(c, int) for c in cutoffs)
                or sorted(set(cutoffs)) != cutoffs or cutoffs[0] < 1 or cutoffs[-1] >= vocab_size):
            shortlist_end, half = default_cutoffs(vocab_size)
            raise ConfigError(
                f"Adaptive softmax cutoffs must be strictly increasing integers between 1 and vocab_size - 1 "
                f"({vocab_size - 1}), got {cutoffs!r}. Use e.g. softmax_options.cutoffs=[{shortlist_end},{half}], "
                "or leave them out for those."
            )
        if isinstance(div_value, bool) or not isinstance(div_value, (int, float)) or div_value < 1:
            raise ConfigError(f"Adaptive softmax div_value must be a number >= 1, got {div_value!r}. Use e.g. 4.")
        self.vocab_size = vocab_size
        self.cutoffs = cutoffs
        self.div_value = float(div_value)
        self.tie_shortlist = bool(tie_shortlist)

    def cluster_widths(self, hidden_dim):
        """The projection width of each tail cluster: `hidden_dim / div_value**(i + 1)`, at least 1."""
        return [max(1, int(hidden_dim // self.div_value ** (i + 1))) for i in range(len(self.cutoffs))]

    def build(self, features_shape):
        hidden_dim = features_shape[-1]
        bounds = [*self.cutoffs, self.vocab_size]

        def dense(units, name, inputs_width=hidden_dim):
            layer = keras.layers.Dense(units, use_bias=False, name=name, dtype=self.dtype_policy)
            layer.build((None, inputs_width))
            return layer

        self.shortlist = None if self.tie_shortlist else dense(self.cutoffs[0], "shortlist")
        self.cluster_logits = dense(len(self.cutoffs), "cluster_logits")
        self.projections, self.outputs = [], []
        for i, width in enumerate(self.cluster_widths(hidden_dim)):
            self.projections.append(dense(width, f"cluster{i + 1}_projection"))
            self.outputs.append(dense(bounds[i + 1] - bounds[i], f"cluster{i + 1}_output", inputs_width=width))

    def call(self, features, shortlist_embeddings=None):
        if self.tie_shortlist:
            if shortlist_embeddings is None:
                raise ConfigError("AdaptiveSoftmax(tie_shortlist=True) needs shortlist_embeddings: the token "
                                  "embedding's first cutoffs[0] rows.")
            shortlist = ops.matmul(features, ops.transpose(ops.cast(shortlist_embeddings, features.dtype)))
        else:
            shortlist = self.shortlist(features)
        head = ops.concatenate([shortlist, self.cluster_logits(features)], axis=-1)
        head = ops.log_softmax(ops.cast(head, "float32"), axis=-1)  # (..., cutoffs[0] + clusters)
        first = self.cutoffs[0]
        pieces = [head[..., :first]]
        for i, (projection, output) in enumerate(zip(self.projections, self.outputs)):
            within = ops.log_softmax(ops.cast(output(projection(features)), "float32"), axis=-1)
            pieces.append(within + head[..., first + i:first + i + 1])  # log p(cluster) + log p(word | cluster)
        return ops.concatenate(pieces, axis=-1)  # (..., vocab_size)

    def compute_output_shape(self, features_shape):
        return (*features_shape[:-1], self.vocab_size)

    def get_config(self):
        config = super().get_config()
        config.update({"vocab_size": self.vocab_size, "cutoffs": self.cutoffs, "div_value": self.div_value,
                       "tie_shortlist": self.tie_shortlist})
        return config
