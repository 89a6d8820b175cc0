"""kerasllm.layers checked against Keras / keras-hub layers with the same weights."""

import keras
import keras_hub
import numpy as np
import pytest
from keras import ops

from kerasllm.errors import ConfigError
from kerasllm.models import get_backbone
from kerasllm.layers import (
    MultiHeadSelfAttention,
    ResidualConvBlock,
    TextEmbedding,
    TransformerBlock,
)
from tests.helpers import assert_round_trips

BATCH, SEQ, HIDDEN, HEADS = 2, 6, 16, 4


def features(seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, SEQ, HIDDEN)).astype("float32")


def right_padding_mask(lengths=(SEQ, 3)):
    return np.arange(SEQ)[None, :] < np.array(lengths)[:, None]  # (B, T) bool


def copy_attention_weights(reference, attention):
    """Copies keras MultiHeadAttention (EinsumDense) weights into MultiHeadSelfAttention."""
    for ours, theirs in (
        (attention.query_dense, reference.query_dense),
        (attention.key_dense, reference.key_dense),
        (attention.value_dense, reference.value_dense),
    ):
        kernel, bias = theirs.get_weights()  # (C, H, D), (H, D)
        ours.set_weights([kernel.reshape(HIDDEN, -1), bias.reshape(-1)])
    kernel, bias = reference.output_dense.get_weights()  # (H, D, C), (C,)
    attention.output_dense.set_weights([kernel.reshape(-1, HIDDEN), bias])


def keras_attention(x):
    keras.utils.set_random_seed(1)
    reference = keras.layers.MultiHeadAttention(
        num_heads=HEADS, key_dim=HIDDEN // HEADS, bias_initializer="random_normal"
    )
    reference(x, x)
    return reference


@pytest.mark.parametrize("padding", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_keras_multi_head_attention(padding, causal):
    x = features()
    mask = right_padding_mask() if padding else None
    reference = keras_attention(x)
    attention = MultiHeadSelfAttention(num_heads=HEADS, causal=causal)
    attention(x)
    copy_attention_weights(reference, attention)

    keras_mask = np.ones((BATCH, SEQ, SEQ), bool)
    if padding:
        keras_mask &= mask[:, None, :]  # keys
    if causal:
        keras_mask &= np.tril(np.ones((SEQ, SEQ), bool))[None]
    expected, expected_weights = reference(
        x, x, attention_mask=keras_mask, return_attention_scores=True
    )
    actual, weights = attention(x, padding_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(
        ops.convert_to_numpy(actual), ops.convert_to_numpy(expected), atol=1e-5
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(weights), ops.convert_to_numpy(expected_weights), atol=1e-5
    )


def test_fully_padded_rows_give_zero_weights_not_nan():
    x = features()
    attention = MultiHeadSelfAttention(num_heads=HEADS, causal=True)
    mask = right_padding_mask(lengths=(SEQ, 0))  # the second sequence is all padding
    out, weights = attention(x, padding_mask=mask, return_attention_scores=True)
    out, weights = ops.convert_to_numpy(out), ops.convert_to_numpy(weights)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(weights[1], 0.0)
    np.testing.assert_allclose(weights[0].sum(axis=-1), 1.0, atol=1e-6)


class RawScores(MultiHeadSelfAttention):
    """Overrides the documented hook to expose the pre-softmax scores."""

    def _compute_attention(self, query, key, value, attention_mask, training=None):
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key)
        return ops.einsum("bhqk,bkhd->bqhd", scores, value), scores


def test_rotary_scores_depend_only_on_relative_position():
    x = np.tile(features()[:, :1, :], (1, SEQ, 1))  # the same vector at every position
    _, plain = RawScores(num_heads=HEADS)(x, return_attention_scores=True)
    _, rotary = RawScores(num_heads=HEADS, rotary=True)(x, return_attention_scores=True)
    plain, rotary = ops.convert_to_numpy(plain), ops.convert_to_numpy(rotary)
    assert np.allclose(plain, plain[..., :1, :1], atol=1e-5)  # no position information
    assert not np.allclose(rotary, rotary[..., :1, :1], atol=1e-3)
    for shift in range(1, SEQ):  # Toeplitz: score(i, j) == score(i + s, j + s)
        np.testing.assert_allclose(
            rotary[..., shift:, shift:], rotary[..., :-shift, :-shift], atol=1e-4
        )


def test_attention_rejects_bad_settings():
    with pytest.raises(ConfigError, match="num_heads must be a positive integer"):
        MultiHeadSelfAttention(num_heads=0)
    with pytest.raises(ConfigError, match="not divisible by num_heads"):
        MultiHeadSelfAttention(num_heads=3)(features())
    with pytest.raises(ConfigError, match="even head width"):
        MultiHeadSelfAttention(num_heads=16, rotary=True)(features())



def explicit_attention(attention, x, padding_mask):
    """softmax(Q K^T / sqrt(d)) V in numpy with the layer's own weights (its rotary rotates Q and K)."""
    (wq, bq), (wk, bk), (wv, bv), (wo, bo) = (
        dense.get_weights() for dense in (attention.query_dense, attention.key_dense,
                                          attention.value_dense, attention.output_dense))
    batch, length, _ = x.shape
    q, k, v = ((x @ w + b).reshape(batch, length, HEADS, -1) for w, b in ((wq, bq), (wk, bk), (wv, bv)))
    if attention.rotary:
        q, k = (ops.convert_to_numpy(attention.rotary_embedding(t)) for t in (q, k))
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(q.shape[-1])  # (B, H, T, S)
    visible = np.broadcast_to(padding_mask[:, None, None, :], scores.shape)
    if attention.causal:
        visible = visible & np.tril(np.ones((length, length), bool))
    scores = np.where(visible, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    weights = np.exp(scores - np.where(np.isfinite(top), top, 0.0))
    weights = weights / np.maximum(weights.sum(axis=-1, keepdims=True), 1e-30)  # no visible key -> 0
    heads = np.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, -1)
    return heads @ wo + bo


@pytest.mark.parametrize("rotary", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_fused_attention_equals_the_explicit_softmax(causal, rotary):
    """The default path (keras.ops.dot_product_attention) against softmax(QK^T/sqrt(d))V written out
    three ways with the same weights: in numpy, by `_softmax_attention` (the path that returns weights)
    and by the lab-04 reference `ScaledDotProductAttention` plugged into every head."""
    from kerasllm.labs.reference import ScaledDotProductAttention

    x = np.random.default_rng(3).normal(size=(3, SEQ, HIDDEN)).astype("float32")
    mask = np.arange(SEQ)[None, :] < np.array([SEQ, 3, 0])[:, None]  # full, padded, all padding
    keras.utils.set_random_seed(4)
    fused = MultiHeadSelfAttention(num_heads=HEADS, causal=causal, rotary=rotary)
    fused.build(x.shape)
    for dense in (fused.query_dense, fused.key_dense, fused.value_dense, fused.output_dense):
        dense.bias.assign(np.random.default_rng(5).normal(size=dense.bias.shape))
    plugged = MultiHeadSelfAttention(num_heads=HEADS, causal=causal, rotary=rotary,
                                     head_attention=keras.saving.serialize_keras_object(ScaledDotProductAttention()))
    plugged.build(x.shape)
    plugged.set_weights(fused.get_weights())

    actual = ops.convert_to_numpy(fused(x, padding_mask=mask))
    assert np.isfinite(actual).all()
    np.testing.assert_allclose(actual, explicit_attention(fused, x, mask), atol=1e-5)
    with_weights, _ = fused(x, padding_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(actual, ops.convert_to_numpy(with_weights), atol=1e-5)
    np.testing.assert_allclose(actual, ops.convert_to_numpy(plugged(x, padding_mask=mask)), atol=1e-5)
    # A query with no visible key attends to nothing: only the output projection's bias is left.
    np.testing.assert_allclose(actual[2], np.broadcast_to(fused.output_dense.bias.numpy(), actual[2].shape),
                               atol=1e-6)


@pytest.mark.parametrize("rotary", [False, True])
def test_fused_step_with_the_cache_equals_causal_call(rotary):
    x = features()
    attention = MultiHeadSelfAttention(num_heads=HEADS, causal=True, rotary=rotary)
    full = ops.convert_to_numpy(attention(x))
    cache = attention.initial_cache(BATCH, SEQ + 2)  # a longer cache: the unwritten tail stays hidden
    for t in range(SEQ):
        out, cache = attention.step(x[:, t], cache, np.full((BATCH,), t, "int32"))
        np.testing.assert_allclose(ops.convert_to_numpy(out), full[:, t], atol=1e-5)


def test_attention_dropout_while_training_runs_the_explicit_path():
    x = features()
    attention = MultiHeadSelfAttention(num_heads=HEADS, causal=True, dropout=0.5)
    attention(x)
    q = attention._split_heads(attention.query_dense(x))
    mask = attention.compute_attention_mask(None, SEQ, SEQ)
    _, weights = attention._compute_attention(q, q, q, mask, training=True)
    assert weights is not None  # the weights exist to be dropped
    assert attention._compute_attention(q, q, q, mask, training=False)[1] is None  # the fused kernel


def test_the_transformer_trains_on_the_fused_kernel_unless_attention_dropout_is_asked_for():
    def attention_rates(**options):
        backbone = get_backbone("transformer", vocab_size=20, hidden_dim=HIDDEN, num_layers=2, dropout=0.1,
                                causal=True, num_heads=HEADS, **options)
        backbone(np.array([[3, 4, 5]]))
        return [block.attention.dropout for block in backbone.blocks], [block.mlp_dropout.rate
                                                                         for block in backbone.blocks]

    assert attention_rates() == ([0.0, 0.0], [0.1, 0.1])  # residual dropout stays; attention weights are not dropped
    assert attention_rates(attention_dropout=0.1) == ([0.1, 0.1], [0.1, 0.1])
    assert TransformerBlock(num_heads=HEADS, dropout=0.2).get_config()["attention_dropout"] is None

def test_transformer_block_matches_keras_hub_pre_norm_encoder():
    x = features()
    mask = right_padding_mask()
    keras.utils.set_random_seed(2)
    reference = keras_hub.layers.TransformerEncoder(
        intermediate_dim=4 * HIDDEN,
        num_heads=HEADS,
        activation="gelu",
        normalize_first=True,
        bias_initializer="random_normal",
    )
    reference(x)
    block = TransformerBlock(num_heads=HEADS)
    block(x)
    copy_attention_weights(reference._self_attention_layer, block.attention)
    block.attention_norm.set_weights(reference._self_attention_layer_norm.get_weights())
    block.mlp_norm.set_weights(reference._feedforward_layer_norm.get_weights())
    block.mlp_intermediate.set_weights(reference._feedforward_intermediate_dense.get_weights())
    block.mlp_output.set_weights(reference._feedforward_output_dense.get_weights())
    expected = ops.convert_to_numpy(reference(x, padding_mask=mask))
    actual = ops.convert_to_numpy(block(x, padding_mask=mask))
    np.testing.assert_allclose(actual, expected, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_conv_block_ignores_padding(causal):
    block = ResidualConvBlock(kernel_size=3, dilation_rate=2, causal=causal)
    x = features()
    x[1, 3:] = 0.0
    mask = right_padding_mask()
    padded = ops.convert_to_numpy(block(x, padding_mask=mask))
    alone = ops.convert_to_numpy(block(x[1:, :3], padding_mask=mask[1:, :3]))
    np.testing.assert_allclose(padded[1, :3], alone[0], atol=1e-5)


def test_causal_conv_block_does_not_look_ahead():
    block = ResidualConvBlock(kernel_size=3, dilation_rate=2, causal=True)
    x = features()
    changed = x.copy()
    changed[:, 4:] += 1.0
    before, after = (ops.convert_to_numpy(block(v)) for v in (x, changed))
    np.testing.assert_allclose(after[:, :4], before[:, :4], atol=1e-6)


def token_ids():
    return np.array([[5, 6, 7, 8, 9, 10], [11, 12, 13, 0, 0, 0]], dtype="int32")


def test_sinusoidal_embedding_equals_keras_hub_sine_position_encoding():
    layer = TextEmbedding(vocab_size=50, hidden_dim=HIDDEN, position="sinusoidal")
    ids = token_ids()
    out = ops.convert_to_numpy(layer(ids))
    tokens = ops.convert_to_numpy(layer.token_embedding(ids))
    positions = ops.convert_to_numpy(keras_hub.layers.SinePositionEncoding()(tokens))
    np.testing.assert_allclose(out, tokens + positions, atol=1e-6)


def test_learned_embedding_adds_the_position_table():
    layer = TextEmbedding(vocab_size=50, hidden_dim=HIDDEN, position="learned", max_length=8)
    ids = token_ids()
    out = ops.convert_to_numpy(layer(ids))
    table = ops.convert_to_numpy(layer.position_embedding.position_embeddings)
    tokens = ops.convert_to_numpy(ops.take(layer.embeddings, ids, axis=0))
    np.testing.assert_allclose(out, tokens + table[None, :SEQ], atol=1e-6)
    shifted = ops.convert_to_numpy(layer(ids[:, :2], start_index=3))
    np.testing.assert_allclose(shifted, tokens[:, :2] + table[None, 3:5], atol=1e-6)


@pytest.mark.parametrize("position", ["rotary", "none"])
def test_rotary_and_none_add_nothing(position):
    layer = TextEmbedding(vocab_size=50, hidden_dim=HIDDEN, position=position)
    ids = token_ids()
    out = ops.convert_to_numpy(layer(ids))
    np.testing.assert_allclose(out, ops.convert_to_numpy(layer.token_embedding(ids)), atol=0)
    assert len(layer.weights) == 1


def test_embedding_rejects_bad_settings():
    with pytest.raises(ConfigError, match="Unknown position type 'alibi'"):
        TextEmbedding(50, HIDDEN, position="alibi")
    with pytest.raises(ConfigError, match="dropout must be in"):
        TextEmbedding(50, HIDDEN, dropout=1.5)
    with pytest.raises(ConfigError, match="exceed max_length=4"):
        TextEmbedding(50, HIDDEN, max_length=4)(token_ids())


@pytest.mark.parametrize(
    "make_layer,inputs",
    [
        (
            lambda: TextEmbedding(50, HIDDEN, position="learned", max_length=16, dropout=0.1),
            {"token_ids": token_ids()},
        ),
        (
            lambda: MultiHeadSelfAttention(num_heads=HEADS, causal=True, rotary=True, dropout=0.1),
            {"inputs": features(), "padding_mask": right_padding_mask()},
        ),
        (
            lambda: TransformerBlock(num_heads=HEADS, intermediate_dim=24, causal=True),
            {"inputs": features(), "padding_mask": right_padding_mask()},
        ),
        (
            lambda: ResidualConvBlock(kernel_size=3, dilation_rate=2, causal=True),
            {"inputs": features(), "padding_mask": right_padding_mask()},
        ),
    ],
    ids=["embedding", "attention", "transformer_block", "conv_block"],
)
def test_layers_round_trip(make_layer, inputs, tmp_path):
    assert_round_trips(make_layer(), tmp_path, inputs=inputs)


def test_kerasllm_layers_holds_only_what_the_backbones_run():
    """What the backbones and heads run (the encoder-decoder's cross-attention and an LM's adaptive softmax
    included). The labs' from-scratch
    reference layers live in kerasllm.labs.reference (tests/test_teaching_layers.py);
    tests/test_layering.py checks that nothing here imports them."""
    import kerasllm.layers

    assert set(kerasllm.layers.__all__) == {
        "POSITION_TYPES", "MultiHeadSelfAttention", "ResidualConvBlock", "TextEmbedding", "TransformerBlock",
        "MultiHeadCrossAttention", "CrossAttentionBlock", "AdaptiveSoftmax"}
    assert not hasattr(kerasllm.layers, "LSTMCell")  # Keras' name is no longer shadowed here
