"""Turns a task split plus a fitted tokenizer into padded arrays and batches (tf.data, or numpy off TensorFlow).

Every architecture sees exactly the same batches: token ids right-padded with id 0, a boolean padding
mask (True on real tokens), and targets:

- classification: one label per sequence;
- lm: the split's documents joined into one stream (eos after each document), cut into windows of
  ``max_length + 1`` tokens; inputs are ``window[:-1]``, targets ``window[1:]``, and a per-token
  weight is 0 on padding, so losses and perplexity are token-weighted;
- seq2seq as a prefix LM: ``source <bos> target <eos>`` read causally; only target tokens (and the final
  eos) carry weight;
- seq2seq as an encoder-decoder: ``source_ids`` (the source, for the encoder), inputs ``<bos> target``,
  targets ``target <eos>``; each side keeps at most ``max_length`` tokens;
- mlm (masked language modelling, BERT's objective): the documents joined as for lm, cut into windows of
  ``max_length`` tokens; targets are the original tokens. Each batch is masked as it is drawn (`mask_tokens`):
  15% of the real tokens are selected, and only they carry weight; of those 80% read ``MASK_ID``, 10% a random
  token and 10% themselves. Training masks are drawn afresh for every batch, seeded by (seed, batch index),
  so a resumed run sees the batches an uninterrupted one would; evaluation masks are fixed (seeded by
  `EVALUATION_MASK_SEED` and the example's index), so validation and test numbers compare across epochs,
  runs and batch sizes.

Example:
>>> import kerasllm as kl
>>> task = kl.data.get_task("negation_sentiment")
>>> tok = kl.tokenizers.get_tokenizer("word", split="whitespace").fit(task.train_texts())
>>> arrays = encode_split(task, "validation", tok, max_length=32)
>>> arrays.token_ids.shape[1]
32
"""

import dataclasses
import math
from typing import Callable, NamedTuple, Optional

import keras
import numpy as np

from kerasllm.data.base import Split
from kerasllm.errors import ConfigError, DataError
from kerasllm.tokenizers.base import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID

#: The input id of a masked token: the bos id. Every tokenizer reserves it, and no mlm input ever holds it
#: (the mlm stream is text and eos; only a seq2seq layout writes bos), so it is free to mean [MASK] without a new
#: reserved id, which would change every saved tokenizer's ids. A classifier fine-tuned from an mlm run reads no bos
#: either, so the row it learns as [MASK] never gets in the way.
MASK_ID = BOS_ID
#: BERT's masking (Devlin et al. 2019, https://arxiv.org/abs/1810.04805, section 3.1): the share of real tokens
#: selected, and of those the shares replaced by `MASK_ID` and by a random token (the rest keep their token).
MASK_RATE, MASK_REPLACE, MASK_RANDOM = 0.15, 0.8, 0.1
#: Evaluation masks do not depend on the run: row i of a split is always masked with seed (this, i).
EVALUATION_MASK_SEED = 0


@dataclasses.dataclass(frozen=True)
class Masking:
    """How an mlm split's batches are masked (see `mask_tokens`): random tokens are drawn from the text ids
    `[4, vocabulary_size)` of the run's tokenizer."""

    vocabulary_size: int
    rate: float = MASK_RATE


def mask_tokens(token_ids, seed, vocabulary_size, rate=MASK_RATE, mask_id=MASK_ID):
    """BERT's masking of a tensor of token ids (any shape): returns `(inputs, weights)`.

    Each real (non-pad) token is selected with probability `rate`; a selected token becomes `mask_id` with
    probability 0.8, a random text token (ids `[4, vocabulary_size)`) with 0.1, and stays itself with 0.1.
    `weights` (float32) is 1 on the selected positions and 0 elsewhere, so the loss and the metrics count
    exactly the tokens the model must restore. Padding is never selected. Pure TensorFlow ops, stateless: the same
    `seed` (two integers) gives the same masks, so it runs inside a `tf.data` map.

    Example:
    >>> import numpy as np
    >>> ids = np.array([[5, 6, 7, 8, 0, 0]] * 1000, dtype="int32")
    >>> inputs, weights = mask_tokens(ids, seed=(1, 2), vocabulary_size=20)
    >>> bool(weights.numpy()[:, 4:].any()), bool((inputs.numpy()[:, 4:] == 0).all())
    (False, True)
    >>> 0.13 < float(weights.numpy()[:, :4].mean()) < 0.17
    True
    """
    import tensorflow as tf

    token_ids = tf.convert_to_tensor(token_ids, tf.int32)
    shape = tf.shape(token_ids)
    select_seed, action_seed, token_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3))
    selected = tf.logical_and(tf.random.stateless_uniform(shape, select_seed) < rate,
                              tf.not_equal(token_ids, PAD_ID))
    action = tf.random.stateless_uniform(shape, action_seed)
    first_text_id = len(SPECIAL_TOKENS)
    random_ids = tf.random.stateless_uniform(shape, token_seed, minval=first_text_id,
                                             maxval=max(int(vocabulary_size), first_text_id + 1), dtype=tf.int32)
    replaced = tf.where(action < MASK_REPLACE, tf.fill(shape, mask_id),
                        tf.where(action < MASK_REPLACE + MASK_RANDOM, random_ids, token_ids))
    return tf.where(selected, replaced, token_ids), tf.cast(selected, tf.float32)


def mask_tokens_numpy(token_ids, seed, vocabulary_size, rate=MASK_RATE, mask_id=MASK_ID):
    """`mask_tokens` in numpy, for the input pipeline of the backends other than TensorFlow: the same rule and
    rates, `(inputs, weights)` as numpy arrays, drawn from `np.random.default_rng(seed)` (`seed`: a tuple of
    non-negative integers), so the same seed gives the same masks (not the same as `mask_tokens`' though).

    Example:
    >>> ids = np.array([[5, 6, 7, 8, 0, 0]] * 1000, dtype="int32")
    >>> inputs, weights = mask_tokens_numpy(ids, seed=(1, 2), vocabulary_size=20)
    >>> bool(weights[:, 4:].any()), bool((inputs[:, 4:] == 0).all())
    (False, True)
    >>> 0.13 < float(weights[:, :4].mean()) < 0.17
    True
    """
    token_ids = np.asarray(token_ids, np.int32)
    rng = np.random.default_rng(seed)
    shape = token_ids.shape
    selected = (rng.random(shape) < rate) & (token_ids != PAD_ID)
    action = rng.random(shape)
    first_text_id = len(SPECIAL_TOKENS)
    random_ids = rng.integers(first_text_id, max(int(vocabulary_size), first_text_id + 1), size=shape,
                              dtype=np.int32)
    replaced = np.where(action < MASK_REPLACE, np.int32(mask_id),
                        np.where(action < MASK_REPLACE + MASK_RANDOM, random_ids, token_ids))
    return np.where(selected, replaced, token_ids).astype(np.int32), selected.astype(np.float32)


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
        masking: how batches are masked (mlm only; `weights` then marks the real tokens masking may select).
    """

    token_ids: np.ndarray
    targets: np.ndarray
    weights: Optional[np.ndarray] = None
    num_characters: int = 0
    target_documents: Optional[np.ndarray] = None
    source_ids: Optional[np.ndarray] = None
    masking: Optional[Masking] = None

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
    def tokens_per_character(self):
        """Weighted target tokens per character of the text behind them, for bits per character (lm only: None
        for the other layouts, which count no characters)."""
        return self.num_target_tokens / self.num_characters if self.num_characters else None

    @property
    def num_target_tokens(self):
        """Tokens the loss counts (for mlm, the real tokens masking chooses from: about 1/0.15 times more)."""
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


def _joined_stream(data, tokenizer):
    """The split's documents as one token stream, eos after each, and the document index of every token."""
    pieces = []
    for seq in tokenizer.encode_batch(data.texts):
        pieces.append(np.asarray(seq, dtype=np.int32))
        pieces.append(np.asarray([EOS_ID], dtype=np.int32))
    stream = np.concatenate(pieces)
    lengths = np.array([len(piece) for piece in pieces[::2]]) + 1  # each text and its eos
    return stream, np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)


def _encode_lm(data, tokenizer, max_length):
    stream, documents = _joined_stream(data, tokenizer)
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


def _encode_mlm(data, tokenizer, max_length):
    stream, _ = _joined_stream(data, tokenizer)
    # Windows of max_length tokens, side by side: every token is an input (and a possible target) once.
    token_ids = _pad([stream[start : start + max_length] for start in range(0, len(stream), max_length)], max_length)
    weights = (token_ids != PAD_ID).astype(np.float32)
    return EncodedSplit(token_ids, token_ids.copy(), weights, masking=Masking(tokenizer.vocabulary_size))


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
ENCODERS = {"classification": _encode_classification, "lm": _encode_lm, "mlm": _encode_mlm,
            "prefix_lm": _encode_seq2seq, "encoder_decoder": _encode_encoder_decoder}


def _element(arrays, index, masking=None, mask_seed=None):
    """The batch (or example) at `index`; an mlm split's is masked with `mask_seed`."""
    import tensorflow as tf

    token_ids = tf.gather(arrays["token_ids"], index)
    features = {"token_ids": token_ids, "padding_mask": tf.not_equal(token_ids, PAD_ID)}
    if "source_ids" in arrays:
        features["source_ids"] = tf.gather(arrays["source_ids"], index)
    targets = tf.gather(arrays["targets"], index)
    if masking is not None:
        features["token_ids"], weights = mask_tokens(token_ids, mask_seed, masking.vocabulary_size, masking.rate)
        return features, targets, weights
    if "weights" in arrays:
        return features, targets, tf.gather(arrays["weights"], index)
    return features, targets


def _tensors(encoded):
    import tensorflow as tf

    arrays = {"token_ids": tf.constant(encoded.token_ids), "targets": tf.constant(encoded.targets)}
    if encoded.weights is not None:
        arrays["weights"] = tf.constant(encoded.weights)
    if encoded.source_ids is not None:
        arrays["source_ids"] = tf.constant(encoded.source_ids)
    return arrays


#: Folded into a training run's seed to give its masks a random stream apart from the shuffles'.
_MASK_STREAM = 1


def training_dataset(encoded, batch_size, seed, skip_batches=0):
    """An endless stream of shuffled batches, the same for a given seed.

    Pass `e` of the data is a permutation seeded by (seed, e), so after `skip_batches` batches a
    resumed run sees exactly the batches an uninterrupted run would have seen. An mlm split's batch `b` is
    masked with a seed drawn from (seed, b) (`mask_tokens`), so its masks follow the same rule.
    A `tf.data.Dataset` on the TensorFlow backend, a `TrainingBatches` (numpy) on the others (`INPUT_PIPELINES`).
    """
    return input_pipeline().training(encoded, batch_size, seed, skip_batches)


def evaluation_dataset(encoded, batch_size):
    """Every example once, in order, in batches of `batch_size` (the last may be smaller).

    An mlm split's example `i` is masked with the seed (`EVALUATION_MASK_SEED`, i) whatever the run, its
    seed or its batch size. A `tf.data.Dataset` on the TensorFlow backend, an `EvaluationBatches` (numpy) on
    the others (`INPUT_PIPELINES`).
    """
    return input_pipeline().evaluation(encoded, batch_size)


def _tf_training_dataset(encoded, batch_size, seed, skip_batches=0):
    import tensorflow as tf

    n = encoded.num_examples
    arrays = _tensors(encoded)
    passes = tf.data.Dataset.range(2**62).map(
        lambda p: tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), p])
        )
    )
    indices = passes.unbatch().skip(skip_batches * batch_size)
    dataset = indices.batch(batch_size, drop_remainder=True)
    if encoded.masking is None:
        return dataset.map(lambda i: _element(arrays, i)).prefetch(tf.data.AUTOTUNE)
    # A stream of its own (fold_in of a constant), so masks never reuse the shuffle's random numbers.
    run_seed = tf.random.experimental.stateless_fold_in(tf.constant([seed, 0], tf.int64), _MASK_STREAM)
    return dataset.enumerate(start=skip_batches).map(
        lambda b, i: _element(arrays, i, encoded.masking, tf.random.experimental.stateless_fold_in(run_seed, b))
    ).prefetch(tf.data.AUTOTUNE)


def _tf_evaluation_dataset(encoded, batch_size):
    import tensorflow as tf

    arrays = _tensors(encoded)
    dataset = tf.data.Dataset.range(encoded.num_examples)
    if encoded.masking is not None:
        dataset = dataset.map(lambda i: _element(arrays, i, encoded.masking,
                                                 tf.stack([tf.constant(EVALUATION_MASK_SEED, tf.int64), i])))
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return dataset.batch(batch_size).map(lambda i: _element(arrays, i)).prefetch(tf.data.AUTOTUNE)


# --- numpy batches, for the backends other than TensorFlow (no TensorFlow needed) ---------------------------
#: Random streams of the numpy pipeline: every draw is seeded by (seed, stream, index), all of one length, so
#: no two streams ever share a seed.
_SHUFFLE_STREAM, _EVALUATION_STREAM = 0, 2


def _seed_word(seed):
    return int(seed) % 2**64  # numpy seeds are non-negative; a negative run seed still gets a stream of its own


def _numpy_batch(encoded, index, masked=None):
    """Rows `index` of `encoded` as `training_dataset` gives them; `masked`: an mlm split's (inputs, weights)."""
    token_ids = encoded.token_ids[index]
    features = {"token_ids": token_ids, "padding_mask": token_ids != PAD_ID}
    if encoded.source_ids is not None:
        features["source_ids"] = encoded.source_ids[index]
    targets = encoded.targets[index]
    if masked is not None:
        features["token_ids"], weights = masked
        return features, targets, weights
    if encoded.weights is not None:
        return features, targets, encoded.weights[index]
    return features, targets


class TrainingBatches(keras.utils.PyDataset):
    """`training_dataset` in numpy: an endless `keras.utils.PyDataset` whose item `i` is batch
    `skip_batches + i` of the stream, made from (seed, that index) alone.

    Pass `p` of the data is `np.random.default_rng((seed, 0, p)).permutation(num_examples)`, the passes
    joined and cut into batches of `batch_size`; an mlm split's batch `b` is masked by `mask_tokens_numpy` with
    the seed (seed, 1, b). The contract of the tf.data stream, not its order.

    Example:
    >>> encoded = EncodedSplit(np.arange(10, dtype="int32")[:, None] + 4, np.zeros(10, dtype="int32"))
    >>> features, labels = TrainingBatches(encoded, batch_size=4, seed=0)[3]
    >>> sorted(features), features["token_ids"].shape
    (['padding_mask', 'token_ids'], (4, 1))
    >>> bool((TrainingBatches(encoded, 4, 0, skip_batches=3)[0][0]["token_ids"] == features["token_ids"]).all())
    True
    """

    def __init__(self, encoded, batch_size, seed, skip_batches=0):
        super().__init__()
        self.encoded, self.batch_size, self.skip_batches = encoded, batch_size, skip_batches
        self.seed = _seed_word(seed)
        self._orders = {}  # pass -> its permutation; the passes behind the latest are dropped

    @property
    def num_batches(self):
        return None  # endless: `fit` takes `steps_per_epoch` batches an epoch, going on where it stopped

    def _order(self, data_pass):
        if data_pass not in self._orders:
            self._orders = {p: order for p, order in self._orders.items() if p >= data_pass - 1}
            rng = np.random.default_rng((self.seed, _SHUFFLE_STREAM, data_pass))
            self._orders[data_pass] = rng.permutation(self.encoded.num_examples)
        return self._orders[data_pass]

    def __getitem__(self, index):
        batch = self.skip_batches + int(index)
        positions = np.arange(batch * self.batch_size, (batch + 1) * self.batch_size)
        passes, offsets = np.divmod(positions, self.encoded.num_examples)
        rows = np.concatenate([self._order(p)[offsets[passes == p]] for p in np.unique(passes)])
        masking = self.encoded.masking
        if masking is None:
            return _numpy_batch(self.encoded, rows)
        masked = mask_tokens_numpy(self.encoded.token_ids[rows], (self.seed, _MASK_STREAM, batch),
                                   masking.vocabulary_size, masking.rate)
        return _numpy_batch(self.encoded, rows, masked)


class EvaluationBatches(keras.utils.PyDataset):
    """`evaluation_dataset` in numpy: a `keras.utils.PyDataset` of every example once, in order, in batches of
    `batch_size` (the last may be smaller). An mlm split's row `i` is masked with the seed
    (`EVALUATION_MASK_SEED`, 2, i) (`mask_tokens_numpy`), whatever the batch size.

    Example:
    >>> encoded = EncodedSplit(np.arange(7, dtype="int32")[:, None] + 4, np.zeros(7, dtype="int32"))
    >>> [len(labels) for _, labels in EvaluationBatches(encoded, batch_size=3)]
    [3, 3, 1]
    """

    def __init__(self, encoded, batch_size):
        super().__init__()
        self.encoded, self.batch_size = encoded, batch_size
        self._masked = None  # an mlm split's masked inputs and weights, drawn once (they never change)

    def __len__(self):
        return math.ceil(self.encoded.num_examples / self.batch_size)

    def _masks(self):
        if self._masked is None:
            masking = self.encoded.masking
            rows = [mask_tokens_numpy(ids, (EVALUATION_MASK_SEED, _EVALUATION_STREAM, i), masking.vocabulary_size,
                                      masking.rate) for i, ids in enumerate(self.encoded.token_ids)]
            self._masked = tuple(np.stack(column) for column in zip(*rows))
        return self._masked

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        rows = np.arange(index * self.batch_size, min((index + 1) * self.batch_size, self.encoded.num_examples))
        if self.encoded.masking is None:
            return _numpy_batch(self.encoded, rows)
        inputs, weights = self._masks()
        return _numpy_batch(self.encoded, rows, (inputs[rows], weights[rows]))


class InputPipeline(NamedTuple):
    """How one backend batches an `EncodedSplit`: `training(encoded, batch_size, seed, skip_batches)` and
    `evaluation(encoded, batch_size)`, with the contracts of `training_dataset` and `evaluation_dataset`."""

    training: Callable
    evaluation: Callable


#: Keras backend -> its input pipeline: tf.data on TensorFlow (as every TensorFlow run has had), numpy
#: `keras.utils.PyDataset`s on the others, so that they run where TensorFlow is not installed.
NUMPY_PIPELINE = InputPipeline(TrainingBatches, EvaluationBatches)
INPUT_PIPELINES = {"tensorflow": InputPipeline(_tf_training_dataset, _tf_evaluation_dataset),
                   "jax": NUMPY_PIPELINE, "torch": NUMPY_PIPELINE, "numpy": NUMPY_PIPELINE}


def input_pipeline():
    """The `InputPipeline` of the Keras backend in use (`NUMPY_PIPELINE` for one not in `INPUT_PIPELINES`)."""
    return INPUT_PIPELINES.get(keras.backend.backend(), NUMPY_PIPELINE)
