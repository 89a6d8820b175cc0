"""Task heads: any head on any backbone.

A head is a `keras.Model` that owns a backbone (`model.backbone`) and turns its features into
float32 logits. Heads accept either a dict (what `model.fit` feeds them)

    model({"token_ids": ids, "padding_mask": mask})

or the token ids with an optional keyword mask, `model(ids, padding_mask=mask)`.
"""

import keras
from keras import ops

from kerasllm.errors import ConfigError
from kerasllm.layers.adaptive_softmax import DEFAULT_DIV_VALUE, AdaptiveSoftmax
from kerasllm.models.backbone import Backbone

POOLING_MODES = ("mean", "max", "last", "first")


class Head(keras.Model):
    """Base class of the heads: input unpacking and (de)serialization of the backbone.

    Args:
        backbone: a `kerasllm.models.Backbone`.
        **kwargs: passed to `keras.Model` (`name`, `dtype`, ...).
    """

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(backbone, Backbone):
            raise ConfigError(
                f"{type(self).__name__} needs a kerasllm Backbone, got {type(backbone).__name__}. "
                "Build one with kerasllm.models.get_backbone(...)."
            )
        self.backbone = backbone

    #: Whether the head's logits are log-probabilities already (an adaptive softmax's), which a loss need not
    #: normalize again (`SparseCrossEntropy(log_probs=True)`).
    outputs_log_probs = False

    def _token_ids(self, inputs):
        """The token ids (or their shape) from an input dict, or `inputs` itself."""
        if not isinstance(inputs, dict):
            return inputs
        if "token_ids" not in inputs:
            raise ConfigError(
                f"{type(self).__name__} got an input dict with keys {sorted(inputs)}. "
                "Pass {'token_ids': ..., 'padding_mask': ...}."
            )
        return inputs["token_ids"]

    def _unpack(self, inputs, padding_mask):
        """Returns `(token_ids, padding_mask)` from a dict or from positional ids."""
        token_ids = self._token_ids(inputs)
        if isinstance(inputs, dict):
            padding_mask = inputs.get("padding_mask", padding_mask)
        if padding_mask is None:
            padding_mask = ops.not_equal(token_ids, 0)
        return token_ids, ops.cast(padding_mask, "bool")

    def _build_backbone(self, inputs_shape):
        if not self.backbone.built:
            self.backbone.build(tuple(self._token_ids(inputs_shape)))

    def get_config(self):
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(self.backbone)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="kerasllm")
class TextClassifier(Head):
    """Sequence classifier: masked pooling of the backbone features, then `Dense` logits.

    Pooling only looks at real tokens: `"mean"` averages them, `"max"` takes the per-feature
    maximum, `"last"` takes the last real token (the natural choice for a causal or recurrent
    backbone), `"first"` takes position 0 (a `[CLS]`-style token). A sequence with no real
    token pools to zeros. The logits `(batch, num_classes)` are float32 even under mixed
    precision.

    Override point: `pool(features, padding_mask)` for another pooling rule.

    Args:
        backbone: a `kerasllm.models.Backbone`.
        num_classes: int. Number of classes.
        pooling: str. `"mean"` (default), `"max"`, `"last"` or `"first"`.
        dropout: float. Dropout on the pooled vector. Defaults to `0.0`.
        **kwargs: passed to `keras.Model` (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> from kerasllm.models import TextClassifier, get_backbone
    >>> backbone = get_backbone("lstm", vocab_size=50, hidden_dim=16, num_layers=1)
    >>> model = TextClassifier(backbone, num_classes=3, pooling="last")
    >>> ids = np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
    >>> tuple(model({"token_ids": ids, "padding_mask": ids != 0}).shape)
    (2, 3)
    """

    def __init__(self, backbone, num_classes, pooling="mean", dropout=0.0, **kwargs):
        super().__init__(backbone, **kwargs)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ConfigError(
                f"num_classes must be a positive integer, got {num_classes!r}. "
                "Pass the number of labels of the task."
            )
        if pooling not in POOLING_MODES:
            raise ConfigError(
                f"Unknown pooling '{pooling}'. Use one of: {', '.join(POOLING_MODES)}."
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(
                f"TextClassifier dropout must be in [0, 1), got {dropout!r}. Use e.g. 0.1."
            )
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout

    def build(self, inputs_shape):
        self._build_backbone(inputs_shape)
        self.pooled_dropout = keras.layers.Dropout(
            self.dropout, name="pooled_dropout", dtype=self.dtype_policy
        )
        self.classifier = keras.layers.Dense(
            self.num_classes, name="logits", dtype=self.dtype_policy
        )
        self.classifier.build((None, self.backbone.hidden_dim))

    def pool(self, features, padding_mask):
        """Reduces `(batch, seq, hidden_dim)` features over real tokens to `(batch, hidden_dim)`."""
        mask = ops.cast(padding_mask, features.dtype)[:, :, None]  # (B, T, 1)
        if self.pooling == "first":
            return features[:, 0, :]
        if self.pooling == "mean":
            total = ops.sum(ops.cast(features * mask, "float32"), axis=1)  # (B, C)
            count = ops.sum(ops.cast(mask, "float32"), axis=1)  # (B, 1)
            return ops.cast(total / ops.maximum(count, 1.0), features.dtype)
        if self.pooling == "max":
            real = ops.cast(padding_mask, "bool")[:, :, None]  # (B, T, 1)
            pooled = ops.max(ops.where(real, features, float("-inf")), axis=1)  # (B, C)
            return ops.where(ops.any(real, axis=1), pooled, ops.zeros_like(pooled))
        # "last": the last real token, at index (number of real tokens - 1).
        count = ops.sum(ops.cast(padding_mask, "int32"), axis=1)  # (B,)
        last = ops.one_hot(ops.maximum(count - 1, 0), ops.shape(features)[1])  # (B, T)
        last = ops.cast(last, features.dtype)[:, :, None] * mask  # (B, T, 1)
        return ops.sum(features * last, axis=1)

    def call(self, inputs, padding_mask=None, training=None):
        token_ids, padding_mask = self._unpack(inputs, padding_mask)
        features = self.backbone(token_ids, padding_mask=padding_mask, training=training)
        pooled = self.pool(features, padding_mask)  # (B, C)
        logits = self.classifier(self.pooled_dropout(pooled, training=training))
        return ops.cast(logits, "float32")  # (B, num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "pooling": self.pooling,
                "dropout": self.dropout,
            }
        )
        return config


class TokenLogits(Head):
    """Base class of the heads that give logits over the vocabulary at every position (`CausalLM`, `MaskedLM`).

    With `tie_weights=True` (default) the output projection is the transpose of the
    backbone's token embedding (`backbone.embedding.token_embedding(features, reverse=True)`),
    one shared variable ([Press & Wolf, 2016](https://arxiv.org/abs/1608.05859)); otherwise
    the head has its own `Dense(vocab_size, use_bias=False)` (`lm_head`). The logits
    `(batch, seq, vocab_size)` are float32 even under mixed precision.

    With `adaptive_cutoffs` the output is an adaptive softmax instead (`kerasllm.layers.AdaptiveSoftmax`, for
    large word vocabularies): log-probabilities, which are logits too; `tie_weights` then ties its shortlist to the
    embedding rows of the most frequent words.

    Override point: `logits(features)`.
    """

    def __init__(self, backbone, tie_weights=True, adaptive_cutoffs=None, adaptive_div_value=DEFAULT_DIV_VALUE,
                 **kwargs):
        super().__init__(backbone, **kwargs)
        if not isinstance(tie_weights, bool):
            raise ConfigError(f"tie_weights must be True or False, got {tie_weights!r}.")
        self.tie_weights = tie_weights
        self.adaptive_cutoffs = None if adaptive_cutoffs is None else list(adaptive_cutoffs)
        self.adaptive_div_value = adaptive_div_value

    def build(self, inputs_shape):
        self._build_backbone(inputs_shape)
        self.lm_head = self.adaptive_softmax = None
        hidden_dim = self.backbone.hidden_dim
        if self.adaptive_cutoffs is not None:
            table_width = self.backbone.embedding.token_embedding.embeddings.shape[-1]
            if self.tie_weights and table_width != hidden_dim:
                raise ConfigError(
                    f"An adaptive softmax ties its shortlist to the token embedding, but this embedding is "
                    f"{table_width} wide and the features {hidden_dim}. Add "
                    "tie_weights=false, or load word vectors as wide as hidden_dim."
                )
            self.adaptive_softmax = AdaptiveSoftmax(
                self.backbone.vocab_size, self.adaptive_cutoffs, div_value=self.adaptive_div_value,
                tie_shortlist=self.tie_weights, name="adaptive_softmax", dtype=self.dtype_policy,
            )
            self.adaptive_softmax.build((None, None, hidden_dim))
        elif not self.tie_weights:
            self.lm_head = keras.layers.Dense(
                self.backbone.vocab_size, use_bias=False, name="lm_head", dtype=self.dtype_policy
            )
            self.lm_head.build((None, None, hidden_dim))

    def call(self, inputs, padding_mask=None, training=None):
        token_ids, padding_mask = self._unpack(inputs, padding_mask)
        features = self.backbone(token_ids, padding_mask=padding_mask, training=training)
        return self.logits(features)  # (B, T, vocab_size)

    def logits(self, features):
        """Projects features `(..., hidden_dim)` to float32 vocabulary logits `(..., vocab_size)`."""
        if self.adaptive_softmax is not None:
            table = self.backbone.embedding.token_embedding.embeddings
            shortlist = table[:self.adaptive_cutoffs[0]] if self.tie_weights else None
            return self.adaptive_softmax(features, shortlist_embeddings=shortlist)
        if self.lm_head is None:
            logits = self.backbone.embedding.token_embedding(features, reverse=True)
        else:
            logits = self.lm_head(features)
        return ops.cast(logits, "float32")

    @property
    def outputs_log_probs(self):
        return self.adaptive_cutoffs is not None

    def tied_output_weights(self):
        """How many token-embedding weights the output also multiplies by (counted as a matmul by
        `kerasllm.models.flops`): the whole table when tied, the shortlist's rows for a tied adaptive softmax."""
        if not self.tie_weights:
            return 0
        rows = self.backbone.vocab_size if self.adaptive_cutoffs is None else self.adaptive_cutoffs[0]
        return rows * self.backbone.hidden_dim

    def get_config(self):
        config = super().get_config()
        config["tie_weights"] = self.tie_weights
        if self.adaptive_cutoffs is not None:  # configs of full-softmax heads stay as they were
            config.update({"adaptive_cutoffs": self.adaptive_cutoffs, "adaptive_div_value": self.adaptive_div_value})
        return config


@keras.saving.register_keras_serializable(package="kerasllm")
class CausalLM(TokenLogits):
    """Next-token language model: logits over the vocabulary at every position.

    With `tie_weights=True` (default) the output projection is the transpose of the
    backbone's token embedding (`backbone.embedding.token_embedding(features, reverse=True)`),
    one shared variable ([Press & Wolf, 2016](https://arxiv.org/abs/1608.05859)); otherwise
    the head has its own `Dense(vocab_size, use_bias=False)` (`lm_head`). The logits
    `(batch, seq, vocab_size)` are float32 even under mixed precision. The backbone must be
    causal, or position `t` could read the token it has to predict.

    Args:
        backbone: a causal `kerasllm.models.Backbone`.
        tie_weights: bool. Reuse the token embedding as the output projection.
            Defaults to `True`.
        adaptive_cutoffs: list of int or None. End an adaptive softmax's shortlist and clusters here
            (`kerasllm.layers.AdaptiveSoftmax`; the vocabulary must be ranked by frequency); None: a full softmax.
        adaptive_div_value: float. How much narrower each adaptive cluster is than the previous. Defaults to `4.0`.
        **kwargs: passed to `keras.Model` (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> from kerasllm.models import CausalLM, get_backbone
    >>> backbone = get_backbone("transformer", vocab_size=50, hidden_dim=16, num_layers=2,
    ...                         causal=True)
    >>> lm = CausalLM(backbone)
    >>> tuple(lm(np.array([[2, 7, 9, 0]])).shape)
    (1, 4, 50)
    """

    def __init__(self, backbone, tie_weights=True, adaptive_cutoffs=None, adaptive_div_value=DEFAULT_DIV_VALUE,
                 **kwargs):
        super().__init__(backbone, tie_weights=tie_weights, adaptive_cutoffs=adaptive_cutoffs,
                         adaptive_div_value=adaptive_div_value, **kwargs)
        if not backbone.causal:
            raise ConfigError(
                f"CausalLM needs a causal backbone, but this {type(backbone).__name__} has "
                "causal=False, so each position could read the token it must predict. "
                "Build the backbone with causal=True."
            )

    def step(self, token_ids, state):
        """Next-token logits `(batch, vocab_size)` after one more token per row, and the state.

        `state` starts as `lm.backbone.initial_state(batch_size, max_length)`; see
        `Backbone.step`.
        """
        features, state = self.backbone.step(token_ids, state)
        return self.logits(features), state


@keras.saving.register_keras_serializable(package="kerasllm")
class MaskedLM(TokenLogits):
    """Masked language model (BERT's objective): logits over the vocabulary at every position, read by a
    backbone that sees the whole sequence, trained to restore the tokens masked in its input.

    The data pipeline masks the inputs and weights the loss on the masked positions only
    (`kerasllm.data.pipeline.mask_tokens`). The output projection is tied to the token embedding or not, as
    in `CausalLM` (BERT ties it too, [Devlin et al., 2019](https://arxiv.org/abs/1810.04805)). The backbone
    must be non-causal, and a recurrent one bidirectional: a forward RNN never reads the right context of a
    masked token.

    Args:
        backbone: a non-causal `kerasllm.models.Backbone` (a recurrent one with `bidirectional=True`).
        tie_weights: bool. Reuse the token embedding as the output projection. Defaults to `True`.
        adaptive_cutoffs: list of int or None. End an adaptive softmax's shortlist and clusters here
            (`kerasllm.layers.AdaptiveSoftmax`; the vocabulary must be ranked by frequency); None: a full softmax.
        adaptive_div_value: float. How much narrower each adaptive cluster is than the previous. Defaults to `4.0`.
        **kwargs: passed to `keras.Model` (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> from kerasllm.models import get_backbone
    >>> from kerasllm.models.heads import MaskedLM
    >>> backbone = get_backbone("lstm", vocab_size=50, hidden_dim=16, num_layers=1, bidirectional=True)
    >>> mlm = MaskedLM(backbone)
    >>> tuple(mlm(np.array([[7, 2, 9, 0]])).shape)
    (1, 4, 50)
    """

    def __init__(self, backbone, tie_weights=True, adaptive_cutoffs=None, adaptive_div_value=DEFAULT_DIV_VALUE,
                 **kwargs):
        super().__init__(backbone, tie_weights=tie_weights, adaptive_cutoffs=adaptive_cutoffs,
                         adaptive_div_value=adaptive_div_value, **kwargs)
        name = type(backbone).__name__
        if backbone.causal:
            raise ConfigError(
                f"MaskedLM needs a non-causal backbone, but this {name} has causal=True, so a masked token's "
                "right context is never read. Build the backbone with causal=False."
            )
        if getattr(backbone, "bidirectional", True) is False:
            raise ConfigError(
                f"MaskedLM needs a backbone that reads both ways, but this {name} reads left to right only, so a "
                "masked token's right context is never read. Add arch_options.bidirectional=true "
                "(bidirectional=True in Python)."
            )
