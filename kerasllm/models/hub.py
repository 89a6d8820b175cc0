"""keras-hub backbones as kerasllm backbones: `--arch hub:<preset or ClassName>`.

`HubBackbone` wraps a keras-hub backbone whose inputs are token ids and a padding mask (BERT, DistilBERT,
RoBERTa, XLM-RoBERTa, GPT-2: `HUB_FAMILIES`) behind kerasllm's backbone interface, so any head, the Trainer,
the bench and the samplers run it like a built-in architecture:

- `hub:BertBackbone` (a class name) builds the class with random weights at the run's sizes (`hidden_dim`,
  `num_layers`, `max_length`, `dropout`, and `arch_options.num_heads` (default 4) / `intermediate_dim`
  (default 4 x hidden_dim)) on the run's fitted tokenizer: it trains offline, and sizes like the Transformer.
- `hub:bert_tiny_en_uncased` (a preset name, a Kaggle / Hugging Face handle or a preset folder) is
  `HubPresetBackbone`: the pretrained weights, at the preset's sizes (the run's hidden_dim, num_layers and
  dropout do not apply), with the preset's own tokenizer (`kerasllm.tokenizers.hub.HubTokenizer`, whose ids
  the embedding rows are reordered to match).

The features are the keras-hub backbone's sequence output (BERT's `"sequence_output"`). Tied language-model
heads project with its token embedding (keras-hub's are `ReversibleEmbedding`s too), reached as
`backbone.embedding.token_embedding` like every backbone's. A causal one (GPT-2) generates through
kerasllm's samplers by full recomputation: each step reruns the backbone over the tokens so far (keras-hub
keeps its key/value cache in the task model, `GPT2CausalLM.call_with_cache`, not in the backbone).

Example:
>>> import numpy as np
>>> from kerasllm.models import CausalLM
>>> from kerasllm.models.hub import HubBackbone
>>> backbone = HubBackbone(vocab_size=40, hidden_dim=8, num_layers=1, causal=True, hub="GPT2Backbone",
...                        num_heads=2)
>>> tuple(CausalLM(backbone)(np.array([[5, 6, 7, 0]])).shape)
(1, 4, 40)
"""

import dataclasses
from typing import Optional

import keras
import keras_hub
import numpy as np
from keras import ops

from kerasllm.checks import did_you_mean, require
from kerasllm.errors import ConfigError, UnknownNameError
from kerasllm.models.backbone import Backbone, _is_positive_int
from kerasllm.models.plugins import ARCH_PREFIXES, backbone_class
from kerasllm.registry import Registry
from kerasllm.tokenizers.hub import hub_id_order, load_hub_preset, reserved_hub_ids


@dataclasses.dataclass(frozen=True)
class HubFamily:
    """How kerasllm calls one keras-hub backbone class: whether it is causal, whether it also reads
    `segment_ids` (all 0: one segment), the key of its sequence features when it returns a dict, and the
    layers that only feed its other outputs (frozen: no gradient reaches them, and they are not counted)."""

    causal: bool
    segment_ids: bool = False
    output: Optional[str] = None
    unused_layers: tuple = ()


#: keras-hub backbone class name -> `HubFamily`. Each takes `(vocabulary_size, num_layers, num_heads,
#: hidden_dim, intermediate_dim, dropout, max_sequence_length)` and reads `token_ids` + `padding_mask`.
HUB_FAMILIES = Registry("keras-hub backbone")
HUB_FAMILIES.register("BertBackbone")(HubFamily(causal=False, segment_ids=True, output="sequence_output",
                                                            unused_layers=("pooled_dense",)))
HUB_FAMILIES.register("DistilBertBackbone")(HubFamily(causal=False))
HUB_FAMILIES.register("RobertaBackbone")(HubFamily(causal=False))
HUB_FAMILIES.register("XLMRobertaBackbone")(HubFamily(causal=False))
HUB_FAMILIES.register("GPT2Backbone")(HubFamily(causal=True))


def family_of(hub_backbone):
    """The `HubFamily` of a keras-hub backbone (of its class or the nearest registered base class)."""
    for klass in type(hub_backbone).__mro__:
        if klass.__name__ in HUB_FAMILIES.names():
            return HUB_FAMILIES.get(klass.__name__)
    raise ConfigError(
        f"kerasllm cannot run a keras-hub {type(hub_backbone).__name__} (it needs token ids + padding mask in, "
        f"sequence features out). Use one of: {', '.join(HUB_FAMILIES.names())}."
    )


class HubEmbedding:
    """What heads and FLOP counts read of a backbone's `embedding`: the keras-hub token embedding (a
    `ReversibleEmbedding`) and the lookup tables' weights (token, position, segment)."""

    def __init__(self, hub_backbone):
        self.token_embedding = hub_backbone.token_embedding
        tables = (keras.layers.Embedding, keras_hub.layers.PositionEmbedding,
                  keras_hub.layers.TokenAndPositionEmbedding)
        self.trainable_weights = [w for layer in hub_backbone.layers if isinstance(layer, tables)
                                  for w in layer.trainable_weights]


@keras.saving.register_keras_serializable(package="kerasllm")
class HubBackbone(Backbone):
    """A keras-hub backbone (token ids + padding mask in) as a kerasllm backbone; `hub:<ClassName>`.

    Without `hub_backbone`, builds the keras-hub class `hub` with random weights at these sizes. `call` is
    the keras-hub backbone's (its sequence features, zero at padding); the front end `TextEmbedding` and
    `encode` of other backbones are not used.

    Args:
        vocab_size, hidden_dim, num_layers, dropout, max_length: as for every `Backbone` (`max_length` is the
            keras-hub `max_sequence_length`). `embedding_dim` must stay None.
        causal: bool. Must be False for a bidirectional class (BERT, ...); a causal one (GPT-2) may serve a
            classifier too.
        position: None or "learned" (keras-hub's learned positions).
        hub: str. A `HUB_FAMILIES` class name. Defaults to `"BertBackbone"`.
        num_heads: int. Attention heads. Defaults to `4`.
        intermediate_dim: int or None. Feed-forward width. Defaults to `4 * hidden_dim`.
        hub_backbone: a built keras-hub backbone (or its serialized config) to wrap instead.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`).
    """

    default_position = "learned"
    supports_rotary = False

    def __init__(self, vocab_size, hidden_dim, num_layers, dropout=0.0, causal=False, position=None,
                 max_length=512, hub="BertBackbone", num_heads=4, intermediate_dim=None, hub_backbone=None,
                 embedding_dim=None, **kwargs):
        keras.layers.Layer.__init__(self, **kwargs)  # not Backbone's: the keras-hub model has its own embedding
        kind = type(self).__name__
        require(embedding_dim is None, f"{kind} has the keras-hub model's own token embedding, so embedding_dim "
                "(and word vectors, --embeddings) do not apply. Remove them.")
        require(position in (None, "learned"), f"{kind} has keras-hub's learned positions, got position="
                f"{position!r}. Leave position unset (or 'learned').")
        if isinstance(hub_backbone, dict):
            hub_backbone = keras.saving.deserialize_keras_object(hub_backbone)
        if hub_backbone is None:
            hub_backbone = self._make(hub, vocab_size, hidden_dim, num_layers, dropout, max_length, num_heads,
                                      intermediate_dim)
        self.family = family_of(hub_backbone)
        require(not causal or self.family.causal,
                f"{type(hub_backbone).__name__} reads the whole sequence (not causal), so it cannot be a language "
                "model's backbone. Use a causal keras-hub backbone for lm tasks: hub:GPT2Backbone or a GPT-2 preset.")
        require(hub_backbone.vocabulary_size == vocab_size,
                f"The keras-hub {type(hub_backbone).__name__} has {hub_backbone.vocabulary_size} token ids but the "
                f"run's tokenizer has {vocab_size}. Use the preset's own tokenizer (kerasllm does for hub:<preset>).")
        require(max_length <= hub_backbone.max_sequence_length,
                f"max_length={max_length} is longer than the {hub_backbone.max_sequence_length} positions of this "
                f"keras-hub {type(hub_backbone).__name__}. Use --max-length {hub_backbone.max_sequence_length} or less.")
        for name in self.family.unused_layers:
            hub_backbone.get_layer(name).trainable = False
        self.hub_backbone = hub_backbone
        self.hub = type(hub_backbone).__name__
        self.num_heads, self.intermediate_dim = hub_backbone.num_heads, hub_backbone.intermediate_dim
        self.vocab_size, self.hidden_dim = hub_backbone.vocabulary_size, hub_backbone.hidden_dim
        self.num_layers, self.dropout = hub_backbone.num_layers, hub_backbone.dropout
        self.causal, self.position = causal, "learned"
        self.max_length = hub_backbone.max_sequence_length

    def _make(self, hub, vocab_size, hidden_dim, num_layers, dropout, max_length, num_heads, intermediate_dim):
        """The keras-hub class `hub` with random weights at these sizes."""
        HUB_FAMILIES.get(hub)
        for arg, value in (("vocab_size", vocab_size), ("hidden_dim", hidden_dim), ("num_layers", num_layers),
                           ("max_length", max_length), ("num_heads", num_heads)):
            require(_is_positive_int(value), f"{hub} {arg} must be a positive integer, got {value!r}. "
                    f"Pass e.g. {arg}=2 or more.")
        require(hidden_dim % num_heads == 0, f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}. "
                "Pick a hidden_dim that is a multiple of num_heads (arch_options.num_heads).")
        require(intermediate_dim is None or _is_positive_int(intermediate_dim),
                f"intermediate_dim must be a positive integer or None, got {intermediate_dim!r}.")
        require(isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0,
                f"{hub} dropout must be in [0, 1), got {dropout!r}. Use e.g. dropout=0.1.")
        return getattr(keras_hub.models, hub)(
            vocabulary_size=vocab_size, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim or 4 * hidden_dim, dropout=dropout, max_sequence_length=max_length,
            dtype=self.dtype_policy.name,
        )

    @property
    def embedding(self):
        """The keras-hub token embedding and lookup weights, where heads look for them (`HubEmbedding`)."""
        return HubEmbedding(self.hub_backbone)

    def build(self, token_ids_shape):
        pass  # the keras-hub backbone is a functional model: built when constructed

    def call(self, token_ids, padding_mask=None, training=None):
        token_ids = ops.cast(token_ids, "int32")
        if padding_mask is None:
            padding_mask = ops.not_equal(token_ids, 0)
        mask = ops.cast(padding_mask, "int32")  # (B, T)
        inputs = {"token_ids": token_ids, "padding_mask": mask}
        if self.family.segment_ids:
            inputs["segment_ids"] = ops.zeros_like(token_ids)
        features = self.hub_backbone(inputs, training=training)
        if self.family.output is not None:
            features = features[self.family.output]  # (B, T, C)
        return features * ops.cast(mask, features.dtype)[:, :, None]

    def attention_flops_per_token(self, context):
        """2 x num_layers x context x hidden_dim, as for `TransformerBackbone` (Kaplan et al., 2020)."""
        return 2 * self.num_layers * context * self.hidden_dim

    # ------------------------------------------------------------------ step with state: full recomputation
    def initial_encode_state(self, batch_size, max_length):
        """The token ids read so far, `(batch, max_length)`: each step reruns the backbone over them."""
        return ops.zeros((batch_size, max_length), "int32")

    def step(self, token_ids, state):
        """Writes the new token at `state["index"]`, reruns the keras-hub backbone over the tokens so far and
        returns the features of the new one (exact, at a cost growing with the length)."""
        index, ids = state["index"], state["layers"]
        positions = ops.arange(ops.shape(ids)[1])[None, :]  # (1, S)
        ids = ops.where(ops.equal(positions, index[:, None]), ops.cast(token_ids, "int32")[:, None], ids)
        features = self(ids, padding_mask=ops.less_equal(positions, index[:, None]))  # (B, S, C)
        current = ops.one_hot(index, ops.shape(ids)[1], dtype=features.dtype)[:, :, None]  # (B, S, 1)
        return ops.sum(features * current, axis=1), {"index": index + 1, "layers": ids}

    def prefill(self, token_ids, state, length=None):
        """Writes the first `length` columns of `token_ids` after each row's tokens, in one go (nothing to run:
        the next `step` reads them)."""
        length = ops.shape(token_ids)[1] if length is None else length
        index, ids = state["index"], state["layers"]
        source = ops.arange(ops.shape(ids)[1])[None, :] - index[:, None]  # (B, S) column of token_ids
        inside = ops.logical_and(ops.greater_equal(source, 0), ops.less(source, length))
        taken = ops.take_along_axis(ops.cast(token_ids, "int32"),
                                    ops.clip(source, 0, ops.shape(token_ids)[1] - 1), axis=1)
        return {"index": index + length, "layers": ops.where(inside, taken, ids)}

    def get_config(self):
        config = keras.layers.Layer.get_config(self)  # Backbone's adds settings of its TextEmbedding
        config.update({"vocab_size": self.vocab_size, "hidden_dim": self.hidden_dim, "num_layers": self.num_layers,
                       "dropout": self.dropout, "causal": self.causal, "position": self.position,
                       "max_length": self.max_length})
        config.update({"hub": self.hub, "num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
                       "hub_backbone": keras.saving.serialize_keras_object(self.hub_backbone)})
        return config


def reordered(hub_backbone, order):
    """`hub_backbone` with token embedding row `k` = keras-hub row `order[k]`; rows past the table (reserved
    tokens the vocabulary lacks) start as the mean row. A longer table means a rebuilt backbone, other weights
    copied."""
    table = ops.convert_to_numpy(hub_backbone.token_embedding.embeddings)
    if list(order) == list(range(len(table))):
        return hub_backbone
    extra = np.repeat(table.mean(axis=0, keepdims=True), len(order) - len(table), axis=0)
    table = np.concatenate([table, extra])[np.asarray(order)]
    if len(order) != hub_backbone.vocabulary_size:
        config = {**hub_backbone.get_config(), "vocabulary_size": len(order)}
        resized = type(hub_backbone).from_config(config)
        for target, source in zip(resized.weights, hub_backbone.weights):
            if target is not resized.token_embedding.embeddings:
                target.assign(source)
        hub_backbone = resized
    hub_backbone.token_embedding.embeddings.assign(table)
    return hub_backbone


@keras.saving.register_keras_serializable(package="kerasllm")
class HubPresetBackbone(HubBackbone):
    """A pretrained keras-hub preset as a kerasllm backbone; `hub:<preset>` (its own tokenizer, its own sizes).

    Loads `keras_hub.models.Backbone.from_preset(preset)` and reorders its token embedding rows to the ids of
    `HubTokenizer(preset=preset)` (kerasllm's reserved ids 0..3 first). The run's hidden_dim, num_layers and
    dropout do not apply. A saved model keeps the whole backbone, so loading it never downloads.

    Args:
        preset: str. A keras-hub preset name (`keras_hub.models.Backbone.presets`), handle or folder.
        hub_backbone: a loaded, reordered keras-hub backbone (or its config) instead of `preset`.
        Others: as for `HubBackbone`.

    Raises:
        ConfigError: the preset cannot be loaded (no network, unknown name), or it is of another kind.
    """

    #: Fine-tuning a pretrained Transformer: AdamW at 5e-5 with 10% warm-up (the keras.io getting-started
    #: guide fine-tunes bert_tiny_en_uncased with Adam at 5e-5; BERT's paper warms up over 10% of the steps).
    recipe = {kind: {"learning_rate": 5e-5, "warmup_ratio": 0.1} for kind in ("classification", "lm", "seq2seq")}

    def __init__(self, vocab_size, hidden_dim, num_layers, dropout=0.0, causal=False, position=None,
                 max_length=512, preset=None, hub_backbone=None, **kwargs):
        fixed = sorted(set(kwargs) & {"hub", "num_heads", "intermediate_dim"})
        require(not fixed, f"A keras-hub preset's sizes are fixed, so arch_options {', '.join(fixed)} do not "
                "apply. Remove them, or use hub:<ClassName> to build one at your sizes.")
        if hub_backbone is None:
            require(isinstance(preset, str) and preset, "HubPresetBackbone needs preset='bert_tiny_en_uncased' "
                    "(a keras-hub preset name or folder).")
            loaded = load_hub_preset(preset, "backbone", lambda name: keras_hub.models.Backbone.from_preset(
                name, dtype=kwargs.get("dtype")))
            family_of(loaded)
            layer = load_hub_preset(preset, "tokenizer", keras_hub.tokenizers.Tokenizer.from_preset)
            hub_backbone = reordered(loaded, hub_id_order(loaded.vocabulary_size, reserved_hub_ids(layer)))
        self.preset = preset
        super().__init__(vocab_size, hidden_dim, num_layers, dropout=dropout, causal=causal, position=position,
                         max_length=max_length, hub_backbone=hub_backbone, **kwargs)

    def get_config(self):
        config = super().get_config()
        for key in ("hub", "num_heads", "intermediate_dim"):
            config.pop(key)
        config["preset"] = self.preset
        return config


def resolve_hub_arch(name):
    """`(backbone class, arch_options)` of `hub:<name>`: a `HUB_FAMILIES` class name (capitalized) builds it
    at the run's sizes, anything else is a preset (name, handle or folder); nothing is loaded yet."""
    if name[:1].isupper():
        if name not in HUB_FAMILIES.names():
            raise UnknownNameError(f"Unknown keras-hub backbone 'hub:{name}'.{did_you_mean(name, HUB_FAMILIES.names())} "
                                   f"Known classes: {', '.join(HUB_FAMILIES.names())}; or a preset name such as "
                                   "hub:bert_tiny_en_uncased.")
        return HubBackbone, {"hub": name}
    return HubPresetBackbone, {"preset": name}


ARCH_PREFIXES.register("hub")(resolve_hub_arch)


def hub_preset(arch):
    """The preset `arch` names (`hub:<preset>`), or None for any other architecture."""
    prefix, _, rest = arch.partition(":") if isinstance(arch, str) else ("", "", "")
    return rest if prefix == "hub" and rest and resolve_hub_arch(rest)[0] is HubPresetBackbone else None


def check_prefixed_arch(arch):
    """Raises unless `hub:<name>` can run: a known class name, or a preset whose tokenizer loads (for a bench,
    before any run starts; the download is cached for the runs)."""
    backbone_class(arch)
    preset = hub_preset(arch)
    if preset is not None:
        load_hub_preset(preset, "tokenizer", keras_hub.tokenizers.Tokenizer.from_preset)


__all__ = ["HUB_FAMILIES", "HubBackbone", "HubEmbedding", "HubFamily", "HubPresetBackbone", "check_prefixed_arch", "family_of",
           "hub_preset", "reordered", "resolve_hub_arch"]
