"""The shared front end of every backbone: token embedding + positions + dropout."""

import keras
import keras_hub
from keras import ops

from kerasllm.errors import ConfigError

POSITION_TYPES = ("learned", "sinusoidal", "rotary", "none")


@keras.saving.register_keras_serializable(package="kerasllm")
class TextEmbedding(keras.layers.Layer):
    """Token embedding plus positional information, then dropout.

    Maps token ids `(batch, seq)` to vectors `(batch, seq, hidden_dim)`:
    `x_t = E[token_t] + P[t]`, where `P` depends on `position`:

    - `"learned"`: a trainable table of `max_length` vectors
      (`keras_hub.layers.PositionEmbedding`, as in BERT and GPT-2);
    - `"sinusoidal"`: the fixed sine/cosine encoding of
      [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
      (`keras_hub.layers.SinePositionEncoding`);
    - `"rotary"`: nothing is added here; the attention layer rotates queries and keys
      ([Su et al., 2021](https://arxiv.org/abs/2104.09864));
    - `"none"`: nothing is added (recurrent and convolutional models see order anyway).

    The token table is a `keras_hub.layers.ReversibleEmbedding` (`token_embedding`), so a language
    model head can reuse it to project features back to vocabulary logits (tied weights):
    `token_embedding(features, reverse=True)`.

    Args:
        vocab_size: int. Number of token ids (ids are in `[0, vocab_size)`, 0 is padding).
        hidden_dim: int. Width of the embedding vectors.
        position: str. One of `"learned"`, `"sinusoidal"`, `"rotary"`, `"none"`.
            Defaults to `"learned"`.
        max_length: int. Longest sequence a `"learned"` table covers. Defaults to `512`.
        dropout: float. Dropout rate applied to the sum. Defaults to `0.0`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        token_ids: int tensor `(batch, seq)`.
        start_index: int. Position of the first token. Defaults to `0`.
        positions: int tensor `(batch, seq)` or None. The position of every token, which
            overrides `start_index` (step-by-step decoding feeds each row's position).
        training: bool. Whether dropout is active.

    Example:
    >>> import numpy as np
    >>> from kerasllm.layers import TextEmbedding
    >>> layer = TextEmbedding(vocab_size=50, hidden_dim=16, position="sinusoidal")
    >>> tuple(layer(np.array([[5, 6, 7, 0]])).shape)
    (1, 4, 16)
    """

    def __init__(
        self,
        vocab_size,
        hidden_dim,
        position="learned",
        max_length=512,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if position not in POSITION_TYPES:
            raise ConfigError(
                f"Unknown position type '{position}'. "
                f"Use one of: {', '.join(POSITION_TYPES)}."
            )
        for arg, value in (
            ("vocab_size", vocab_size),
            ("hidden_dim", hidden_dim),
            ("max_length", max_length),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(
                    f"TextEmbedding {arg} must be a positive integer, got {value!r}. "
                    f"Pass a positive int."
                )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(
                f"TextEmbedding dropout must be in [0, 1), got {dropout!r}. Use e.g. 0.1."
            )
        self.vocab_size = vocab_size
        self.hidden_dim = hidden_dim
        self.position = position
        self.max_length = max_length
        self.dropout = dropout

    def build(self, token_ids_shape):
        self.token_embedding = keras_hub.layers.ReversibleEmbedding(
            self.vocab_size,
            self.hidden_dim,
            tie_weights=True,
            name="token_embedding",
            dtype=self.dtype_policy,
        )
        self.token_embedding.build(token_ids_shape)
        features_shape = (*token_ids_shape, self.hidden_dim)
        if self.position == "learned":
            self.position_embedding = keras_hub.layers.PositionEmbedding(
                sequence_length=self.max_length,
                name="position_embedding",
                dtype=self.dtype_policy,
            )
            self.position_embedding.build(features_shape)
        elif self.position == "sinusoidal":
            # Always float32: positions above 256 are not exact in bfloat16.
            self.position_embedding = keras_hub.layers.SinePositionEncoding(
                name="position_embedding", dtype="float32"
            )
        else:
            self.position_embedding = None
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, name="embedding_dropout", dtype=self.dtype_policy
        )

    @property
    def embeddings(self):
        """The `(vocab_size, hidden_dim)` token embedding matrix (a variable)."""
        return self.token_embedding.embeddings

    def call(self, token_ids, start_index=0, positions=None, training=None):
        x = self.token_embedding(token_ids)  # (B, T, C)
        if self.position_embedding is not None:
            if positions is None:
                self._check_length(token_ids, start_index)
            else:
                positions = ops.cast(positions, "int32" if self.position == "learned" else "float32")
            encoding = self.position_embedding(x, start_index=start_index, positions=positions)
            x = x + ops.cast(encoding, x.dtype)
        return self.dropout_layer(x, training=training)

    def _check_length(self, token_ids, start_index):
        length = token_ids.shape[-1]
        if self.position != "learned" or not isinstance(length, int):
            return
        if not isinstance(start_index, int):
            return
        if start_index + length > self.max_length:
            raise ConfigError(
                f"Sequence positions up to {start_index + length} exceed max_length="
                f"{self.max_length} of the learned position table. Raise max_length or "
                "truncate the sequences."
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "hidden_dim": self.hidden_dim,
                "position": self.position,
                "max_length": self.max_length,
                "dropout": self.dropout,
            }
        )
        return config
