"""The shared front end of every backbone: token embedding + positions + dropout."""

import keras
import keras_hub
from keras import ops

from kerasllm.errors import ConfigError

POSITION_TYPES = ("learned", "sinusoidal", "rotary", "none")


@keras.saving.register_keras_serializable(package="kerasllm")
class FactorizedEmbedding(keras_hub.layers.ReversibleEmbedding):
    """A token table narrower than the model, then a projection: ALBERT's factorized embedding.

    `x = E[token] W`, with `E` `(vocab_size, output_dim)` and `W` `(output_dim, hidden_dim)`
    ([Lan et al., 2019](https://arxiv.org/abs/1909.11942)). Pretrained word vectors of width
    `output_dim` fill `E` for a model of any `hidden_dim`. Called with `reverse=True`, as a tied
    language model head calls its token table, it goes back the same way, `logits = h W^T E^T`,
    so the head needs no change and no extra weights.

    Args:
        input_dim: int. Number of token ids.
        output_dim: int. Width of the table `E` (the word vectors' width).
        hidden_dim: int. Width after the projection (the model's width).
        **kwargs: passed to `keras_hub.layers.ReversibleEmbedding` (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> from kerasllm.layers.embedding import FactorizedEmbedding
    >>> layer = FactorizedEmbedding(input_dim=20, output_dim=6, hidden_dim=8)
    >>> features = layer(np.array([[3, 4]]))
    >>> tuple(layer.embeddings.shape), tuple(features.shape), tuple(layer(features, reverse=True).shape)
    ((20, 6), (1, 2, 8), (1, 2, 20))
    """

    def __init__(self, input_dim, output_dim, hidden_dim, **kwargs):
        kwargs.pop("tie_weights", None)  # always tied: the reverse path reuses E and W
        super().__init__(input_dim, output_dim, tie_weights=True, **kwargs)
        self.hidden_dim = hidden_dim

    def build(self, inputs_shape=None):
        super().build(inputs_shape)
        self.projection = keras.layers.Dense(
            self.hidden_dim, use_bias=False, name="projection", dtype=self.dtype_policy
        )
        self.projection.build((None, self.output_dim))

    def call(self, inputs, reverse=False):
        if not reverse:
            return self.projection(super().call(inputs))  # (B, T, hidden_dim)
        kernel = ops.cast(self.projection.kernel, inputs.dtype)  # (output_dim, hidden_dim)
        narrow = ops.matmul(inputs, ops.transpose(kernel))  # (B, T, output_dim)
        return super().call(narrow, reverse=True)  # (B, T, vocab_size)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return (*input_shape[:-1], self.input_dim)
        return (*input_shape, self.hidden_dim)

    def compute_output_spec(self, inputs, reverse=False):
        shape = self.compute_output_shape(inputs.shape, reverse=reverse)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.pop("tie_weights", None)
        config["hidden_dim"] = self.hidden_dim
        return config


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
    `token_embedding(features, reverse=True)`. With an `embedding_dim` other than `hidden_dim`
    (pretrained word vectors of another width) it is a `FactorizedEmbedding`: a table
    `embedding_dim` wide, then a projection to `hidden_dim`, reversed the same way.

    Args:
        vocab_size: int. Number of token ids (ids are in `[0, vocab_size)`, 0 is padding).
        hidden_dim: int. Width of the embedding vectors.
        position: str. One of `"learned"`, `"sinusoidal"`, `"rotary"`, `"none"`.
            Defaults to `"learned"`.
        max_length: int. Longest sequence a `"learned"` table covers. Defaults to `512`.
        dropout: float. Dropout rate applied to the sum. Defaults to `0.0`.
        embedding_dim: int or None. Width of the token table; None (or `hidden_dim`) gives
            a plain `hidden_dim` table, another width adds the projection. Defaults to `None`.
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
        embedding_dim=None,
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
            ("embedding_dim", hidden_dim if embedding_dim is None else embedding_dim),
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
        self.embedding_dim = embedding_dim

    @property
    def table_width(self):
        """Width of the token table: `embedding_dim`, or `hidden_dim` when that is None."""
        return self.hidden_dim if self.embedding_dim is None else self.embedding_dim

    def build(self, token_ids_shape):
        if self.table_width == self.hidden_dim:
            self.token_embedding = keras_hub.layers.ReversibleEmbedding(
                self.vocab_size,
                self.hidden_dim,
                tie_weights=True,
                name="token_embedding",
                dtype=self.dtype_policy,
            )
        else:
            self.token_embedding = FactorizedEmbedding(
                self.vocab_size,
                self.embedding_dim,
                self.hidden_dim,
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
        """The `(vocab_size, table_width)` token embedding matrix (a variable)."""
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
                "embedding_dim": self.embedding_dim,
            }
        )
        return config
