"""A keras-hub preset's own tokenizer (WordPiece or byte-level BPE) in kerasllm's id conventions.

kerasllm reserves ids 0..3 for pad, unk, bos and eos; a keras-hub vocabulary has its own special tokens where
its authors put them (BERT: `[PAD]` 0, `[UNK]` 100, `[CLS]` 101, `[SEP]` 102; RoBERTa: `<s>` 0, `<pad>` 1,
`</s>` 2, `<unk>` 3; GPT-2: only `<|endoftext|>` 50256). `hub_id_order` swaps them into place: kerasllm id `k`
stands for keras-hub id `order[k]`, a permutation that moves at most eight ids; a reserved token the
vocabulary lacks (GPT-2 has no pad, unk or separate bos) gets a new id after the vocabulary's last. A
`kerasllm.models.hub.HubPresetBackbone` reorders the preset's embedding rows the same way, so the
pretrained weights read every token they were trained on.

Encoding follows the model's own preprocessor: a vocabulary with distinct start and end tokens (BERT, RoBERTa)
frames each text as `start text end` ([CLS] ... [SEP]), keeping the end token when the text is cut to
`sequence_length`; one with a single `<|endoftext|>` (GPT-2) adds nothing (the lm pipeline puts eos, which is
`<|endoftext|>`, between documents). tokenizer.json keeps the keras-hub tokenizer's config and its vocabulary
(and merges), so a run's tokenizer loads offline.

Example:
>>> import keras_hub
>>> from kerasllm.tokenizers.hub import HubTokenizer
>>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
>>> tok = HubTokenizer(keras_hub.models.BertTokenizer(vocabulary=vocab))
>>> tok.encode("the cat sat"), tok.decode(tok.encode("the cat sat"))
([2, 5, 6, 7, 3], 'the cat sat')
"""

import keras
import keras_hub
import numpy as np

from kerasllm.errors import ConfigError, DataError
from kerasllm.tokenizers.base import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, Tokenizer, register_tokenizer


def hub_id_order(vocabulary_size, reserved):
    """`order` with kerasllm id `k` standing for keras-hub id `order[k]`: `reserved` (the keras-hub ids of pad,
    unk, bos, eos; None for one the vocabulary lacks, which gets a new id from `vocabulary_size` on) moved to
    0..3 by swaps. `len(order)` is the kerasllm vocabulary size.

    Example:
    >>> hub_id_order(6, [1, None, 0, 2])  # RoBERTa-like: <s> 0, <pad> 1, </s> 2; no unk
    [1, 6, 0, 2, 4, 5, 3]
    """
    targets, extra = [], vocabulary_size
    for hub_id in reserved:
        targets.append(extra if hub_id is None else int(hub_id))
        extra += hub_id is None
    order = list(range(extra))
    position = list(range(extra))  # keras-hub id -> the kerasllm id that stands for it
    for k, target in enumerate(targets):
        j = position[target]
        order[k], order[j] = order[j], order[k]
        position[order[k]], position[order[j]] = k, j
    return order


def _special_id(layer, attribute):
    token = getattr(layer, attribute, None)
    return None if token is None else layer.token_to_id(token)


def reserved_hub_ids(layer):
    """The keras-hub ids of kerasllm's pad, unk, bos and eos in the tokenizer `layer` (None where it has none)."""
    start, end = _special_id(layer, "start_token"), _special_id(layer, "end_token")
    return [
        _special_id(layer, "pad_token"),
        _special_id(layer, "oov_token"),  # WordPiece's [UNK]; byte-level BPE never needs one
        None if start == end else start,  # GPT-2's one <|endoftext|> ends documents: eos, not bos
        end,
    ]


#: keras-hub tokenizer base class -> (what tokenizer.json stores, how it is put back).
_STATE = {
    keras_hub.tokenizers.WordPieceTokenizer: (
        lambda layer: {"vocabulary": layer.get_vocabulary()},
        lambda layer, state: layer.set_vocabulary(state["vocabulary"])),
    keras_hub.tokenizers.BytePairTokenizer: (
        lambda layer: {"vocabulary": dict(layer.vocabulary), "merges": list(layer.merges)},
        lambda layer, state: layer.set_vocabulary_and_merges(state["vocabulary"], state["merges"])),
}


def _state_functions(layer):
    for base, functions in _STATE.items():
        if isinstance(layer, base):
            return functions
    raise ConfigError(
        f"kerasllm can run keras-hub presets with a WordPiece or byte-level BPE tokenizer, not a "
        f"{type(layer).__name__}. Use a BERT, DistilBERT, RoBERTa or GPT-2 preset."
    )


def load_hub_preset(preset, what, loader):
    """`loader(preset)`, with any failure (no network, unknown name, not a preset folder) as one `ConfigError`."""
    try:
        return loader(preset)
    except Exception as error:  # keras-hub raises ValueError, requests' ConnectionError, OSError, ...
        text = str(error).strip()
        if "Unknown preset identifier" in text:
            reason = "not a known preset name, handle or preset folder"
        else:
            first = text.splitlines()[0][:120] if text else ""
            reason = f"{type(error).__name__}{': ' + first if first else ''}"
        raise ConfigError(
            f"Cannot load the keras-hub {what} of preset '{preset}' ({reason}). Check the name "
            "(keras_hub.models.Backbone.presets) and your connection, or use hub:<ClassName> (e.g. "
            "hub:BertBackbone) to train one from scratch offline."
        ) from None


@register_tokenizer("hub")
class HubTokenizer(Tokenizer):
    """A keras-hub tokenizer (a preset's, or one given) with kerasllm's reserved ids; nothing to fit.

    Args:
        layer: a `keras_hub.tokenizers.WordPieceTokenizer` or `BytePairTokenizer` (a preset's `BertTokenizer`,
            `GPT2Tokenizer`, ...), or its state as tokenizer.json stores it. Defaults to the tokenizer of `preset`.
        preset: str or None. The keras-hub preset (name, handle or folder) to load the tokenizer from when no
            `layer` is given; recorded either way.
        sequence_length: int or None. Framed texts are cut so that they fit, the end token kept, as the
            model's own preprocessor does. None (and an unframed tokenizer): no cut here.

    Raises:
        ConfigError: the preset cannot be loaded, or its tokenizer is of another kind.
    """

    def __init__(self, layer=None, preset=None, sequence_length=None):
        if sequence_length is not None and not (isinstance(sequence_length, int) and sequence_length >= 3):
            raise ConfigError(f"sequence_length must be an integer >= 3 or None, got {sequence_length!r}.")
        if layer is None:
            if preset is None:
                raise ConfigError("HubTokenizer needs a keras-hub tokenizer or a preset: pass preset='bert_tiny_en_uncased'.")
            layer = load_hub_preset(preset, "tokenizer", keras_hub.tokenizers.Tokenizer.from_preset)
        elif isinstance(layer, dict):
            layer = self._layer_from_state(layer)
        self.layer, self.preset, self.sequence_length = layer, preset, sequence_length
        self._state = _state_functions(layer)[0]
        order = hub_id_order(layer.vocabulary_size(), reserved_hub_ids(layer))
        self.order = np.asarray(order, "int64")  # kerasllm id -> keras-hub id (>= the vocabulary: a new id)
        self._from_hub = np.argsort(self.order)[: layer.vocabulary_size()]  # keras-hub id -> kerasllm id
        reserved = reserved_hub_ids(layer)
        self.framed = reserved[2] is not None and reserved[3] is not None

    @staticmethod
    def _layer_from_state(state):
        try:
            layer = keras.saving.deserialize_keras_object(state["config"])
            _state_functions(layer)[1](layer, state)
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, ConfigError):
                raise
            raise DataError(f"The keras-hub tokenizer state is unreadable ({type(error).__name__}: {error}). "
                            "Restore the run's own tokenizer.json.") from None
        return layer

    def _fit(self, texts):
        """Nothing to learn: the vocabulary is the preset's."""

    @property
    def vocabulary_size(self):
        return len(self.order)

    def encode(self, text):
        return self.encode_batch([text])[0]

    def encode_batch(self, texts):
        texts = list(texts)
        if not texts:
            return []
        rows = self.layer.tokenize(texts)
        rows = rows.to_list() if hasattr(rows, "to_list") else [list(np.asarray(r)) for r in rows]
        # Only a framed text is cut here (so that its end token stays); an lm stream is windowed by the pipeline.
        room = self.sequence_length - 2 if self.framed and self.sequence_length is not None else None
        encoded = []
        for row in rows:
            ids = [int(i) for i in self._from_hub[np.asarray(row[:room], "int64")]]
            encoded.append([BOS_ID, *ids, EOS_ID] if self.framed else ids)
        return encoded

    def decode(self, ids):
        ids = np.asarray(ids, "int64").reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.order)):
            raise ConfigError(f"Cannot decode id {int(ids.max() if ids.max() >= len(self.order) else ids.min())}: "
                              f"this tokenizer has ids 0..{len(self.order) - 1}.")
        kept = ids[~np.isin(ids, (PAD_ID, BOS_ID, EOS_ID))]
        hub_ids = self.order[kept]
        hub_ids = hub_ids[hub_ids < self.layer.vocabulary_size()]  # a new id (no such token) has no text
        text = self.layer.detokenize(hub_ids.tolist()) if hub_ids.size else ""
        return text if isinstance(text, str) else keras.ops.convert_to_numpy(text).item().decode("utf-8")

    def id_to_token(self, token_id):
        """The token kerasllm id `token_id` stands for (the reserved names for new ids)."""
        hub_id = int(self.order[token_id])
        return self.layer.id_to_token(hub_id) if hub_id < self.layer.vocabulary_size() else SPECIAL_TOKENS[token_id]

    def get_config(self):
        return {
            "layer": {"config": keras.saving.serialize_keras_object(self.layer), **self._state(self.layer)},
            "preset": self.preset,
            "sequence_length": self.sequence_length,
        }


__all__ = ["HubTokenizer", "hub_id_order", "load_hub_preset", "reserved_hub_ids"]
