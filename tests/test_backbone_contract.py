"""The backbone contract, checked for every registered backbone (a student's one included).

For each backbone (causal and not, plus variants): padding never changes real-token features,
causal backbones never look ahead, configs and `.keras` files round-trip (also into a fresh
process), and a tiny language model learns.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerasllm.errors import ConfigError, UnknownNameError
from kerasllm.models import (
    Backbone,
    CausalLM,
    get_backbone,
    list_backbones,
    register_backbone,
)
from tests.helpers import COMPILE_SHORT_RUNS, assert_round_trips, functional_wrapper

VOCAB, HIDDEN, LAYERS, SEQ = 50, 16, 2, 12
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@register_backbone("test_token_mlp")
class TokenMLPBackbone(Backbone):
    """A student's backbone: a per-token MLP, no mixing (registered here, nowhere else)."""

    default_position = "none"

    def build(self, token_ids_shape):
        super().build(token_ids_shape)
        self.mlp = []
        for i in range(self.num_layers):
            dense = keras.layers.Dense(
                self.hidden_dim, activation="relu", name=f"mlp_{i}", dtype=self.dtype_policy
            )
            dense.build((*token_ids_shape, self.hidden_dim))
            self.mlp.append(dense)

    def encode(self, x, padding_mask, training=None):
        for dense in self.mlp:
            x = dense(x)
        return x


def _cases():
    cases = []
    for name in list_backbones():
        cases.append((f"{name}-noncausal", name, {"causal": False}))
        cases.append((f"{name}-causal", name, {"causal": True}))
    cases.append(("lstm-bidirectional", "lstm", {"bidirectional": True}))
    for position in ("sinusoidal", "rotary", "none"):
        for causal in (False, True):
            kind = "causal" if causal else "noncausal"
            settings = {"position": position, "causal": causal}
            cases.append((f"transformer-{position}-{kind}", "transformer", settings))
    return cases


CASES = _cases()
CASE_IDS = [case_id for case_id, _, _ in CASES]
CAUSAL_CASES = [case for case in CASES if case[2].get("causal")]
# Saving does not depend on `causal`; one case per backbone and per variant is enough.
ROUND_TRIP_CASES = [
    case
    for case in CASES
    if case[0].endswith("-noncausal") and not case[0].startswith("transformer-")
] + [
    case
    for case in CASES
    if case[0] in ("lstm-bidirectional", "transformer-rotary-causal")
]


def build(name, **kwargs):
    keras.utils.set_random_seed(0)
    settings = {"vocab_size": VOCAB, "hidden_dim": HIDDEN, "num_layers": LAYERS, **kwargs}
    return get_backbone(name, **settings)


def random_ids(batch, length, seed=0):
    return np.random.default_rng(seed).integers(1, VOCAB, size=(batch, length)).astype("int32")


def round_trip_inputs():
    ids = random_ids(3, SEQ, seed=1)
    ids[1, 7:] = 0
    ids[2, 3:] = 0
    return {"token_ids": ids, "padding_mask": ids != 0}


@pytest.mark.parametrize("case_id,name,kwargs", CASES, ids=CASE_IDS)
def test_padding_invariance(case_id, name, kwargs):
    backbone = build(name, dropout=0.1, **kwargs)
    short = random_ids(1, 7, seed=2)
    batch = random_ids(3, SEQ, seed=3)
    batch[0, :] = 0
    batch[0, :7] = short[0]
    batch[2, 4:] = 0
    alone = keras.ops.convert_to_numpy(backbone(short))
    padded = keras.ops.convert_to_numpy(backbone(batch, padding_mask=batch != 0))
    np.testing.assert_allclose(padded[0, :7], alone[0], atol=1e-5)
    np.testing.assert_array_equal(padded[0, 7:], 0.0)  # padded positions are zero


@pytest.mark.parametrize("case_id,name,kwargs", CAUSAL_CASES, ids=[c[0] for c in CAUSAL_CASES])
def test_causality(case_id, name, kwargs):
    backbone = build(name, **kwargs)
    ids = random_ids(2, SEQ, seed=4)
    cuts = (0, 5, SEQ - 2)
    variants = [ids]
    for t in cuts:  # the same sequences with every token after t replaced
        changed = ids.copy()
        changed[:, t + 1 :] = random_ids(2, SEQ - t - 1, seed=5 + t)
        variants.append(changed)
    # One call on the stacked variants (rows are independent) keeps the test fast.
    out = keras.ops.convert_to_numpy(backbone(np.concatenate(variants)))
    out = out.reshape(len(variants), 2, SEQ, HIDDEN)
    for i, t in enumerate(cuts, start=1):
        np.testing.assert_allclose(out[i, :, : t + 1], out[0, :, : t + 1], atol=1e-5)
        assert not np.allclose(out[i, :, t + 1 :], out[0, :, t + 1 :], atol=1e-5)  # not vacuous


@pytest.mark.parametrize("case_id,name,kwargs", ROUND_TRIP_CASES, ids=[c[0] for c in ROUND_TRIP_CASES])
def test_round_trip(case_id, name, kwargs, tmp_path):
    assert_round_trips(build(name, dropout=0.1, **kwargs), tmp_path, inputs=round_trip_inputs())


# Reads "[case_id, folder]" lines from stdin as the parent saves them, so its imports and
# loads overlap with the parent's work; prints one JSON line of max |difference| (or errors).
_FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras, numpy as np
    import kerasllm.models
    import tests.test_backbone_contract  # registers the student's backbone
    inputs = dict(np.load(sys.argv[1]))
    results = {}
    for line in sys.stdin:
        case_id, folder = json.loads(line)
        try:
            model = keras.saving.load_model(folder + "/object.keras", safe_mode=True)
            actual = keras.ops.convert_to_numpy(model(inputs))
            expected = np.load(folder + "/expected.npy")
            results[case_id] = float(np.max(np.abs(actual - expected)))
        except Exception as error:
            results[case_id] = f"{type(error).__name__}: {error}"
    print("RESULTS " + json.dumps(results))
    """
)


def test_saved_backbones_load_in_a_fresh_process(tmp_path):
    """Each round-trip case's `.keras` file loads in one new process, which has only imported kerasllm."""
    inputs = round_trip_inputs()
    np.savez(tmp_path / "inputs.npz", **inputs)
    with open(tmp_path / "stdout.txt", "w") as out, open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", _FRESH_PROCESS_SCRIPT, str(tmp_path / "inputs.npz")],
                                cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=out, stderr=err, text=True)
        try:
            for case_id, name, kwargs in ROUND_TRIP_CASES:
                folder = tmp_path / case_id
                folder.mkdir()
                model = functional_wrapper(build(name, dropout=0.1, **kwargs), inputs)
                model.save(folder / "object.keras")
                np.save(folder / "expected.npy", keras.ops.convert_to_numpy(model(inputs)))
                proc.stdin.write(json.dumps([case_id, str(folder)]) + "\n")
                proc.stdin.flush()
        finally:
            proc.stdin.close()
            proc.wait(timeout=300)
    lines = [line for line in (tmp_path / "stdout.txt").read_text().splitlines() if line.startswith("RESULTS ")]
    assert lines, f"the fresh process did not report; its stderr:\n{(tmp_path / 'stderr.txt').read_text()[-3000:]}"
    results = json.loads(lines[-1][len("RESULTS "):])
    assert results == {case_id: pytest.approx(0, abs=1e-6) for case_id, _, _ in ROUND_TRIP_CASES}


def test_bidirectional_matches_keras_bidirectional():
    backbone = build("lstm", num_layers=1, bidirectional=True)
    ids = random_ids(2, SEQ, seed=6)
    ids[1, 5:] = 0
    mask = ids != 0
    features = keras.ops.convert_to_numpy(backbone(ids, padding_mask=mask))
    reference = keras.layers.Bidirectional(keras.layers.LSTM(HIDDEN // 2, return_sequences=True))
    embedded = backbone.embedding(ids) * mask[:, :, None]
    reference(embedded, mask=mask)  # builds it
    reference.forward_layer.set_weights(backbone.forward_layers[0].get_weights())
    reference.backward_layer.set_weights(backbone.backward_layers[0].get_weights())
    expected = keras.ops.convert_to_numpy(reference(embedded, mask=mask)) * mask[:, :, None]
    np.testing.assert_allclose(features, expected, atol=1e-5)


def repeating_pattern(batch=16, length=SEQ, period=5):
    starts = np.arange(batch) % period
    ids = 4 + (starts[:, None] + np.arange(length + 1)[None, :]) % period
    return ids[:, :-1].astype("int32"), ids[:, 1:].astype("int32")


def fit_briefly(model, inputs, targets, steps=20):
    """Runs `steps` Adam steps on one batch; returns the losses of the first and last step."""
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=COMPILE_SHORT_RUNS,
    )
    # One batch per epoch, so each epoch's loss is the loss of that step before its update.
    history = model.fit(inputs, targets, batch_size=len(targets), epochs=steps, verbose=0)
    return history.history["loss"][0], history.history["loss"][-1]


@pytest.mark.parametrize("name", list_backbones())
def test_language_model_loss_drops(name):
    backbone = build(name, causal=True)
    x, y = repeating_pattern()
    before, after = fit_briefly(CausalLM(backbone), {"token_ids": x, "padding_mask": x != 0}, y)
    assert np.isfinite(after)
    assert after < 0.8 * before, (before, after)


def test_list_backbones_has_the_builtins():
    assert list_backbones()[:6] == ["bow", "rnn", "gru", "lstm", "cnn", "transformer"]
    assert "test_token_mlp" in list_backbones()


def test_default_positions():
    for name in ("bow", "rnn", "gru", "lstm", "cnn"):
        assert build(name).position == "none"
    assert build("transformer").position == "learned"


def test_unknown_backbone_name_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'lstm'"):
        get_backbone("lstmm", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=LAYERS)


def test_unknown_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="Did you mean 'num_heads'"):
        build("transformer", num_head=2)
    with pytest.raises(ConfigError, match="Unknown setting 'num_heads'"):
        build("lstm", num_heads=2)


@pytest.mark.parametrize(
    "name,kwargs,match",
    [
        ("gru", {"hidden_dim": 0}, "hidden_dim must be a positive integer"),
        ("gru", {"num_layers": -1}, "num_layers must be a positive integer"),
        ("bow", {"vocab_size": 0}, "vocab_size must be a positive integer"),
        ("cnn", {"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ("cnn", {"dropout": -0.1}, r"dropout must be in \[0, 1\)"),
        ("lstm", {"bidirectional": True, "causal": True}, "cannot be bidirectional and causal"),
        ("lstm", {"bidirectional": True, "hidden_dim": 15}, "Use an even hidden_dim"),
        ("lstm", {"position": "rotary"}, "has no attention"),
        ("cnn", {"position": "rotary"}, "has no attention"),
        ("transformer", {"position": "alibi"}, "Unknown position type 'alibi'"),
        ("transformer", {"hidden_dim": 18, "num_heads": 4}, "not divisible by num_heads"),
        ("transformer", {"hidden_dim": 12, "position": "rotary"}, "even head width"),
        ("cnn", {"kernel_size": 0}, "kernel_size must be a positive integer"),
    ],
)
def test_bad_arguments_raise_config_errors(name, kwargs, match):
    settings = {"vocab_size": VOCAB, "hidden_dim": HIDDEN, "num_layers": LAYERS, **kwargs}
    with pytest.raises(ConfigError, match=match):
        get_backbone(name, **settings)


def test_config_has_every_constructor_argument():
    backbone = build(
        "transformer", causal=True, position="rotary", num_heads=2, intermediate_dim=24
    )
    config = backbone.get_config()
    for key, value in {
        "vocab_size": VOCAB,
        "hidden_dim": HIDDEN,
        "num_layers": LAYERS,
        "dropout": 0.0,
        "causal": True,
        "position": "rotary",
        "max_length": 512,
        "num_heads": 2,
        "intermediate_dim": 24,
        "layer_norm_epsilon": 1e-5,
    }.items():
        assert config[key] == value, key
    assert build("lstm", bidirectional=True).get_config()["bidirectional"] is True
    assert build("cnn", kernel_size=3).get_config()["kernel_size"] == 3


def test_register_backbone_rejects_non_backbones_and_duplicates():
    with pytest.raises(ConfigError, match="not a Backbone subclass"):
        register_backbone("not_a_backbone")(keras.layers.Dense)
    with pytest.raises(ConfigError, match="already registered"):
        register_backbone("lstm")(TokenMLPBackbone)


def test_sequence_longer_than_learned_table_is_a_config_error():
    backbone = build("transformer", max_length=8)
    with pytest.raises(ConfigError, match="exceed max_length=8"):
        backbone(random_ids(1, 9))
