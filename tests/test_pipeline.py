"""The input front end: padding, masks, LM windows, seq2seq weights, deterministic resumable order; tf.data on
TensorFlow and its numpy twin (`TrainingBatches` / `EvaluationBatches`) for the other backends."""

import numpy as np
import pytest

from kerasllm.data.base import Split, Task, TaskInfo, get_task
from kerasllm.data.objectives import objective_task
from kerasllm.data.pipeline import (INPUT_PIPELINES, NUMPY_PIPELINE, EvaluationBatches, TrainingBatches, encode_split,
                                    evaluation_dataset, input_pipeline, training_dataset)
from kerasllm.errors import ConfigError, DataError
from kerasllm.tokenizers import get_tokenizer
from kerasllm.tokenizers.base import BOS_ID, EOS_ID


class InMemoryTask(Task):
    def __init__(self, kind, splits, num_classes=None):
        super().__init__()
        self.info = TaskInfo(name="memory", kind=kind, metric="accuracy", num_classes=num_classes)
        self._data = splits

    def _load_split(self, name):
        return self._data[name]


def char_tokenizer(texts):
    return get_tokenizer("char").fit(texts)


def test_classification_is_right_padded_truncated_and_masked():
    split = Split(texts=["abc", "a", "abcdefgh", ""], labels=[0, 1, 1, 0])
    task = InMemoryTask("classification", {"train": split}, num_classes=2)
    tok = char_tokenizer(split.texts)
    encoded = encode_split(task, "train", tok, max_length=5)
    assert encoded.token_ids.shape == (4, 5)
    np.testing.assert_array_equal(encoded.padding_mask.sum(1), [3, 1, 5, 1])  # empty text -> one unk
    np.testing.assert_array_equal(encoded.token_ids[0], tok.encode("abc") + [0, 0])
    np.testing.assert_array_equal(encoded.targets, [0, 1, 1, 0])
    assert encoded.weights is None


def test_lm_windows_shift_by_one_and_cover_the_stream_once():
    docs = ["hello world", "the quick brown fox jumps"]
    task = InMemoryTask("lm", {"train": Split(texts=docs)})
    tok = char_tokenizer(docs)
    encoded = encode_split(task, "train", tok, max_length=8)
    stream = tok.encode(docs[0]) + [EOS_ID] + tok.encode(docs[1]) + [EOS_ID]
    np.testing.assert_array_equal(encoded.token_ids[:, 1:][encoded.weights[:, :-1] > 0],
                                  encoded.targets[:, :-1][encoded.weights[:, :-1] > 0])
    # Every token after the first is predicted exactly once, in order.
    assert encoded.num_target_tokens == len(stream) - 1
    np.testing.assert_array_equal(encoded.targets[encoded.weights > 0], stream[1:])
    np.testing.assert_array_equal(encoded.token_ids[encoded.weights > 0], stream[:-1])
    assert encoded.num_characters == sum(len(d) + 1 for d in docs)


def test_seq2seq_weights_only_the_target_and_eos():
    task = InMemoryTask("seq2seq", {"train": Split(texts=["ab"], targets=["cd"])})
    tok = char_tokenizer(["abcd"])
    encoded = encode_split(task, "train", tok, max_length=8, seq2seq_form="prefix_lm")
    a, b, c, d = tok.encode("abcd")
    np.testing.assert_array_equal(encoded.token_ids[0], [a, b, BOS_ID, c, d, EOS_ID, 0, 0])
    np.testing.assert_array_equal(encoded.targets[0], [b, BOS_ID, c, d, EOS_ID, 0, 0, 0])
    np.testing.assert_array_equal(encoded.weights[0], [0, 0, 1, 1, 1, 0, 0, 0])
    assert encoded.source_ids is None


def test_an_encoder_decoder_reads_the_source_apart_and_writes_bos_target_eos():
    task = InMemoryTask("seq2seq", {"train": Split(texts=["abc"], targets=["cd"])})
    tok = char_tokenizer(["abcd"])
    encoded = encode_split(task, "train", tok, max_length=4)  # the task's default form: encoder_decoder
    a, b, c, d = tok.encode("abcd")
    np.testing.assert_array_equal(encoded.source_ids[0], [a, b, c, 0])
    np.testing.assert_array_equal(encoded.token_ids[0], [BOS_ID, c, d, 0])
    np.testing.assert_array_equal(encoded.targets[0], [c, d, EOS_ID, 0])
    np.testing.assert_array_equal(encoded.weights[0], [1, 1, 1, 0])
    assert encoded.num_input_tokens == 3 + 3  # the source counts towards tokens/s
    features, targets, weights = next(iter(training_dataset(encoded, batch_size=1, seed=0)))
    np.testing.assert_array_equal(features["source_ids"].numpy()[0], [a, b, c, 0])


def test_errors_name_the_problem():
    task = InMemoryTask("classification", {"train": Split(texts=[], labels=[])}, num_classes=2)
    with pytest.raises(DataError, match="train split of task 'memory' is empty"):
        encode_split(task, "train", char_tokenizer(["a"]), 4)
    with pytest.raises(ConfigError, match="max_length must be at least 1"):
        encode_split(task, "train", char_tokenizer(["a"]), 0)
    seq = InMemoryTask("seq2seq", {"train": Split(texts=["abcdef"], targets=["x"])})
    with pytest.raises(DataError, match="no room for any target"):
        encode_split(seq, "train", char_tokenizer(["abcdefx"]), 3, seq2seq_form="prefix_lm")


def _batches(dataset, n):
    return [features["token_ids"].numpy() for features, *_ in dataset.take(n)]


def test_training_order_is_seeded_and_resumes_exactly():
    texts = [chr(ord("a") + i) * (i % 5 + 1) for i in range(10)]
    task = InMemoryTask("classification", {"train": Split(texts=texts, labels=[i % 2 for i in range(10)])}, 2)
    encoded = encode_split(task, "train", char_tokenizer(texts), 6)
    full = _batches(training_dataset(encoded, batch_size=3, seed=7), 8)
    again = _batches(training_dataset(encoded, batch_size=3, seed=7), 8)
    resumed = _batches(training_dataset(encoded, batch_size=3, seed=7, skip_batches=5), 3)
    other = _batches(training_dataset(encoded, batch_size=3, seed=8), 8)
    np.testing.assert_array_equal(np.stack(full), np.stack(again))
    np.testing.assert_array_equal(np.stack(full[5:]), np.stack(resumed))
    assert not np.array_equal(np.stack(full), np.stack(other))
    # Each pass over the data is a permutation: the first 3 batches (9 examples) are distinct rows.
    rows = {tuple(r) for b in full[:3] for r in b}
    assert len(rows) == 9


def test_evaluation_covers_every_example_once_in_order():
    texts = [f"text {i}" for i in range(7)]
    task = InMemoryTask("classification", {"test": Split(texts=texts, labels=[0] * 7)}, 2)
    encoded = encode_split(task, "test", char_tokenizer(texts), 8)
    batches = [f["token_ids"].numpy() for f, _ in evaluation_dataset(encoded, batch_size=3)]
    assert [len(b) for b in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(batches), encoded.token_ids)


# ------------------------------------------------------------------ the numpy pipeline (JAX, PyTorch: no TensorFlow)
def numpy_batches(dataset, n, start=0):
    return [dataset[i][0]["token_ids"] for i in range(start, start + n)]


def test_each_backend_gets_its_pipeline():
    assert input_pipeline() is INPUT_PIPELINES["tensorflow"] != NUMPY_PIPELINE  # these tests run on TensorFlow
    assert INPUT_PIPELINES["jax"] is INPUT_PIPELINES["torch"] is NUMPY_PIPELINE


def test_numpy_training_order_is_seeded_permuted_per_pass_and_resumes_exactly():
    texts = [chr(ord("a") + i) * (i % 5 + 1) for i in range(10)]
    task = InMemoryTask("classification", {"train": Split(texts=texts, labels=[i % 2 for i in range(10)])}, 2)
    encoded = encode_split(task, "train", char_tokenizer(texts), 6)
    full = numpy_batches(TrainingBatches(encoded, batch_size=3, seed=7), 8)
    resumed = TrainingBatches(encoded, batch_size=3, seed=7, skip_batches=5)
    np.testing.assert_array_equal(np.stack(full), np.stack(numpy_batches(TrainingBatches(encoded, 3, 7), 8)))
    np.testing.assert_array_equal(np.stack(full[5:]), np.stack(numpy_batches(resumed, 3)))
    np.testing.assert_array_equal(full[6], numpy_batches(TrainingBatches(encoded, 3, 7), 1, start=6)[0])  # any order
    assert not np.array_equal(np.stack(full), np.stack(numpy_batches(TrainingBatches(encoded, 3, 8), 8)))
    rows = [tuple(r) for b in full for r in b]
    assert len(set(rows[:10])) == 10 and len(set(rows[10:20])) == 10  # each pass is a permutation, passes differ
    assert rows[:10] != rows[10:20]
    assert TrainingBatches(encoded, 3, 7).num_batches is None  # endless
    features, labels = TrainingBatches(encoded, 3, 7)[0]
    np.testing.assert_array_equal(features["padding_mask"], features["token_ids"] != 0)
    assert labels.shape == (3,) and labels.dtype == np.int32


def test_numpy_evaluation_covers_every_example_once_in_order_like_tf_data():
    texts = [f"text {i}" for i in range(7)]
    task = InMemoryTask("lm", {"test": Split(texts=texts)})
    encoded = encode_split(task, "test", char_tokenizer(texts), 4)
    assert encoded.num_examples == 12
    batches = list(EvaluationBatches(encoded, batch_size=5))
    assert len(EvaluationBatches(encoded, 5)) == 3 and [len(targets) for _, targets, _ in batches] == [5, 5, 2]
    np.testing.assert_array_equal(np.concatenate([f["token_ids"] for f, _, _ in batches]), encoded.token_ids)
    np.testing.assert_array_equal(np.concatenate([t for _, t, _ in batches]), encoded.targets)
    np.testing.assert_array_equal(np.concatenate([w for _, _, w in batches]), encoded.weights)
    for (features, targets, weights), tf_batch in zip(batches, evaluation_dataset(encoded, batch_size=5)):
        tf_features, tf_targets, tf_weights = tf_batch  # the same structure and values as the tf.data batches
        assert sorted(features) == sorted(tf_features)
        for name in features:
            np.testing.assert_array_equal(features[name], tf_features[name].numpy())
        np.testing.assert_array_equal(weights, tf_weights.numpy())
    with pytest.raises(IndexError):
        EvaluationBatches(encoded, 5)[3]


def test_numpy_batches_carry_an_encoder_decoders_source():
    task = InMemoryTask("seq2seq", {"train": Split(texts=["abc", "b"], targets=["cd", "d"])})
    tok = char_tokenizer(["abcd"])
    encoded = encode_split(task, "train", tok, max_length=4)
    features, targets, weights = EvaluationBatches(encoded, 2)[0]
    np.testing.assert_array_equal(features["source_ids"], encoded.source_ids)
    features, targets, weights = TrainingBatches(encoded, 2, seed=0)[0]
    assert sorted(features) == ["padding_mask", "source_ids", "token_ids"]
    for row, source in zip(features["token_ids"], features["source_ids"]):  # each source stays with its target
        index = [i for i, ids in enumerate(encoded.token_ids) if (ids == row).all()][0]
        np.testing.assert_array_equal(source, encoded.source_ids[index])


def test_numpy_mlm_masks_per_batch_resume_and_fixed_evaluation_masks():
    task = objective_task(get_task("negation_sentiment", num_train=64, num_validation=16, num_test=16), "mlm")
    tokenizer = get_tokenizer("word", split="whitespace").fit(task.train_texts())
    train, validation = (encode_split(task, split, tokenizer, 16) for split in ("train", "validation"))
    stream = TrainingBatches(train, 4, 3)
    batches = [stream[i] for i in range(6)]
    resumed = TrainingBatches(train, 4, 3, skip_batches=4)
    for (features, _, weights), (again, _, again_weights) in zip(batches[4:], (resumed[0], resumed[1])):
        assert (features["token_ids"] == again["token_ids"]).all() and (weights == again_weights).all()
    for features, targets, weights in batches:  # only masked (selected) tokens carry weight; the targets are intact
        assert ((features["token_ids"] != targets) <= (weights > 0)).all() and (weights <= (targets != 0)).all()
    assert 0.05 < np.mean([w.sum() / (t != 0).sum() for _, t, w in batches]) < 0.3
    # training masks are drawn afresh: the same examples in a later pass get other masks
    first = {tuple(row): tuple(w) for (_, targets, weights) in batches for row, w in zip(targets, weights)}
    later_start = len(train.token_ids) // 4 + 1
    later = [stream[i] for i in range(later_start, later_start + 6)]
    repeats = [(first[tuple(row)], tuple(w)) for _, targets, weights in later for row, w in zip(targets, weights)
               if tuple(row) in first]
    assert repeats and any(a != b for a, b in repeats)

    def masks(batch_size):
        return np.concatenate([x["token_ids"] for x, _, _ in EvaluationBatches(validation, batch_size)])

    assert (masks(3) == masks(16)).all() and (masks(3) == masks(3)).all()
    assert (masks(3) != validation.token_ids).any()
