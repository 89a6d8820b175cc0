"""Backbone base class and the backbone registry.

Every architecture maps `(token_ids, padding_mask)` to features `(batch, seq, hidden_dim)`
through the same front end (`TextEmbedding`); only `encode` differs between them.
"""

import inspect

import keras
from keras import ops

from kerasllm.checks import reject_unknown_keys, require
from kerasllm.errors import ConfigError
from kerasllm.layers.embedding import POSITION_TYPES, TextEmbedding
from kerasllm.registry import Registry

BACKBONES = Registry("architecture")

# Keyword arguments every keras.layers.Layer accepts.
_LAYER_KWARGS = ("name", "dtype", "trainable")


def register_backbone(name):
    """Registers a `Backbone` subclass under `name` (and as a Keras serializable).

    The class becomes available to `get_backbone(name, ...)`, `list_backbones()`, the CLI and
    the benchmarks, and models using it save and load as `.keras` files (as long as the module
    that defines it is imported before loading).
    """

    def decorator(cls):
        if not (inspect.isclass(cls) and issubclass(cls, Backbone)):
            raise ConfigError(
                f"register_backbone('{name}') decorates {cls!r}, which is not a Backbone "
                "subclass. Derive it from kerasllm.models.Backbone."
            )
        BACKBONES.register(name)(cls)
        keras.saving.register_keras_serializable(package="kerasllm", name=name)(cls)
        return cls

    return decorator


def list_backbones():
    """Names of the registered backbones, in registration order."""
    return BACKBONES.names()


def _accepted_kwargs(cls):
    names = set(_LAYER_KWARGS)
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        for param in inspect.signature(klass.__init__).parameters.values():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                names.add(param.name)
        if klass is Backbone:
            break
    names.discard("self")
    return names


def get_backbone(
    name, vocab_size, hidden_dim, num_layers, dropout=0.0, causal=False, **arch_kwargs
):
    """Builds a registered backbone by name.

    Args:
        name: str. A name from `list_backbones()`, e.g. `"lstm"`.
        vocab_size: int. Number of token ids.
        hidden_dim: int. Width of the features.
        num_layers: int. Depth (layers or blocks).
        dropout: float. Dropout rate. Defaults to `0.0`.
        causal: bool. Position `t` never sees `t + 1`. Defaults to `False`.
        **arch_kwargs: architecture settings (`num_heads`, `kernel_size`, `bidirectional`,
            `position`, `max_length`, `dtype`, ...).

    Raises:
        UnknownNameError: `name` is not registered (with a did-you-mean hint).
        ConfigError: an unknown or invalid setting.

    Example:
    >>> from kerasllm.models import get_backbone
    >>> backbone = get_backbone("gru", vocab_size=50, hidden_dim=16, num_layers=2)
    >>> type(backbone).__name__
    'GRUBackbone'
    """
    return construct_backbone(BACKBONES.get(name), vocab_size, hidden_dim, num_layers, dropout, causal,
                              **arch_kwargs)


def construct_backbone(cls, vocab_size, hidden_dim, num_layers, dropout=0.0, causal=False, **arch_kwargs):
    """`get_backbone` for a class rather than a registry name: rejects settings `cls` does not take."""
    reject_unknown_keys(arch_kwargs, sorted(_accepted_kwargs(cls)), "setting",
                        where=f" for the '{BACKBONES.name_of(cls, cls.__name__)}' backbone")
    return cls(vocab_size=vocab_size, hidden_dim=hidden_dim, num_layers=num_layers, dropout=dropout,
               causal=causal, **arch_kwargs)


def _is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class Backbone(keras.layers.Layer):
    """Base class of all backbones: token ids in, `(batch, seq, hidden_dim)` features out.

    `call` embeds the tokens with the shared front end `self.embedding` (a `TextEmbedding`),
    zeroes padded positions, hands the vectors to `encode`, and zeroes padded positions of the
    result again. A subclass only:

    1. creates its layers in `build(token_ids_shape)` (calling `super().build` first, which
       builds the embedding), each named and with `dtype=self.dtype_policy`;
    2. implements the override point `encode(x, padding_mask, training)`;
    3. adds its own constructor arguments to `get_config`;
    4. is registered with `@register_backbone("name")`;
    5. optionally sets `recipe`, the optimizer settings it trains well with (`kerasllm.models.recipes`).

    Contract for `encode`: `x` is `(batch, seq, hidden_dim)` with zeros at padded positions,
    `padding_mask` is bool `(batch, seq)` (true for real tokens, right padding). The features
    of real tokens must not depend on padding, and when `self.causal` is true the features at
    position `t` must not depend on positions after `t`.

    Args:
        vocab_size: int. Number of token ids (0 is padding).
        hidden_dim: int. Width of the embeddings and of the output features.
        num_layers: int. Depth of the architecture.
        dropout: float in [0, 1). Dropout rate (embedding and between layers). Defaults to `0.0`.
        causal: bool. Position `t` never sees `t + 1` (for language models). Defaults to `False`.
        position: str or None. `"learned"`, `"sinusoidal"`, `"rotary"` or `"none"`; None picks
            the class default `default_position`. Only attention backbones accept `"rotary"`.
        max_length: int. Longest sequence with learned positions. Defaults to `512`.
        embedding_dim: int or None. Width of the token table when it differs from `hidden_dim`
            (pretrained word vectors): the embedding projects it to `hidden_dim`, see
            `TextEmbedding`. Defaults to `None` (`hidden_dim`).
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype` such as `"mixed_bfloat16"`).

    Call arguments:
        token_ids: int tensor `(batch, seq)`, right-padded with 0.
        padding_mask: bool/int tensor `(batch, seq)`, true for real tokens. Defaults to
            `token_ids != 0`.
        training: bool. Whether dropout is active.

    Example (a student's backbone: a per-token MLP, no mixing between positions):
    >>> import keras, numpy as np
    >>> from kerasllm.models import Backbone, get_backbone, register_backbone
    >>> @register_backbone("doc_token_mlp")
    ... class TokenMLP(Backbone):
    ...     default_position = "none"
    ...
    ...     def build(self, token_ids_shape):
    ...         super().build(token_ids_shape)
    ...         self.mlp = [
    ...             keras.layers.Dense(self.hidden_dim, activation="relu",
    ...                                name=f"mlp_{i}", dtype=self.dtype_policy)
    ...             for i in range(self.num_layers)
    ...         ]
    ...         for dense in self.mlp:
    ...             dense.build((None, None, self.hidden_dim))
    ...
    ...     def encode(self, x, padding_mask, training=None):
    ...         for dense in self.mlp:
    ...             x = dense(x)
    ...         return x
    >>> backbone = get_backbone("doc_token_mlp", vocab_size=50, hidden_dim=8, num_layers=2)
    >>> tuple(backbone(np.array([[4, 5, 6, 0]])).shape)
    (1, 4, 8)
    """

    #: Position type used when `position=None`.
    default_position = "learned"
    #: Task kind -> optimizer settings this architecture trains well with on such tasks, overriding
    #: `kerasllm.models.recipes.DEFAULT_RECIPE` (AdamW at 1e-3); a run's config overrides them in turn.
    recipe = {}
    #: Whether `encode` applies rotary embeddings itself (attention backbones).
    supports_rotary = False
    #: Constructor options only a non-causal backbone takes (an encoder-decoder's decoder is built without them).
    encoder_only_options = ()

    def __init__(
        self,
        vocab_size,
        hidden_dim,
        num_layers,
        dropout=0.0,
        causal=False,
        position=None,
        max_length=512,
        embedding_dim=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        kind = type(self).__name__
        position = self.default_position if position is None else position
        for arg, value in (
            ("vocab_size", vocab_size),
            ("hidden_dim", hidden_dim),
            ("num_layers", num_layers),
            ("max_length", max_length),
        ):
            require(
                _is_positive_int(value),
                f"{kind} {arg} must be a positive integer, got {value!r}. "
                f"Pass e.g. {arg}=2 or more.",
            )
        require(
            isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0,
            f"{kind} dropout must be in [0, 1), got {dropout!r}. Use e.g. dropout=0.1.",
        )
        require(
            isinstance(causal, bool),
            f"{kind} causal must be True or False, got {causal!r}.",
        )
        require(
            position in POSITION_TYPES,
            f"Unknown position type '{position}'. Use one of: {', '.join(POSITION_TYPES)}.",
        )
        require(
            position != "rotary" or self.supports_rotary,
            f"{kind} has no attention, so position='rotary' would do nothing. "
            "Use position='learned', 'sinusoidal' or 'none', or the 'transformer' backbone.",
        )
        self.vocab_size = vocab_size
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.causal = causal
        self.position = position
        self.max_length = max_length
        self.embedding_dim = embedding_dim
        self.embedding = TextEmbedding(
            vocab_size=vocab_size,
            hidden_dim=hidden_dim,
            position=position,
            max_length=max_length,
            dropout=dropout,
            embedding_dim=embedding_dim,
            name="embedding",
            dtype=self.dtype_policy,
        )

    def build(self, token_ids_shape):
        self.embedding.build(token_ids_shape)

    def encode(self, x, padding_mask, training=None):
        """Mixes information across positions: the one method a backbone implements.

        Args:
            x: float tensor `(batch, seq, hidden_dim)`, embedded tokens, zero at padding.
            padding_mask: bool tensor `(batch, seq)`, true for real tokens.
            training: bool. Whether dropout is active.

        Returns:
            float tensor `(batch, seq, hidden_dim)`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement encode(x, padding_mask, training)."
        )

    def attention_flops_per_token(self, context):
        """Forward FLOPs per token that no weight accounts for, over a context of `context` tokens.

        `kerasllm.models.flops` counts 2 FLOPs per weight use; this adds the work between
        activations, which only attention has (scores and weighted sum, growing with the context).
        The default, 0, fits a backbone whose every multiply-add involves a weight (RNN, CNN, BoW);
        override it for a backbone with attention, as `TransformerBackbone` does.
        """
        return 0

    # ------------------------------------------------------------------ step with state
    def initial_state(self, batch_size, max_length=None):
        """The state before any token, for `step`.

        Args:
            batch_size: int. Number of rows decoded together.
            max_length: int or None. Longest sequence the state must hold (the size of a
                Transformer's key/value cache). Defaults to the backbone's `max_length`.

        Returns:
            A dict of tensors whose first axis is the batch: `"index"` `(batch,)`, the position
            of the next token of each row, and `"layers"`, from `initial_encode_state`.
        """
        self._require_causal("initial_state")
        if not self.built:
            self(ops.ones((1, 2), "int32"))  # creates the weights, as a first call would
        max_length = self.max_length if max_length is None else max_length
        return {
            "index": ops.zeros((batch_size,), "int32"),
            "layers": self.initial_encode_state(batch_size, max_length),
        }

    def step(self, token_ids, state):
        """Reads one more token per row: `features, state = backbone.step(token_ids, state)`.

        Feeding a sequence token by token from `initial_state` gives the features `call`
        computes for it (up to float rounding), at a cost per token that does not grow with
        the sequence for the recurrent, convolutional and bag-of-embeddings backbones.

        Args:
            token_ids: int tensor `(batch,)`, the next token of every row.
            state: the dict from `initial_state` or from the previous `step`.

        Returns:
            `(features, state)`: float `(batch, hidden_dim)` and the next state.

        Example:
        >>> import numpy as np
        >>> from kerasllm.models import get_backbone
        >>> backbone = get_backbone("lstm", vocab_size=50, hidden_dim=8, num_layers=2, causal=True)
        >>> ids = np.array([[5, 6, 7]])
        >>> state = backbone.initial_state(batch_size=1)
        >>> for t in range(3):
        ...     features, state = backbone.step(ids[:, t], state)
        >>> bool(np.allclose(features, backbone(ids)[:, -1], atol=1e-5))
        True
        """
        index = state["index"]
        x = self.embedding(token_ids[:, None], positions=index[:, None], training=False)[:, 0]
        features, layers = self.encode_step(x, state["layers"], index)
        return features, {"index": index + 1, "layers": layers}

    def prefill(self, token_ids, state, length=None):
        """Feeds the first `length` columns of `token_ids` `(batch, seq)` through `step`.

        `length` (an int or scalar tensor; defaults to all columns) may be traced, so one
        compiled decoder serves prompts of any length. Returns the state.
        """
        length = ops.shape(token_ids)[1] if length is None else length

        def body(t, state):
            return self.step(ops.take(token_ids, t, axis=1), state)[1]

        return ops.fori_loop(0, length, body, state)

    def initial_encode_state(self, batch_size, max_length):
        """What `encode_step` carries, before any token. Override with `encode_step`.

        The default keeps every embedded input, `(batch, max_length, hidden_dim)`, so that
        `encode_step` can rerun `encode` on the whole prefix: correct for any causal backbone,
        at a cost that grows with the length. Every tensor in the returned structure must have
        the batch as its first axis (beam search reorders rows).
        """
        return ops.zeros((batch_size, max_length, self.hidden_dim), self.compute_dtype)

    def encode_step(self, x, state, index):
        """`encode` for one new embedded token per row: the second override point.

        Args:
            x: float tensor `(batch, hidden_dim)`, the embedded new token.
            state: the structure from `initial_encode_state` or the previous `encode_step`.
            index: int tensor `(batch,)`, the position of the new token in each row.

        Returns:
            `(features (batch, hidden_dim), state)`.
        """
        inputs = state
        max_length = ops.shape(inputs)[1]
        positions = ops.arange(max_length)[None, :]
        inputs = ops.where(ops.equal(positions, index[:, None])[:, :, None], x[:, None, :], inputs)
        seen = ops.less_equal(positions, index[:, None])  # (B, S)
        features = self.encode(inputs * ops.cast(seen, inputs.dtype)[:, :, None], seen)
        current = ops.one_hot(index, max_length, dtype=features.dtype)[:, :, None]  # (B, S, 1)
        return ops.sum(features * current, axis=1), inputs

    def _require_causal(self, what):
        require(
            self.causal,
            f"{type(self).__name__}.{what} needs a causal backbone: with causal=False every "
            "position reads the future, so tokens cannot be produced one at a time. Build it "
            "with causal=True.",
        )

    def call(self, token_ids, padding_mask=None, training=None):
        if padding_mask is None:
            padding_mask = ops.not_equal(token_ids, 0)
        padding_mask = ops.cast(padding_mask, "bool")  # (B, T)
        x = self.embedding(token_ids, training=training)  # (B, T, C)
        x = x * ops.cast(padding_mask, x.dtype)[:, :, None]
        features = self.encode(x, padding_mask, training=training)  # (B, T, C)
        return features * ops.cast(padding_mask, features.dtype)[:, :, None]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
                "causal": self.causal,
                "position": self.position,
                "max_length": self.max_length,
                "embedding_dim": self.embedding_dim,
            }
        )
        return config
