"""Turns a task split plus a fitted tokenizer into padded arrays and tf.data batches.

Every architecture sees exactly the same batches: token ids right-padded with id 0, a boolean padding
mask (True on real tokens), and targets:

- classification: one label per sequence;
- lm: the split's documents joined into one stream (eos after each document), cut into windows of
  ``max_length + 1`` tokens; inputs are ``window[:-1]``, targets ``window[1:]``, and a per-token
  weight is 0 on padding, so losses and perplexity are token-weighted;
- seq2seq as a prefix LM: ``source <bos> target <eos>`` read causally; only target tokens (and the final
  eos) carry weight;
- seq2seq as an encoder-decoder: ``source_ids`` (the source, for the encoder), inputs ``<bos> target``,
  targets ``target <eos>``; each side keeps at most ``max_length`` tokens.

Example:
>>> import kerasllm as kl
>>> task = kl.data.get_task("negation_sentiment")
>>> tok = kl.tokenizers.get_tokenizer("word", split="whitespace").fit(task.train_texts())
>>> arrays = encode_split(task, "validation", tok, max_length=32)
>>> arrays.token_ids.shape[1]
32
"""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from kerasllm.data.base import Split
from kerasllm.errors import ConfigError, DataError
from kerasllm.tokenizers.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID


@dataclasses.dataclass
class EncodedSplit:
    """Padded arrays for one split.

    Attributes:
        token_ids: int32 (num_examples, max_length), right-padded with 0.
        targets: int32 (num_examples,) labels or (num_examples, max_length) next tokens.
        weights: float32 per-token weights for lm / seq2seq, None for classification.
        num_characters: characters of text behind the weighted targets (lm only; for bits/char).
        target_documents: int32 like `targets`, the index of the text each target token belongs
            to (its own tokens and the eos after them), -1 on padding (lm only; for scoring).
        source_ids: int32 (num_examples, max_length), the encoder's input (encoder-decoder seq2seq only).
    """

    token_ids: np.ndarray
    targets: np.ndarray
    weights: Optional[np.ndarray] = None
    num_characters: int = 0
    target_documents: Optional[np.ndarray] = None
    source_ids: Optional[np.ndarray] = None

    @property
    def padding_mask(self):
        return self.token_ids != PAD_ID

    @property
    def num_examples(self):
        return len(self.token_ids)

    @property
    def num_input_tokens(self):
        """Real (non-pad) input tokens, the encoder's source included: what tokens/s counts."""
        sources = 0 if self.source_ids is None else int((self.source_ids != PAD_ID).sum())
        return int(self.padding_mask.sum()) + sources

    @property
    def num_target_tokens(self):
        return int(self.weights.sum()) if self.weights is not None else self.num_examples


def _pad(sequences, length):
    out = np.zeros((len(sequences), length), dtype=np.int32)
    for row, seq in enumerate(sequences):
        seq = seq[:length]
        out[row, : len(seq)] = seq
    return out


def encode_split(task, split, tokenizer, max_length, seq2seq_form=None, source_tokenizer=None):
    """Encodes one split of `task` into an `EncodedSplit` of fixed width `max_length`.

    `seq2seq_form` ("encoder_decoder" or "prefix_lm"; None: the task's `info.seq2seq_form`) says how a seq2seq
    split is laid out; `source_tokenizer` encodes an encoder-decoder's sources when the run keeps separate
    vocabularies (`tokenizer` then encodes the targets).
    """
    if max_length < 1:
        raise ConfigError(f"max_length must be at least 1, got {max_length}. Pass --max-length 64, say.")
    data = task.split(split)
    if len(data) == 0:
        raise DataError(f"The {split} split of task '{task.info.name}' is empty. Check the data files.")
    layout = task.info.kind
    if layout == "seq2seq":
        layout = seq2seq_form or task.info.seq2seq_form
    if source_tokenizer is not None:
        if layout != "encoder_decoder":
            raise ConfigError("A separate source tokenizer is for an encoder-decoder's sources only.")
        return _encode_encoder_decoder(data, tokenizer, max_length, source_tokenizer)
    return ENCODERS[layout](data, tokenizer, max_length)


def encode_lm_texts(texts, tokenizer, max_length):
    """Encodes documents exactly as an lm task's split is encoded (for scoring any text)."""
    if max_length < 1:
        raise ConfigError(f"max_length must be at least 1, got {max_length}.")
    if not texts:
        raise DataError("There is no text to encode: give at least one non-blank line.")
    return _encode_lm(Split(texts=list(texts)), tokenizer, max_length)


def _encode_classification(data, tokenizer, max_length):
    # An input that encodes to nothing still gets one (unknown) token, so pooling has something to read.
    ids = [seq or [UNK_ID] for seq in tokenizer.encode_batch(data.texts)]
    return EncodedSplit(_pad(ids, max_length), np.asarray(data.labels, dtype=np.int32))


def _encode_lm(data, tokenizer, max_length):
    pieces = []
    for seq in tokenizer.encode_batch(data.texts):
        pieces.append(np.asarray(seq, dtype=np.int32))
        pieces.append(np.asarray([EOS_ID], dtype=np.int32))
    stream = np.concatenate(pieces)
    lengths = np.array([len(piece) for piece in pieces[::2]]) + 1  # each text and its eos
    documents = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    if len(stream) < 2:
        raise DataError("The language-modelling text is too short to make one training window.")
    # Windows of max_length + 1 tokens overlapping by one, so every token after the first is a target once.
    starts = np.arange(0, len(stream) - 1, max_length)
    windows = np.zeros((len(starts), max_length + 1), dtype=np.int32)
    window_documents = np.full((len(starts), max_length + 1), -1, dtype=np.int32)
    for row, start in enumerate(starts):
        chunk = stream[start : start + max_length + 1]
        windows[row, : len(chunk)] = chunk
        window_documents[row, : len(chunk)] = documents[start : start + max_length + 1]
    token_ids, targets = windows[:, :-1], windows[:, 1:]
    weights = (targets != PAD_ID).astype(np.float32)
    # Text behind the targets: every character plus one newline-equivalent per document end.
    num_characters = sum(len(text) + 1 for text in data.texts)
    return EncodedSplit(token_ids, targets, weights, num_characters, window_documents[:, 1:])


def _encode_seq2seq(data, tokenizer, max_length):
    sources = tokenizer.encode_batch(data.texts)
    targets = tokenizer.encode_batch(data.targets)
    sequences, weight_rows = [], []
    for source, target in zip(sources, targets):
        sequence = source + [BOS_ID] + target + [EOS_ID]
        weight = [0.0] * len(source) + [1.0] * (len(target) + 1)  # weight of predicting sequence[i + 1]
        sequences.append(sequence[: max_length + 1])
        weight_rows.append(weight[: max_length])
    windows = _pad(sequences, max_length + 1)
    weights = np.zeros((len(sequences), max_length), dtype=np.float32)
    for row, weight in enumerate(weight_rows):
        weights[row, : len(weight)] = weight
    token_ids, shifted = windows[:, :-1], windows[:, 1:]
    weights *= shifted != PAD_ID
    if not weights.any():
        raise DataError(
            f"max_length={max_length} leaves no room for any target token. Raise --max-length."
        )
    return EncodedSplit(token_ids, shifted, weights)


def _encode_encoder_decoder(data, tokenizer, max_length, source_tokenizer=None):
    sources = [seq[:max_length] or [UNK_ID] for seq in (source_tokenizer or tokenizer).encode_batch(data.texts)]
    targets = tokenizer.encode_batch(data.targets)
    windows = _pad([[BOS_ID] + target + [EOS_ID] for target in targets], max_length + 1)
    token_ids, shifted = windows[:, :-1], windows[:, 1:]
    token_ids = np.where(shifted != PAD_ID, token_ids, PAD_ID)  # the final eos is predicted, never read
    return EncodedSplit(token_ids, shifted, (shifted != PAD_ID).astype(np.float32), source_ids=_pad(sources, max_length))


#: Layout -> encoder: a task kind, or for seq2seq its form.
ENCODERS = {"classification": _encode_classification, "lm": _encode_lm, "prefix_lm": _encode_seq2seq,
            "encoder_decoder": _encode_encoder_decoder}


def _element(arrays, index):
    token_ids = tf.gather(arrays["token_ids"], index)
    features = {"token_ids": token_ids, "padding_mask": tf.not_equal(token_ids, PAD_ID)}
    if "source_ids" in arrays:
        features["source_ids"] = tf.gather(arrays["source_ids"], index)
    targets = tf.gather(arrays["targets"], index)
    if "weights" in arrays:
        return features, targets, tf.gather(arrays["weights"], index)
    return features, targets


def _tensors(encoded):
    arrays = {"token_ids": tf.constant(encoded.token_ids), "targets": tf.constant(encoded.targets)}
    if encoded.weights is not None:
        arrays["weights"] = tf.constant(encoded.weights)
    if encoded.source_ids is not None:
        arrays["source_ids"] = tf.constant(encoded.source_ids)
    return arrays


def training_dataset(encoded, batch_size, seed, skip_batches=0):
    """An endless stream of shuffled batches, the same for a given seed.

    Pass `e` of the data is a permutation seeded by (seed, e), so after `skip_batches` batches a
    resumed run sees exactly the batches an uninterrupted run would have seen.
    """
    n = encoded.num_examples
    arrays = _tensors(encoded)
    passes = tf.data.Dataset.range(2**62).map(
        lambda p: tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), p])
        )
    )
    indices = passes.unbatch().skip(skip_batches * batch_size)
    dataset = indices.batch(batch_size, drop_remainder=True)
    return dataset.map(lambda i: _element(arrays, i)).prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(encoded, batch_size):
    """Every example once, in order, in batches of `batch_size` (the last may be smaller)."""
    arrays = _tensors(encoded)
    dataset = tf.data.Dataset.range(encoded.num_examples).batch(batch_size)
    return dataset.map(lambda i: _element(arrays, i)).prefetch(tf.data.AUTOTUNE)
