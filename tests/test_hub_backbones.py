"""keras-hub backbones as kerasllm rows (`--arch hub:<preset or ClassName>`), all offline.

keras-hub classes are built at tiny sizes with random weights; the preset path runs on preset folders written
here with `save_to_preset` (a preset name would need the network). No test reaches the network: a preset that
cannot be loaded is an invalid name, a missing folder or a monkeypatched connection failure.
"""

import json
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest

import kerasllm
from kerasllm.catalog import check_name
from kerasllm.config import TrainConfig
from kerasllm.data.pipeline import encode_lm_texts
from kerasllm.errors import ConfigError, UnknownNameError
from kerasllm.generation.decode import generate
from kerasllm.models import CausalLM, TextClassifier, build_model
from kerasllm.models.hub import HubBackbone, HubPresetBackbone, hub_preset
from kerasllm.models.plugins import resolve_arch
from kerasllm.models.recipes import DEFAULT_RECIPE, recipe_of
from kerasllm.tokenizers import Tokenizer, get_tokenizer
from kerasllm.tokenizers.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from kerasllm.tokenizers.hub import HubTokenizer, hub_id_order
from kerasllm.training import Trainer, open_run
from kerasllm.training.losses import SparseCrossEntropy
from tests.helpers import assert_round_trips

TINY = {"hidden_dim": 16, "num_layers": 1, "arch_options": {"num_heads": 2}, "batch_size": 16, "steps": 3,
        "jit_compile": False, "task_options": {"num_train": 64, "num_validation": 16, "num_test": 16}}
WORDS = ["the", "film", "was", "not", "good", "bad", "great", "a", "movie", "."]
IDS = np.array([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]])


def one_line(error):
    message = str(error.value)
    assert "\n" not in message, message
    return message


def bert_preset(folder, vocabulary):
    """A preset folder holding a tiny random BertBackbone and its BertTokenizer."""
    keras.utils.set_random_seed(1)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocabulary), num_layers=1, num_heads=2,
                                             hidden_dim=8, intermediate_dim=16, max_sequence_length=32)
    backbone.save_to_preset(str(folder))
    keras_hub.models.BertTokenizer(vocabulary=vocabulary).save_to_preset(str(folder))
    return backbone


# ------------------------------------------------------------------------------------ naming and resolving
def test_hub_names_resolve_without_loading_anything():
    assert resolve_arch("hub:BertBackbone", {"num_heads": 2}) == (HubBackbone, {"num_heads": 2, "hub": "BertBackbone"})
    assert resolve_arch("hub:bert_tiny_en_uncased", {}) == (HubPresetBackbone, {"preset": "bert_tiny_en_uncased"})
    assert hub_preset("hub:bert_tiny_en_uncased") == "bert_tiny_en_uncased" and hub_preset("hub:GPT2Backbone") is None
    check_name("architecture", "hub:bert_tiny_en_uncased")  # the CLI's check passes it through
    assert TrainConfig(task="imdb", arch="hub:bert_tiny_en_uncased").import_paths() == []  # names no code
    with pytest.raises(UnknownNameError) as error:
        resolve_arch("hub:BertBackbon", {})
    assert "Did you mean 'BertBackbone'?" in one_line(error)


def test_recipes_fine_tune_presets_and_train_classes_like_the_transformer():
    preset = recipe_of("hub:bert_tiny_en_uncased", "classification")
    assert (preset["optimizer"], preset["learning_rate"], preset["warmup_ratio"]) == ("adamw", 5e-5, 0.1)
    assert recipe_of("hub:BertBackbone", "classification") == recipe_of("transformer", "classification")
    assert recipe_of("hub:BertBackbone", "lm") == DEFAULT_RECIPE


def test_a_bidirectional_class_refuses_to_be_a_language_model():
    with pytest.raises(ConfigError) as error:
        HubBackbone(vocab_size=30, hidden_dim=8, num_layers=1, causal=True, hub="BertBackbone", num_heads=2)
    assert "not causal" in one_line(error) and "GPT2Backbone" in str(error.value)
    with pytest.raises(ConfigError) as error:
        HubBackbone(vocab_size=30, hidden_dim=10, num_layers=1, hub="BertBackbone", num_heads=4)
    assert "not divisible by num_heads=4" in one_line(error)


# ------------------------------------------------------------------------------------ the adapter
@pytest.mark.parametrize("hub", ["BertBackbone", "DistilBertBackbone", "RobertaBackbone", "GPT2Backbone"])
def test_padding_never_changes_real_tokens(hub):
    keras.utils.set_random_seed(0)
    backbone = HubBackbone(vocab_size=30, hidden_dim=8, num_layers=1, hub=hub, num_heads=2)
    alone = keras.ops.convert_to_numpy(backbone(IDS[:1, :4]))
    padded = keras.ops.convert_to_numpy(backbone(IDS))
    np.testing.assert_allclose(padded[0, :4], alone[0], atol=1e-5)
    assert np.all(padded[0, 4:] == 0) and padded.shape == (2, 6, 8)


def test_hub_backbone_round_trips_and_its_lm_head_is_the_token_embedding(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = HubBackbone(vocab_size=30, hidden_dim=8, num_layers=1, causal=True, hub="GPT2Backbone", num_heads=2)
    lm = CausalLM(backbone)
    assert_round_trips(backbone, tmp_path)
    assert_round_trips(lm, tmp_path, inputs={"token_ids": IDS, "padding_mask": IDS != 0}, atol=1e-5)
    table = keras.ops.convert_to_numpy(backbone.hub_backbone.token_embedding.embeddings)
    features = keras.ops.convert_to_numpy(backbone(IDS))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(lm(IDS)), features @ table.T, atol=1e-4)
    assert {id(w) for w in lm.trainable_weights} == {id(w) for w in backbone.trainable_weights}  # tied: no lm_head


def test_a_bert_classifier_trains_saves_and_loads_in_a_fresh_process(tmp_path):
    run_dir = tmp_path / "run"
    metrics = Trainer({"task": "negation_sentiment", "arch": "hub:BertBackbone", **TINY}, run_dir=run_dir).fit(verbose=0)
    assert (run_dir / "metrics.json").exists() and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["arch"] == "hub:BertBackbone" and metrics["train_flops_per_token"] > 0
    run = open_run(run_dir)
    assert type(run.model.backbone) is HubBackbone and run.model.backbone.hub == "BertBackbone"
    expected = keras.ops.convert_to_numpy(run.model({"token_ids": IDS, "padding_mask": IDS != 0}))
    script = ("import json, sys, numpy as np, keras, kerasllm\n"
              "model = keras.saving.load_model(sys.argv[1], safe_mode=True)\n"
              "ids = np.array(json.loads(sys.argv[2]))\n"
              "print(json.dumps(keras.ops.convert_to_numpy(model({'token_ids': ids, 'padding_mask': ids != 0}))"
              ".tolist()))")
    result = subprocess.run([sys.executable, "-c", script, str(run_dir / "model.keras"), json.dumps(IDS.tolist())],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_allclose(np.array(json.loads(result.stdout.strip().splitlines()[-1])), expected, atol=1e-5)


def test_a_gpt2_lm_trains_and_generates_through_the_samplers():
    text = ["the cat sat on the mat and the dog sat on the log"] * 8
    tokenizer = get_tokenizer("char").fit(text)
    encoded = encode_lm_texts(text, tokenizer, max_length=16)
    keras.utils.set_random_seed(0)
    lm = CausalLM(HubBackbone(vocab_size=tokenizer.vocabulary_size, hidden_dim=16, num_layers=1, causal=True,
                              hub="GPT2Backbone", num_heads=2, max_length=32))
    lm.compile(optimizer=keras.optimizers.Adam(1e-2), loss=SparseCrossEntropy())
    inputs = {"token_ids": encoded.token_ids, "padding_mask": encoded.token_ids != PAD_ID}
    history = lm.fit(inputs, encoded.targets, sample_weight=encoded.weights, epochs=8, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]

    prompt = tokenizer.encode("the cat")
    cached = generate(lm, [prompt], max_new_tokens=5, stop_token_ids=(), jit_compile=False)[0].tolist()
    recomputed = generate(lm, [prompt], max_new_tokens=5, stop_token_ids=(), use_cache=False)[0].tolist()
    ids = list(prompt)
    for _ in range(5):  # greedy by hand: argmax of a full forward pass (never pad or bos, as the decoder)
        logits = keras.ops.convert_to_numpy(lm(np.array([ids])))[0, -1]
        logits[[PAD_ID, BOS_ID]] = -np.inf
        ids.append(int(np.argmax(logits)))
    assert cached == recomputed == ids  # the prompt, then 5 new tokens


def test_prefill_then_step_equals_the_full_forward_pass():
    keras.utils.set_random_seed(0)
    backbone = HubBackbone(vocab_size=30, hidden_dim=8, num_layers=2, causal=True, hub="GPT2Backbone", num_heads=2)
    ids = np.array([[5, 6, 7, 8, 9], [9, 10, 11, 12, 13]])
    state = backbone.prefill(ids, backbone.initial_state(2, max_length=8), length=3)
    features, state = backbone.step(ids[:, 3], state)
    full = keras.ops.convert_to_numpy(backbone(ids[:, :4]))[:, 3]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(features), full, atol=1e-5)
    assert keras.ops.convert_to_numpy(state["index"]).tolist() == [4, 4]


def test_bench_rows_size_a_hub_class_like_the_transformer():
    from kerasllm.bench.sizing import Sizer

    config = TrainConfig(task="negation_sentiment", arch="hub:BertBackbone", num_layers=1,
                         task_options=TINY["task_options"], arch_options={"num_heads": 2})
    result = Sizer().size(config, 40_000)
    assert abs(result.relative_error) <= 0.05 and result.hidden_dim % 2 == 0


# ------------------------------------------------------------------------------------ presets (local folders)
def test_a_preset_tokenizer_takes_kerasllm_ids_and_the_embedding_follows(tmp_path):
    vocabulary = ["[PAD]", *WORDS, "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # special tokens where kerasllm has words
    original = bert_preset(tmp_path / "preset", vocabulary)
    tokenizer = HubTokenizer(preset=str(tmp_path / "preset"), sequence_length=6)
    ids = tokenizer.encode("the film was not good .")
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID and len(ids) == 6  # [CLS] ... [SEP], cut to keep [SEP]
    assert tokenizer.decode(ids) == "the film was not" and tokenizer.encode("zzz")[1] == UNK_ID
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    loaded = Tokenizer.load(path)  # offline: the vocabulary is in the file
    assert loaded.encode("a great movie") == tokenizer.encode("a great movie")

    backbone = HubPresetBackbone(tokenizer.vocabulary_size, 128, 2, preset=str(tmp_path / "preset"), max_length=32)
    order = hub_id_order(len(vocabulary), [0, vocabulary.index("[UNK]"), vocabulary.index("[CLS]"),
                                           vocabulary.index("[SEP]")])
    table = keras.ops.convert_to_numpy(original.token_embedding.embeddings)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(backbone.hub_backbone.token_embedding.embeddings),
                                  table[order])
    kerasllm_ids = np.array([tokenizer.encode("a great movie")])
    hub_ids = np.array([[order[i] for i in kerasllm_ids[0]]])
    ones = np.ones_like(hub_ids)
    raw = original({"token_ids": hub_ids, "segment_ids": 0 * ones, "padding_mask": ones})["sequence_output"]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(backbone(kerasllm_ids)), keras.ops.convert_to_numpy(raw),
                               atol=1e-5)
    assert (backbone.hidden_dim, backbone.num_layers) == (8, 1)  # the preset's sizes, not the 128 / 2 asked


def test_a_gpt2_preset_gets_new_ids_for_the_tokens_it_lacks(tmp_path):
    vocabulary = {"<|endoftext|>": 0, "a": 1, "b": 2, "ab": 3, "Ġ": 4, "Ġa": 5, "Ġab": 6}
    merges = ["a b", "Ġ ab"]
    keras.utils.set_random_seed(2)
    original = keras_hub.models.GPT2Backbone(vocabulary_size=7, num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=16)
    original.save_to_preset(str(tmp_path / "gpt2"))
    keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges).save_to_preset(str(tmp_path / "gpt2"))
    config = TrainConfig(task="negation_sentiment", arch=f"hub:{tmp_path / 'gpt2'}", max_length=16)
    tokenizer = kerasllm.training.fit_tokenizer(config, kerasllm.data.get_task("negation_sentiment", num_train=8))
    # pad, unk and bos are new (hub rows 7, 8, 9 at kerasllm ids 0, 1, 2), eos is <|endoftext|> (hub 0), and
    # the tokens they displace move: hub 3 ("ab") is kerasllm 7. No [CLS]/[SEP] frame.
    assert tokenizer.order.tolist() == [7, 8, 9, 0, 4, 5, 6, 3, 1, 2]
    assert tokenizer.vocabulary_size == 10 and tokenizer.encode("ab ab") == [7, 6]
    assert len(tokenizer.encode("ab" * 20)) == 20  # no frame, no cut: the lm pipeline windows the stream
    assert tokenizer.decode([7, EOS_ID, 6]) == "ab ab"

    class Info:
        kind, num_classes, max_length = "lm", None, 16

    lm = build_model(config, Info, tokenizer.vocabulary_size)
    hub = lm.backbone.hub_backbone
    assert hub.vocabulary_size == 10 and type(lm.backbone) is HubPresetBackbone
    hub_ids = np.array([[3, 6, 0]])  # "ab", "Ġab", <|endoftext|>
    ours = np.array([[7, 6, EOS_ID]])
    expected = original({"token_ids": hub_ids, "padding_mask": np.ones_like(hub_ids)})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(lm.backbone(ours)), keras.ops.convert_to_numpy(expected),
                               atol=1e-5)


# ------------------------------------------------------------------------------------ a preset that cannot load
@pytest.mark.parametrize("preset", ["no_such_preset_xyz", "/nonexistent/preset/folder"])
def test_an_unloadable_preset_is_one_line_and_writes_no_run(preset, tmp_path):
    with pytest.raises(ConfigError) as error:
        Trainer({"task": "negation_sentiment", "arch": f"hub:{preset}", **TINY, "arch_options": {}},
                run_dir=tmp_path / "run")
    message = one_line(error)
    assert message.startswith(f"Cannot load the keras-hub tokenizer of preset '{preset}' (not a known preset")
    assert "Check the name (keras_hub.models.Backbone.presets) and your connection" in message
    assert not (tmp_path / "run").exists()


def test_a_failed_download_names_the_connection(monkeypatch):
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Max retries exceeded with url: /v1/models\n(more lines)")

    monkeypatch.setattr(keras_hub.models.Backbone, "from_preset", offline)
    with pytest.raises(ConfigError) as error:
        HubPresetBackbone(30, 8, 1, preset="bert_tiny_en_uncased")
    assert one_line(error).startswith("Cannot load the keras-hub backbone of preset 'bert_tiny_en_uncased' "
                                      "(ConnectionError: Max retries exceeded")


def test_a_preset_refuses_sizes_it_fixes():
    with pytest.raises(ConfigError) as error:
        HubPresetBackbone(30, 8, 1, preset="bert_tiny_en_uncased", num_heads=2)
    assert "sizes are fixed" in one_line(error)


def test_a_bench_puts_hub_rows_beside_the_others(tmp_path):
    from kerasllm.bench import Cell, Suite, run_bench, select
    from kerasllm.bench.results import collect_rows

    bert_preset(tmp_path / "preset", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])
    preset = f"hub:{tmp_path / 'preset'}"
    suite = Suite(name="hub", cells=[Cell("negation_sentiment", task_options=TINY["task_options"])],
                  settings={"num_layers": 1, "batch_size": 16, "steps": 2, "jit_compile": False})
    suite = select(suite, archs=["bow", preset], params=5_000)
    with pytest.raises(ConfigError):
        select(suite, archs=["hub:no_such_preset_xyz"])  # refused before the bench starts
    lines = []
    result = run_bench(suite, tmp_path / "out", log=lines.append)
    assert not result.failed
    rows = {row["arch"]: row for row in collect_rows(tmp_path / "out")}
    assert rows["bow"]["params_target"] == 5_000 and rows["hub:preset"]["params_target"] is None
    # the preset's sizes are its own: the table leaves the config's unused hidden_dim / num_layers out
    assert rows["hub:preset"]["hidden_dim"] is None is rows["hub:preset"]["num_layers"]
    assert rows["bow"]["hidden_dim"] > 0
    assert any("a keras-hub preset's sizes are fixed" in line for line in lines)
    run = open_run(rows["hub:preset"]["run_dir"])  # the preset's own tokenizer and fine-tuning recipe
    assert type(run.tokenizer) is HubTokenizer and run.config.learning_rate == 5e-5
    assert type(run.model.backbone) is HubPresetBackbone and run.tokenizer.encode("the film")[0] == BOS_ID
