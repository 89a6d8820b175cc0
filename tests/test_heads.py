"""TextClassifier and CausalLM: masked pooling, tied weights, inputs, saving, mixed precision."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasllm.errors import ConfigError
from kerasllm.models import CausalLM, TextClassifier, get_backbone
from tests.helpers import assert_round_trips

VOCAB, HIDDEN = 50, 16


def backbone(name="gru", causal=False, **kwargs):
    keras.utils.set_random_seed(0)
    settings = {"vocab_size": VOCAB, "hidden_dim": HIDDEN, "num_layers": 2, "causal": causal}
    return get_backbone(name, **settings, **kwargs)


def token_ids():
    ids = np.array(
        [[5, 6, 7, 8, 9, 10, 11, 12], [13, 14, 15, 0, 0, 0, 0, 0], [16, 0, 0, 0, 0, 0, 0, 0]],
        dtype="int32",
    )
    return ids, ids != 0


def expected_pool(features, mask, mode):
    rows = []
    for f, m in zip(features, mask):
        real = f[m]
        rows.append(
            {"mean": real.mean(0), "max": real.max(0), "last": real[-1], "first": f[0]}[mode]
        )
    return np.stack(rows)


@pytest.mark.parametrize("mode", ["mean", "max", "last", "first"])
def test_pooling_only_looks_at_real_tokens(mode):
    ids, mask = token_ids()
    features = -np.abs(np.random.default_rng(0).normal(size=(3, 8, HIDDEN))).astype("float32") - 0.5
    features[~mask] = 100.0  # garbage at padded positions must never leak in
    model = TextClassifier(backbone(), num_classes=3, pooling=mode)
    pooled = ops.convert_to_numpy(model.pool(features, mask))
    np.testing.assert_allclose(pooled, expected_pool(features, mask, mode), atol=1e-6)


@pytest.mark.parametrize("mode", ["mean", "max", "last", "first"])
def test_classifier_logits_by_hand(mode):
    ids, mask = token_ids()
    model = TextClassifier(backbone("bow"), num_classes=3, pooling=mode)
    model({"token_ids": ids, "padding_mask": mask})  # builds it
    model.classifier.set_weights([np.ones((HIDDEN, 3), "float32"), np.arange(3, dtype="float32")])
    logits = ops.convert_to_numpy(model({"token_ids": ids, "padding_mask": mask}))
    features = ops.convert_to_numpy(model.backbone(ids, padding_mask=mask))
    pooled = expected_pool(features, mask, mode)
    expected = pooled.sum(axis=1, keepdims=True) + np.arange(3)[None, :]
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    assert logits.shape == (3, 3) and logits.dtype == np.float32


def test_empty_sequence_pools_to_zeros():
    model = TextClassifier(backbone(), num_classes=2, pooling="max")
    features = np.ones((1, 4, HIDDEN), "float32")
    pooled = ops.convert_to_numpy(model.pool(features, np.zeros((1, 4), bool)))
    np.testing.assert_array_equal(pooled, 0.0)


def test_dict_and_positional_inputs_agree():
    ids, mask = token_ids()
    model = TextClassifier(backbone(), num_classes=2)
    from_dict = ops.convert_to_numpy(model({"token_ids": ids, "padding_mask": mask}))
    positional = ops.convert_to_numpy(model(ids, padding_mask=mask))
    derived = ops.convert_to_numpy(model(ids))  # mask = ids != 0
    np.testing.assert_allclose(from_dict, positional, atol=1e-6)
    np.testing.assert_allclose(from_dict, derived, atol=1e-6)
    assert model.backbone.hidden_dim == HIDDEN


def test_tied_causal_lm_shares_one_embedding_variable():
    ids, mask = token_ids()
    lm = CausalLM(backbone("transformer", causal=True))
    logits = ops.convert_to_numpy(lm(ids, padding_mask=mask))
    assert logits.shape == (3, 8, VOCAB) and logits.dtype == np.float32
    assert len(lm.weights) == len(lm.backbone.weights)  # no extra output matrix
    matrices = [w for w in lm.weights if tuple(w.shape) in ((VOCAB, HIDDEN), (HIDDEN, VOCAB))]
    assert len(matrices) == 1 and matrices[0] is lm.backbone.embedding.embeddings
    features = ops.convert_to_numpy(lm.backbone(ids, padding_mask=mask))
    table = ops.convert_to_numpy(lm.backbone.embedding.embeddings)
    np.testing.assert_allclose(logits, features @ table.T, atol=1e-5)


def test_untied_causal_lm_has_its_own_projection():
    ids, mask = token_ids()
    lm = CausalLM(backbone("lstm", causal=True), tie_weights=False)
    logits = ops.convert_to_numpy(lm({"token_ids": ids, "padding_mask": mask}))
    assert len(lm.weights) == len(lm.backbone.weights) + 1
    assert tuple(lm.lm_head.kernel.shape) == (HIDDEN, VOCAB)
    features = ops.convert_to_numpy(lm.backbone(ids, padding_mask=mask))
    kernel = ops.convert_to_numpy(lm.lm_head.kernel)
    np.testing.assert_allclose(logits, features @ kernel, atol=1e-5)


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: TextClassifier(backbone("cnn"), num_classes=3, pooling="max", dropout=0.1),
        lambda: TextClassifier(backbone("lstm", bidirectional=True), num_classes=2, pooling="last"),
        lambda: CausalLM(backbone("transformer", causal=True, position="rotary")),
        lambda: CausalLM(backbone("gru", causal=True), tie_weights=False),
    ],
    ids=["classifier-cnn", "classifier-bilstm", "lm-tied", "lm-untied"],
)
def test_heads_round_trip(make_model, tmp_path):
    ids, mask = token_ids()
    model = make_model()
    loaded = assert_round_trips(model, tmp_path, inputs={"token_ids": ids, "padding_mask": mask})
    assert type(loaded.backbone) is type(model.backbone)


@pytest.mark.parametrize("head_dtype", [None, "mixed_bfloat16"])
def test_mixed_bfloat16_gives_float32_logits(head_dtype):
    ids, mask = token_ids()
    inputs = {"token_ids": ids, "padding_mask": mask}
    kwargs = {} if head_dtype is None else {"dtype": head_dtype}
    bb = backbone("transformer", causal=True, dtype="mixed_bfloat16")
    lm = CausalLM(bb, **kwargs)
    assert ops.convert_to_numpy(lm(inputs)).dtype == np.float32
    assert keras.backend.standardize_dtype(bb(ids).dtype) == "bfloat16"
    assert bb.embedding.embeddings.dtype == "float32"  # variables stay float32
    clf = TextClassifier(backbone("lstm", dtype="mixed_bfloat16"), num_classes=2, **kwargs)
    assert ops.convert_to_numpy(clf(inputs)).dtype == np.float32


def test_classifier_learns_a_tiny_task():
    rng = np.random.default_rng(0)
    ids = rng.integers(4, VOCAB, size=(32, 8)).astype("int32")
    ids[::2, 3] = 7  # half of the sequences contain token 7
    labels = (ids == 7).any(axis=1).astype("int32")
    model = TextClassifier(backbone("bow"), num_classes=2)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=loss,
        jit_compile=keras.backend.backend() == "jax",  # XLA compile time dominates on TF here
    )
    inputs = {"token_ids": ids, "padding_mask": ids != 0}
    before = float(loss(labels, model(inputs)))
    model.fit(inputs, labels, batch_size=32, epochs=20, verbose=0)
    after = float(loss(labels, model(inputs)))
    assert after < 0.8 * before, (before, after)


def test_head_argument_errors():
    with pytest.raises(ConfigError, match="needs a causal backbone"):
        CausalLM(backbone("gru", causal=False))
    with pytest.raises(ConfigError, match="Unknown pooling 'sum'"):
        TextClassifier(backbone(), num_classes=2, pooling="sum")
    with pytest.raises(ConfigError, match="num_classes must be a positive integer"):
        TextClassifier(backbone(), num_classes=0)
    with pytest.raises(ConfigError, match="needs a kerasllm Backbone"):
        TextClassifier(keras.layers.Dense(4), num_classes=2)
    with pytest.raises(ConfigError, match="Pass \\{'token_ids'"):
        TextClassifier(backbone(), num_classes=2)({"ids": token_ids()[0]})
