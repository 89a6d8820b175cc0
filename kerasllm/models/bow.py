"""Bag-of-embeddings baseline: each token sees itself and the mean of the sequence."""

import keras
from keras import ops

from kerasllm.models.backbone import Backbone, register_backbone


@register_backbone("bow")
class BagOfEmbeddingsBackbone(Backbone):
    """Bag-of-embeddings baseline (no word order beyond the optional positions).

    For every position `t`: `h_t = MLP(concat(e_t, mean(e)))`, where the mean runs over the
    embeddings of all real tokens (`causal=False`) or of the real tokens at positions `<= t`
    (`causal=True`). The MLP has `num_layers` `Dense(hidden_dim, gelu)` layers, with dropout
    after each. There is no other mixing between positions, so with the default
    `position="none"` the features depend on which words occur, not on their order
    ([Joulin et al., 2016](https://arxiv.org/abs/1607.01759) is the classic version).

    Args:
        vocab_size: int. Number of token ids (0 is padding).
        hidden_dim: int. Width of the embeddings, the MLP and the output features.
        num_layers: int. Number of MLP layers.
        dropout: float. Dropout after the embedding and after each MLP layer. Defaults to `0.0`.
        causal: bool. Mean over the prefix `<= t` instead of the whole sequence.
            Defaults to `False`.
        position: str. `"none"` (default, a true bag of words), `"learned"` or `"sinusoidal"`.
        max_length: int. Longest sequence with learned positions. Defaults to `512`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> from kerasllm.models import get_backbone
    >>> backbone = get_backbone("bow", vocab_size=50, hidden_dim=16, num_layers=2)
    >>> tuple(backbone(np.array([[5, 6, 7, 0, 0]])).shape)
    (1, 5, 16)
    """

    default_position = "none"
    #: Measured in docs/benchmarks.md ("Training recipes"): AdamW at 1e-2 beats 1e-3 and 3e-3 on PTB text and MQAR.
    recipe = {"lm": {"learning_rate": 1e-2}, "seq2seq": {"learning_rate": 1e-2}}

    def build(self, token_ids_shape):
        super().build(token_ids_shape)
        self.mlp_layers = []
        self.mlp_dropouts = []
        width = 2 * self.hidden_dim
        for i in range(self.num_layers):
            dense = keras.layers.Dense(
                self.hidden_dim, activation="gelu", name=f"mlp_{i}", dtype=self.dtype_policy
            )
            dense.build((*token_ids_shape, width))
            width = self.hidden_dim
            self.mlp_layers.append(dense)
            self.mlp_dropouts.append(
                keras.layers.Dropout(self.dropout, name=f"mlp_dropout_{i}", dtype=self.dtype_policy)
            )

    def encode(self, x, padding_mask, training=None):
        # Averages in float32: cumulative sums in bfloat16 drift over long sequences.
        e = ops.cast(x, "float32")  # (B, T, C), zero at padding
        m = ops.cast(padding_mask, "float32")[:, :, None]  # (B, T, 1)
        if self.causal:
            total = ops.cumsum(e, axis=1)  # (B, T, C)
            count = ops.cumsum(m, axis=1)  # (B, T, 1)
        else:
            total = ops.sum(e, axis=1, keepdims=True)  # (B, 1, C)
            count = ops.sum(m, axis=1, keepdims=True)  # (B, 1, 1)
        mean = ops.cast(total / ops.maximum(count, 1.0), x.dtype)
        mean = ops.broadcast_to(mean, ops.shape(x))  # (B, T, C)
        h = ops.concatenate([x, mean], axis=-1)  # (B, T, 2C)
        for dense, dropout in zip(self.mlp_layers, self.mlp_dropouts):
            h = dropout(dense(h), training=training)
        return h

    def initial_encode_state(self, batch_size, max_length):
        """The running sum of the embeddings so far and their count (float32)."""
        return {
            "total": ops.zeros((batch_size, self.hidden_dim), "float32"),
            "count": ops.zeros((batch_size, 1), "float32"),
        }

    def encode_step(self, x, state, index):
        """Adds the new embedding to the running mean, then applies the MLP."""
        total = state["total"] + ops.cast(x, "float32")  # (B, C)
        count = state["count"] + 1.0  # (B, 1)
        h = ops.concatenate([x, ops.cast(total / count, x.dtype)], axis=-1)  # (B, 2C)
        for dense in self.mlp_layers:
            h = dense(h)
        return h, {"total": total, "count": count}
