"""The encoder-decoder head: any backbone reads the source, a causal one of the same family writes the target."""

import keras
from keras import ops

from kerasllm.errors import ConfigError
from kerasllm.layers.cross_attention import CrossAttentionBlock
from kerasllm.models.backbone import Backbone
from kerasllm.models.heads import Head


def cross_heads(hidden_dim):
    """Cross-attention heads for a width: the largest of 4, 2 and 1 that divides it."""
    return next(heads for heads in (4, 2, 1) if hidden_dim % heads == 0)


@keras.saving.register_keras_serializable(package="kerasllm")
class Seq2Seq(Head):
    """Encoder-decoder: `encoder(source)` is the memory; the causal `decoder` reads the target so far, then
    `cross_layers` `CrossAttentionBlock`s let every target position read the memory; logits over the vocabulary.

    The decoder's features attend to the encoder's after the decoder, as in Luong et al.'s global attention
    ([2015](https://arxiv.org/abs/1508.04025)) generalised to a pre-LayerNorm block, so one head serves every
    family (RNN, CNN, Transformer, bag of embeddings) and a student's backbone with no change. Decoding steps
    with state: `initial_state(source_ids, max_length)` encodes the source once and projects its keys and values
    once per block; `step(token_ids, state)` advances the decoder's own state (RNN state, CNN buffer, key/value
    cache) by one token. With `tie_weights=True` the output projection is the decoder's token embedding.

    Inputs: a dict with `source_ids` `(batch, S)` (and optionally `source_mask`), `token_ids` `(batch, T)`, the
    target so far (`<bos> target`), and optionally `padding_mask`; both sides right-padded with 0.

    Args:
        encoder: a `kerasllm.models.Backbone` with `causal=False`.
        decoder: a causal `kerasllm.models.Backbone` of the same width.
        num_heads: int or None. Heads of the cross-attention; None takes `cross_heads(hidden_dim)`.
        cross_layers: int. Cross-attention blocks after the decoder. Defaults to `1`.
        tie_weights: bool. Reuse the decoder's token embedding as the output projection. Defaults to `True`.
        cross_attention: a serialized user cross-attention layer for the blocks (lab 09), or None.
        **kwargs: passed to `keras.Model` (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> from kerasllm.models import Seq2Seq, get_backbone
    >>> model = Seq2Seq(get_backbone("gru", vocab_size=30, hidden_dim=8, num_layers=1),
    ...                 get_backbone("gru", vocab_size=30, hidden_dim=8, num_layers=1, causal=True), num_heads=2)
    >>> logits = model({"source_ids": np.array([[5, 6, 7, 0]]), "token_ids": np.array([[2, 9, 0]])})
    >>> tuple(logits.shape)
    (1, 3, 30)
    """

    def __init__(self, encoder, decoder, num_heads=None, cross_layers=1, tie_weights=True, cross_attention=None,
                 **kwargs):
        super().__init__(decoder, **kwargs)
        if not isinstance(encoder, Backbone):
            raise ConfigError(f"Seq2Seq needs a kerasllm Backbone as encoder, got {type(encoder).__name__}.")
        if encoder.causal or not decoder.causal:
            raise ConfigError(
                "Seq2Seq needs a non-causal encoder (it reads the whole source) and a causal decoder (it must not "
                f"read the token it predicts); got encoder causal={encoder.causal}, decoder causal={decoder.causal}."
            )
        if encoder.hidden_dim != decoder.hidden_dim:
            raise ConfigError(f"The encoder's hidden_dim ({encoder.hidden_dim}) and the decoder's "
                              f"({decoder.hidden_dim}) differ; build both with the same hidden_dim.")
        num_heads = cross_heads(decoder.hidden_dim) if num_heads is None else num_heads
        if decoder.hidden_dim % num_heads:
            raise ConfigError(f"hidden_dim={decoder.hidden_dim} is not divisible by the cross-attention's "
                              f"num_heads={num_heads}. Pick a hidden_dim that is a multiple of it.")
        if not (isinstance(cross_layers, int) and cross_layers >= 1):
            raise ConfigError(f"cross_layers must be an integer >= 1, got {cross_layers!r}.")
        self.encoder = encoder
        self.num_heads = num_heads
        self.cross_layers = cross_layers
        self.tie_weights = tie_weights
        self.cross_attention = cross_attention

    @property
    def decoder(self):
        """The causal backbone that writes the target (also `self.backbone`)."""
        return self.backbone

    def build(self, inputs_shape):
        target_shape = tuple(inputs_shape["token_ids"]) if isinstance(inputs_shape, dict) else (None, None)
        source_shape = tuple(inputs_shape["source_ids"]) if isinstance(inputs_shape, dict) else (None, None)
        if not self.encoder.built:
            self.encoder.build(source_shape)
        if not self.decoder.built:
            self.decoder.build(target_shape)
        width = self.decoder.hidden_dim
        self.blocks = []
        for i in range(self.cross_layers):
            block = CrossAttentionBlock(self.num_heads, dropout=self.decoder.dropout, attention=self.cross_attention,
                                        name=f"cross_attention_block_{i}", dtype=self.dtype_policy)
            block.build((*target_shape, width), (*source_shape, width))
            self.blocks.append(block)
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm", dtype=self.dtype_policy)
        self.final_norm.build((*target_shape, width))
        self.lm_head = None
        if not self.tie_weights:
            self.lm_head = keras.layers.Dense(self.decoder.vocab_size, use_bias=False, name="lm_head",
                                              dtype=self.dtype_policy)
            self.lm_head.build((None, None, width))

    def _source(self, inputs):
        if not isinstance(inputs, dict) or "source_ids" not in inputs:
            raise ConfigError("Seq2Seq takes a dict with 'source_ids' and 'token_ids' (and optional masks).")
        source_ids = inputs["source_ids"]
        source_mask = inputs.get("source_mask")
        source_mask = ops.not_equal(source_ids, 0) if source_mask is None else ops.cast(source_mask, "bool")
        return source_ids, source_mask

    def encode(self, source_ids, source_mask, training=None):
        """The memory `(batch, S, hidden_dim)`: the encoder's features of the source."""
        return self.encoder(source_ids, padding_mask=source_mask, training=training)

    def logits(self, features):
        """Float32 vocabulary logits of decoder features `(..., hidden_dim)`, through the final LayerNorm."""
        features = self.final_norm(features)
        if self.lm_head is None:
            logits = self.decoder.embedding.token_embedding(features, reverse=True)
        else:
            logits = self.lm_head(features)
        return ops.cast(logits, "float32")

    def call(self, inputs, padding_mask=None, training=None):
        source_ids, source_mask = self._source(inputs)
        token_ids, padding_mask = self._unpack(inputs, padding_mask)
        memory = self.encode(source_ids, source_mask, training=training)
        x = self.decoder(token_ids, padding_mask=padding_mask, training=training)  # (B, T, C)
        for block in self.blocks:
            x = block(x, memory, padding_mask=source_mask, training=training)
        return self.logits(x)  # (B, T, vocab_size)

    # ------------------------------------------------------------------ step with state
    def initial_state(self, source_ids, max_length, source_mask=None):
        """Encodes the source once: the decoder's initial state, the blocks' keys and values, the source mask."""
        source_mask = ops.not_equal(source_ids, 0) if source_mask is None else ops.cast(source_mask, "bool")
        memory = self.encode(source_ids, source_mask)
        batch = ops.shape(source_ids)[0]
        return {
            "decoder": self.decoder.initial_state(batch, max_length),
            "memory": [block.memory_cache(memory) for block in self.blocks],
            "source_mask": source_mask,
        }

    def step(self, token_ids, state):
        """Next-token logits `(batch, vocab_size)` after one more target token per row, and the state."""
        features, decoder_state = self.decoder.step(token_ids, state["decoder"])
        x = features[:, None, :]  # (B, 1, C)
        for block, cache in zip(self.blocks, state["memory"]):
            x = block.step(x, cache, state["source_mask"])
        return self.logits(x[:, 0, :]), {**state, "decoder": decoder_state}

    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": config.pop("backbone"),
            "num_heads": self.num_heads,
            "cross_layers": self.cross_layers,
            "tie_weights": self.tie_weights,
            "cross_attention": self.cross_attention,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "decoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
