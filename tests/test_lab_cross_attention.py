"""Lab 09 (cross-attention): the reference passes, the starter fails with its TODO hint, each classic mistake fails
the check that names it, and `kerasllm lab check cross_attention FILE.py:Class` exits 0 only for a right answer.

The mistaken layers live here, not in tests/lab_mistakes.py (one flat module the other labs' cases share): each is
the reference with one line changed.
"""

import math
import pathlib

import pytest
from keras import ops

from kerasllm.cli import main
from kerasllm.config import TrainConfig
from kerasllm.labs import LABS, check_lab, get_lab, list_labs
from kerasllm.layers import MultiHeadCrossAttention

ROOT = pathlib.Path(__file__).resolve().parents[1]
STARTER = ROOT / "docs" / "labs" / "starters" / "cross_attention.py"
REFERENCE = "kerasllm.layers.cross_attention:MultiHeadCrossAttention"
HAS_CROSS_ATTENTION_FIELD = "cross_attention" in TrainConfig.fields()


# ------------------------------------------------------------------------------------ the mistaken layers
class SelfAttentionOnQuery(MultiHeadCrossAttention):
    """Lab 05 pasted in: keys and values projected from the query."""

    def call(self, query, memory, padding_mask=None, training=None, return_attention_scores=False):
        return super().call(query, query, return_attention_scores=return_attention_scores)


class SwappedQueryAndMemory(MultiHeadCrossAttention):
    def call(self, query, memory, padding_mask=None, training=None, return_attention_scores=False):
        return super().call(memory, query, return_attention_scores=return_attention_scores)


class BuildTakesOneShape(MultiHeadCrossAttention):
    def build(self, input_shape):
        super().build(input_shape)


class WrittenOut(MultiHeadCrossAttention):
    """The reference's attention written out, so that each mistake below changes one step."""

    def score_scale(self):
        return 1 / math.sqrt(self.head_dim)

    def visible(self, attention_mask, query_length, key_length):
        return attention_mask

    def normalize(self, scores, mask):
        if mask is not None:
            scores = ops.where(mask, scores, -1e9)
        return ops.softmax(scores, axis=-1)

    def _compute_attention(self, query, key, value, attention_mask, training=None):
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key) * self.score_scale()  # (B, H, T, S)
        weights = self.normalize(scores, self.visible(attention_mask, ops.shape(query)[1], ops.shape(key)[1]))
        return ops.einsum("bhqk,bkhd->bqhd", weights, value), weights


class ScaledByWidth(WrittenOut):
    def score_scale(self):
        return 1 / math.sqrt(self.num_heads * self.head_dim)


class Unscaled(WrittenOut):
    def score_scale(self):
        return 1.0


class UnmaskedSource(WrittenOut):
    def visible(self, attention_mask, query_length, key_length):
        return None


class MaskAfterSoftmax(WrittenOut):
    def normalize(self, scores, mask):
        weights = ops.softmax(scores, axis=-1)
        return weights if mask is None else weights * ops.cast(mask, weights.dtype)


class SoftmaxOverQueries(WrittenOut):
    def normalize(self, scores, mask):
        if mask is not None:
            scores = ops.where(mask, scores, -1e9)
        return ops.softmax(scores, axis=-2)


class CausalFromLab05(WrittenOut):
    """A causal mask carried over from self-attention: query t sees source positions 0..t."""

    def visible(self, attention_mask, query_length, key_length):
        causal = ops.greater_equal(ops.arange(query_length)[:, None], ops.arange(key_length)[None, :])
        causal = causal[None, None]  # (1, 1, T, S)
        return causal if attention_mask is None else ops.logical_and(attention_mask, causal)


class CausalAlignedAtTheEnd(WrittenOut):
    """Lab 05's cache-aligned causal mask: the last query sees every position, the first S - T + 1 of them."""

    def visible(self, attention_mask, query_length, key_length):
        rows = ops.arange(query_length)[:, None] + (key_length - query_length)
        causal = ops.greater_equal(rows, ops.arange(key_length)[None, :])[None, None]
        return causal if attention_mask is None else ops.logical_and(attention_mask, causal)


class NoOutputProjection(MultiHeadCrossAttention):
    def attend(self, query, cache, padding_mask=None, training=None, return_attention_scores=False):
        key, value = cache
        projected = self._split_heads(self.query_dense(query))
        mask = None if padding_mask is None else ops.cast(padding_mask, "bool")[:, None, None, :]
        output, weights = self._softmax_attention(projected, key, value, mask)
        batch, length = ops.shape(output)[0], ops.shape(output)[1]
        output = ops.reshape(output, (batch, length, self.num_heads * self.head_dim))
        return (output, weights) if return_attention_scores else output


class MemoryWithoutGradient(MultiHeadCrossAttention):
    def call(self, query, memory, padding_mask=None, training=None, return_attention_scores=False):
        return super().call(query, ops.stop_gradient(memory), padding_mask=padding_mask,
                            return_attention_scores=return_attention_scores)


class WithoutConfig(MultiHeadCrossAttention):
    def get_config(self):
        config = super().get_config()
        del config["num_heads"]
        return config


# (wrong class, the check that must fail first, words its hint must contain)
MISTAKES = [
    (BuildTakesOneShape, "build(query_shape, memory_shape)", "def build(self, query_shape, memory_shape=None)"),
    (SwappedQueryAndMemory, "returns (batch, T, hidden_dim)", "query and memory are swapped"),
    (SelfAttentionOnQuery, "keys and values are read from the memory", "this is self-attention over the query"),
    (SoftmaxOverQueries, "sum to 1 over the source positions", "the softmax runs over the queries"),
    (UnmaskedSource, "padded source positions get weight 0", "the padding mask is not applied"),
    (MaskAfterSoftmax, "real source positions sum to 1", "the mask is applied after the softmax"),
    (CausalFromLab05, "no causal mask", "a causal mask, as in lab 05"),
    (CausalAlignedAtTheEnd, "no causal mask", "a causal mask, as in lab 05"),
    (ScaledByWidth, "softmax(Q K^T / sqrt(head_dim))", "scaled by 1/sqrt(hidden_dim)"),
    (Unscaled, "softmax(Q K^T / sqrt(head_dim))", "the scores are not scaled"),
    (NoOutputProjection, "keras.layers.MultiHeadAttention(query, memory)", "the output projection is missing"),
    (MemoryWithoutGradient, "gradients", "no gradient reaches the memory"),
    (WithoutConfig, "get_config", "get_config() lacks num_heads"),
]


# ------------------------------------------------------------------------------------ a student's answer
ANSWERS = {
    '        raise NotImplementedError("TODO 1: create and build the query, key, value and output Dense layers")':
        '        memory_shape = query_shape if memory_shape is None else memory_shape\n'
        '        self.query_dense = keras.layers.Dense(hidden, name="query")\n'
        '        self.query_dense.build(query_shape)\n'
        '        self.key_dense = keras.layers.Dense(hidden, name="key")\n'
        '        self.key_dense.build(memory_shape)\n'
        '        self.value_dense = keras.layers.Dense(hidden, name="value")\n'
        '        self.value_dense.build(memory_shape)\n'
        '        self.output_dense = keras.layers.Dense(hidden, name="output")\n'
        '        self.output_dense.build(query_shape)',
    '        raise NotImplementedError("TODO 2-4: project, split heads, attend over the memory, merge heads, project")':
        '        def heads(x):\n'
        '            return ops.reshape(x, (batch, ops.shape(x)[1], self.num_heads, self.head_dim))\n'
        '        q = heads(self.query_dense(query))\n'
        '        k, v = heads(self.key_dense(KEYS_FROM)), heads(self.value_dense(KEYS_FROM))\n'
        '        scores = ops.einsum("bthd,bshd->bhts", q, k) / math.sqrt(self.head_dim)\n'
        '        if padding_mask is not None:\n'
        '            scores = ops.where(ops.cast(padding_mask, "bool")[:, None, None, :], scores, -1e9)\n'
        '        weights = ops.softmax(scores, axis=-1)\n'
        '        out = ops.einsum("bhts,bshd->bthd", weights, v)\n'
        '        output = self.output_dense(ops.reshape(out, (batch, ops.shape(query)[1], -1)))',
    '        # TODO 5: add num_heads to the config':
        '        config["num_heads"] = self.num_heads',
}


def student_file(folder, keys_from="memory"):
    """The starter with its TODOs filled in, as a student would; `keys_from="query"` is lab 05's mistake."""
    text = STARTER.read_text()
    for todo, answer in ANSWERS.items():
        assert todo in text, f"the starter no longer has {todo.strip()!r}"
        text = text.replace(todo, answer.replace("KEYS_FROM", keys_from))
    path = folder / ("my_cross_attention.py" if keys_from == "memory" else f"my_cross_attention_on_{keys_from}.py")
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------ the tests
def test_lab_09_is_registered_between_08_and_10_with_its_starter():
    names = list_labs()
    assert names.index("cross_attention") == names.index("bpe") + 1 == names.index("perplexity") - 1
    lab = LABS.get("cross_attention")
    assert (lab.number, lab.reference, lab.starter) == ("09", REFERENCE, "cross_attention.py")
    assert STARTER.is_file() and (ROOT / "docs" / "labs" / "09_cross_attention.md").is_file()


def test_the_reference_passes_every_check():
    report = check_lab("cross_attention", get_lab("cross_attention").reference, train=False)
    assert report.passed, "\n".join(report.lines())
    assert len(report.results) == 12


def test_the_untouched_starter_fails_with_its_todo_hint():
    report = check_lab("cross_attention", f"{STARTER}:MyCrossAttention", train=False)
    assert not report.passed
    first = report.failures()[0]
    assert first.status == "FAIL" and "TODO 1" in first.hint and "Fill in the TODOs" in first.hint, first.line()
    assert "of cross_attention.py)" in first.hint  # names the line of the starter
    assert all(result.status == "SKIP" for result in report.results[1:])  # the first check is fatal


@pytest.mark.parametrize("wrong, check_title, hint", MISTAKES, ids=[m[0].__name__ for m in MISTAKES])
def test_each_mistake_fails_its_check_with_its_hint(wrong, check_title, hint):
    report = check_lab("cross_attention", wrong, train=False)
    failed = [result for result in report.results if result.status == "FAIL"]
    assert failed, "\n".join(report.lines())
    assert check_title in failed[0].title, "\n".join(report.lines())
    assert hint in failed[0].hint, failed[0].line()


def test_cli_exits_0_for_a_right_answer_and_1_with_a_one_line_hint_for_a_wrong_one(tmp_path, capsys):
    right = student_file(tmp_path)
    assert main(["lab", "check", "cross_attention", f"{right}:MyCrossAttention", "--no-train"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "lab cross_attention: all checks pass" and len(out) == 13, "\n".join(out)

    wrong = student_file(tmp_path, keys_from="query")
    assert main(["lab", "check", "cross_attention", f"{wrong}:MyCrossAttention", "--no-train"]) == 1
    out = capsys.readouterr().out.splitlines()
    failed = [line for line in out if line.startswith("FAIL")]
    assert failed[0].startswith("FAIL  keys and values are read from the memory: the weights have shape (2, 2, 5, 5)")
    assert "k = key_dense(memory), v = value_dense(memory)" in failed[0]
    assert out[-1].startswith("lab cross_attention: ") and out[-1].endswith("checks did not pass")


@pytest.mark.skipif(not HAS_CROSS_ATTENTION_FIELD, reason="TrainConfig has no cross_attention field yet")
def test_the_experiment_trains_a_students_file_in_the_encoder_decoder(tmp_path, capsys):
    """The last check: the student's layer, by file path, in every cross-attention block of a seq2seq run."""
    right = student_file(tmp_path)
    assert main(["lab", "check", "cross_attention", f"{right}:MyCrossAttention"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("PASS  trains through the Trainer on selective_copy as encoder-decoder")
    assert "validation token accuracy" in out[-2]
