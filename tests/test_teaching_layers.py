"""The labs' reference layers (kerasllm.labs.reference) against the Keras / keras-hub built-ins, same weights."""

import zipfile

import keras
import keras_hub
import numpy as np
import pytest
from keras import ops

from kerasllm.errors import ConfigError
from kerasllm.labs.reference import (
    CausalConvBlock,
    GRUCell,
    LSTMCell,
    ScaledDotProductAttention,
    SimpleRNNCell,
    SinusoidalPositionEncoding,
)
from tests.helpers import assert_round_trips

BATCH, SEQ, INPUT, UNITS = 3, 5, 4, 6
LENGTHS = (SEQ, 3, 1)
ATOL = 1e-5


def random(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def mask(lengths=LENGTHS, length=SEQ):
    return np.arange(length)[None, :] < np.array(lengths)[:, None]  # (B, T) bool


CELLS = [(SimpleRNNCell, keras.layers.SimpleRNNCell), (LSTMCell, keras.layers.LSTMCell),
         (GRUCell, keras.layers.GRUCell)]


@pytest.mark.parametrize("ours, theirs", CELLS, ids=lambda c: c.__name__)
def test_cells_have_the_keras_weights_and_match_keras_over_a_masked_sequence(ours, theirs):
    x, padding = random(BATCH, SEQ, INPUT), mask()
    reference = keras.layers.RNN(theirs(UNITS, bias_initializer="random_normal"), return_sequences=True,
                                 return_state=True)
    expected = reference(x, mask=padding)
    layer = keras.layers.RNN(ours(UNITS), return_sequences=True, return_state=True)
    layer.build(x.shape)
    ref_weights = reference.cell.weights
    assert [(w.path.split("/")[-1], tuple(w.shape)) for w in layer.cell.weights] == [
        (w.path.split("/")[-1], tuple(w.shape)) for w in ref_weights]
    layer.cell.set_weights([w.numpy() for w in ref_weights])
    actual = layer(x, mask=padding)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):  # sequences, then the final states
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(e), atol=ATOL)
    # Padding never reaches the real steps: the short sequence alone gives the same outputs.
    alone = layer(x[1:2, :3])
    np.testing.assert_allclose(ops.convert_to_numpy(alone[0]), ops.convert_to_numpy(actual[0])[1:2, :3], atol=ATOL)
    assert ours(UNITS).state_size == theirs(UNITS).state_size


def test_lstm_forget_bias_starts_at_one_like_keras():
    ours, theirs = LSTMCell(UNITS), keras.layers.LSTMCell(UNITS)
    ours.build((None, INPUT))
    theirs.build((None, INPUT))
    np.testing.assert_array_equal(ours.bias.numpy(), theirs.bias.numpy())


@pytest.mark.parametrize("cell", [SimpleRNNCell, LSTMCell, GRUCell], ids=lambda c: c.__name__)
def test_cells_round_trip_inside_an_rnn(cell, tmp_path):
    assert_round_trips(cell(UNITS), tmp_path)
    # keras.layers.RNN.from_config pops "cell" from the dict it is given, so the shared helper's config
    # comparison cannot run on the wrapper; the .keras save/load of a model holding it is checked here.
    inputs = keras.Input((SEQ, INPUT))
    model = keras.Model(inputs, keras.layers.RNN(cell(UNITS), return_sequences=True)(inputs))
    x = random(2, SEQ, INPUT)
    model.save(tmp_path / "rnn.keras")
    loaded = keras.saving.load_model(tmp_path / "rnn.keras", safe_mode=True)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), atol=1e-6)


REFERENCE_LAYERS = [SimpleRNNCell, LSTMCell, GRUCell, ScaledDotProductAttention, SinusoidalPositionEncoding,
                    CausalConvBlock]


@pytest.mark.parametrize("cls", REFERENCE_LAYERS, ids=lambda c: c.__name__)
def test_the_reference_layers_keep_the_registered_names_they_had_in_kerasllm_layers(cls):
    assert keras.saving.get_registered_name(cls) == f"kerasllm>{cls.__name__}"
    assert cls.__module__.startswith("kerasllm.labs.reference.")


def test_a_model_file_written_before_the_move_to_kerasllm_labs_reference_still_loads(tmp_path):
    """Files saved when these layers lived in kerasllm.layers name the old modules; the registered names find them."""
    inputs = keras.Input((SEQ, INPUT))
    features = keras.layers.RNN(GRUCell(UNITS), return_sequences=True)(inputs)
    model = keras.Model(inputs, CausalConvBlock(kernel_size=2)(SinusoidalPositionEncoding()(features)))
    model.save(tmp_path / "now.keras")
    with zipfile.ZipFile(tmp_path / "now.keras") as now, zipfile.ZipFile(tmp_path / "before.keras", "w") as before:
        for item in now.infolist():
            data = now.read(item)
            if item.filename == "config.json":
                assert data.count(b'"kerasllm.labs.reference.') == 3
                data = data.replace(b'"kerasllm.labs.reference.', b'"kerasllm.layers.')
            before.writestr(item, data)
    loaded = keras.saving.load_model(tmp_path / "before.keras", safe_mode=True)
    x = random(2, SEQ, INPUT)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), atol=1e-6)


def test_cells_reject_bad_units():
    with pytest.raises(ConfigError, match="positive integer"):
        SimpleRNNCell(0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_scaled_dot_product_attention_matches_keras_ops(causal, padded):
    q, k, v = random(BATCH, SEQ, 8, seed=1), random(BATCH, SEQ, 8, seed=2), random(BATCH, SEQ, 8, seed=3)
    padding = mask() if padded else None
    out, weights = ScaledDotProductAttention(causal=causal)(q, k, v, padding_mask=padding,
                                                             return_attention_scores=True)
    keras_mask = None if padding is None else padding[:, None, None, :]  # (B, H, T, S)
    expected = ops.dot_product_attention(q[:, :, None], k[:, :, None], v[:, :, None], mask=keras_mask,
                                         is_causal=causal)[:, :, 0]  # one head
    np.testing.assert_allclose(ops.convert_to_numpy(out), ops.convert_to_numpy(expected), atol=ATOL)
    np.testing.assert_allclose(ops.convert_to_numpy(weights).sum(-1), 1.0, atol=ATOL)
    if causal:
        assert np.all(np.triu(ops.convert_to_numpy(weights), k=1) == 0)


def test_scaled_dot_product_attention_matches_keras_attention_layer_and_round_trips(tmp_path):
    q, v = random(BATCH, SEQ, 8, seed=1), random(BATCH, SEQ, 8, seed=3)
    # keras.layers.Attention with a learned scale fixed at 1/sqrt(d_k) is the same rule.
    reference = keras.layers.Attention(use_scale=True)
    reference([q / np.sqrt(8.0), v])
    expected = reference([q / np.sqrt(8.0), v], mask=[None, mask()], use_causal_mask=True)
    actual = ScaledDotProductAttention(causal=True)(q, v, v, padding_mask=mask())
    np.testing.assert_allclose(ops.convert_to_numpy(actual), ops.convert_to_numpy(expected), atol=ATOL)
    assert_round_trips(ScaledDotProductAttention(causal=True), tmp_path,
                       inputs={"query": q, "key": v, "value": v})


def test_a_query_with_no_visible_key_gets_zeros_not_nan():
    x = random(1, SEQ, 8)
    out = ScaledDotProductAttention()(x, x, x, padding_mask=np.zeros((1, SEQ), bool))
    assert np.all(ops.convert_to_numpy(out) == 0.0)


@pytest.mark.parametrize("start_index", [0, 7])
def test_sinusoidal_position_encoding_matches_keras_hub(start_index, tmp_path):
    x = random(2, SEQ, 10)
    expected = keras_hub.layers.SinePositionEncoding()(x, start_index=start_index)
    actual = SinusoidalPositionEncoding()(x, start_index=start_index)
    np.testing.assert_allclose(ops.convert_to_numpy(actual), ops.convert_to_numpy(expected), atol=ATOL)
    assert_round_trips(SinusoidalPositionEncoding(max_wavelength=500), tmp_path, inputs={"inputs": x})


@pytest.mark.parametrize("kernel_size, dilation_rate", [(3, 1), (2, 3), (1, 1)])
def test_causal_conv_block_matches_keras_conv1d(kernel_size, dilation_rate, tmp_path):
    x, padding = random(BATCH, SEQ, 8), mask()
    conv = keras.layers.Conv1D(8, kernel_size, padding="causal", dilation_rate=dilation_rate,
                               activation="relu", bias_initializer="random_normal")
    masked = x * padding[:, :, None]
    expected = x + ops.convert_to_numpy(conv(masked))
    block = CausalConvBlock(kernel_size=kernel_size, dilation_rate=dilation_rate)
    block.build(x.shape)
    assert [tuple(w.shape) for w in block.weights] == [tuple(w.shape) for w in conv.weights]
    block.set_weights(conv.get_weights())
    actual = ops.convert_to_numpy(block(x, padding_mask=padding))
    np.testing.assert_allclose(actual, expected, atol=ATOL)
    changed = x.copy()
    changed[:, -1] += 1.0  # the future never reaches the past
    np.testing.assert_allclose(ops.convert_to_numpy(block(changed))[:, :-1],
                               ops.convert_to_numpy(block(x))[:, :-1], atol=ATOL)
    assert_round_trips(block, tmp_path, inputs={"inputs": x, "padding_mask": padding})


def test_nucleus_sampler_draws_what_keras_hub_top_p_sampler_draws(tmp_path):
    from kerasllm.labs.sampling import NucleusSampler, nucleus

    rng = np.random.default_rng(0)
    for p in (0.3, 0.7, 0.95):
        probabilities = rng.dirichlet(np.ones(6) * 0.7).astype("float32")
        batch = np.tile(probabilities, (3000, 1))
        ours = ops.convert_to_numpy(NucleusSampler(p=p, seed=1).get_next_token(batch))
        theirs = ops.convert_to_numpy(keras_hub.samplers.TopPSampler(p=p, seed=1).get_next_token(batch))
        assert set(ours.tolist()) == set(theirs.tolist()) == nucleus(probabilities, p)
        kept = sorted(nucleus(probabilities, p))
        expected = probabilities[kept] / probabilities[kept].sum()
        for draws in (ours, theirs):
            frequencies = np.bincount(draws, minlength=6)[kept] / len(draws)
            np.testing.assert_allclose(frequencies, expected, atol=0.04)
    greedy = rng.dirichlet(np.ones(9), size=5).astype("float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(NucleusSampler(p=1e-6).get_next_token(greedy)),
                                  greedy.argmax(-1))
    assert_round_trips(NucleusSampler(p=0.8, seed=3), tmp_path)
