"""Per-architecture training recipes: what they fill in, what a run records, and that each one learns.

The learning check trains a tiny word LM per architecture on the first lines of PTB (a fixture made from
`../shared/data/ptb` at test time) and asserts each beats the unigram perplexity of that text clearly.
"""

import collections
import json
import math

import pytest

from kerasllm.config import TrainConfig
from kerasllm.errors import UnknownNameError
from kerasllm.models import list_backbones
from kerasllm.models.backbone import Backbone, register_backbone
from kerasllm.models.recipes import DEFAULT_RECIPE, recipe_of, with_recipe
from kerasllm.training import Trainer
from kerasllm.training.optimizers import OPTIMIZERS, build_optimizer

BUILT_IN = ("bow", "rnn", "gru", "lstm", "cnn", "transformer")
TINY_MQAR = {"num_train": 32, "num_validation": 16, "num_test": 16}


def test_the_recipe_fills_only_the_settings_a_config_leaves_open():
    lstm = with_recipe(TrainConfig(task="ptb", arch="lstm"), "lm")
    assert (lstm.optimizer, lstm.learning_rate, lstm.clipnorm) == ("sgd", 20.0, 0.25)
    assert lstm.min_lr_ratio == DEFAULT_RECIPE["min_lr_ratio"]  # not in the LSTM recipe: the default
    mine = with_recipe(TrainConfig(task="ptb", arch="lstm", optimizer="adamw", learning_rate=3e-4), "lm")
    assert (mine.optimizer, mine.learning_rate, mine.clipnorm) == ("adamw", 3e-4, 0.25)
    classifier = with_recipe(TrainConfig(task="sst2", arch="lstm"), "classification")
    assert {key: getattr(classifier, key) for key in DEFAULT_RECIPE} == recipe_of("lstm", "classification")
    assert with_recipe(lstm, "lm") == lstm  # filling in twice changes nothing


@pytest.mark.parametrize("arch", list_backbones())
@pytest.mark.parametrize("kind", ["classification", "lm", "seq2seq"])
def test_every_recipe_names_recipe_settings_and_a_known_optimizer(arch, kind):
    recipe = recipe_of(arch, kind)
    assert set(recipe) == set(DEFAULT_RECIPE)
    OPTIMIZERS.get(recipe["optimizer"])
    with_recipe(TrainConfig(task="ptb", arch=arch), kind)  # the values pass the config's checks


def test_a_students_backbone_brings_its_recipe_and_subclasses_inherit_theirs():
    @register_backbone("test_recipe_mlp")
    class RecipeMLP(Backbone):
        recipe = {"lm": {"learning_rate": 5e-3}}

        def encode(self, x, padding_mask, training=None):
            return x

    class Deeper(RecipeMLP):
        pass

    assert with_recipe(TrainConfig(task="ptb", arch="test_recipe_mlp"), "lm").learning_rate == 5e-3
    assert recipe_of("test_recipe_mlp", "lm")["optimizer"] == DEFAULT_RECIPE["optimizer"]
    assert recipe_of("test_recipe_mlp", "classification") == DEFAULT_RECIPE
    assert Deeper.recipe == RecipeMLP.recipe
    assert recipe_of("tfidf_lr", "classification") == DEFAULT_RECIPE  # not a backbone: the defaults, unused
    # A cell named as the arch runs inside rnn (kerasllm.models.plugins), so it trains by rnn's recipe.
    assert recipe_of("keras.layers:GRUCell", "lm") == recipe_of("rnn", "lm") != DEFAULT_RECIPE


def test_a_run_records_the_recipe_it_trained_with_and_resumes_from_the_open_config(ptb_slice, tmp_path):
    settings = {"task": "ptb", "arch": "gru", "data_dir": str(ptb_slice), "steps": 2, "hidden_dim": 8,
                "num_layers": 1, "jit_compile": False}
    trainer = Trainer(settings, run_dir=tmp_path / "run")
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert {key: recorded[key] for key in DEFAULT_RECIPE} == recipe_of("gru", "lm")
    assert type(build_optimizer(trainer.config, 1.0)).__name__ == "SGD"
    # The same open settings name the same run: the recorded config is the filled-in one.
    assert Trainer(settings, run_dir=tmp_path / "run").config == trainer.config


def test_an_unknown_optimizer_is_refused_before_the_run_is_made(tmp_path):
    with pytest.raises(UnknownNameError, match="Unknown optimizer 'adam'.*adamw"):
        Trainer({"task": "mqar", "arch": "gru", "optimizer": "adam", "task_options": TINY_MQAR},
                run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- each architecture learns
VOCABULARY = 1000  # the fixture's tokenizer keeps the 996 most frequent words (+ 4 reserved ids)


@pytest.fixture(scope="module")
def ptb_slice(shared_data, tmp_path_factory):
    """The first 3000 training and 300 validation/test lines of PTB, as a ptb/ data folder."""
    root = tmp_path_factory.mktemp("ptb_slice")
    (root / "ptb").mkdir()
    for name, lines in (("ptb.train.txt", 3000), ("ptb.valid.txt", 300), ("ptb.test.txt", 300)):
        text = (shared_data / "ptb" / name).read_text().splitlines()[:lines]
        (root / "ptb" / name).write_text("\n".join(text) + "\n")
    return root


def unigram_perplexity(folder, vocabulary):
    """Validation perplexity of train-set word frequencies, with the tokenizer's vocabulary cut: words
    outside the most frequent `vocabulary - 4` share one unknown id, as in the model's vocabulary."""
    counts = collections.Counter()
    for line in (folder / "ptb.train.txt").read_text().splitlines():
        counts.update(line.split() + ["<eos>"])
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = {word for word, _ in ranked[: vocabulary - 4]}
    merged = collections.Counter({word: counts[word] for word in kept})
    merged["<unknown>"] = sum(count for word, count in counts.items() if word not in kept)
    total = sum(merged.values())
    words = [w if w in kept else "<unknown>" for line in (folder / "ptb.valid.txt").read_text().splitlines()
             for w in line.split() + ["<eos>"]]
    return math.exp(-sum(math.log(merged[w] / total) for w in words) / len(words))


@pytest.mark.parametrize("arch", BUILT_IN)
def test_each_architecture_beats_the_unigram_perplexity_of_ptb_text_with_its_recipe(arch, ptb_slice, tmp_path):
    unigram = unigram_perplexity(ptb_slice / "ptb", VOCABULARY)
    trainer = Trainer({
        "task": "ptb", "arch": arch, "data_dir": str(ptb_slice), "hidden_dim": 32, "num_layers": 1,
        "dropout": 0.0, "steps": 300, "eval_every": 100, "steps_per_execution": 50, "batch_size": 32, "jit_compile": False,
        "tokenizer_options": {"split": "whitespace", "lowercase": False, "max_vocab": VOCABULARY},
    }, run_dir=tmp_path / "run")
    assert trainer.tokenizer.vocabulary_size == VOCABULARY
    metrics = trainer.fit(verbose=0)
    assert metrics["validation_perplexity"] < 0.9 * unigram, (arch, metrics["validation_perplexity"], unigram)


def test_the_cli_says_which_recipe_trains_and_when_a_rate_meets_another_optimizer():
    from kerasllm.cli import _recipe_line

    lm = with_recipe(TrainConfig(task="ptb", arch="lstm"), "lm")
    assert _recipe_line(TrainConfig(task="ptb", arch="lstm"), lm) == (
        "optimizer: sgd, learning_rate=20, weight_decay=0, warmup_ratio=0, min_lr_ratio=0.1, clipnorm=0.25")
    asked = TrainConfig(task="ptb", arch="lstm", learning_rate=3e-3)
    assert _recipe_line(asked, with_recipe(asked, "lm")).endswith(
        "(your learning_rate with the lstm recipe's sgd; add optimizer=adamw for an adamw rate)")
    both = TrainConfig(task="ptb", arch="lstm", learning_rate=3e-3, optimizer="adamw")
    assert "your learning_rate" not in _recipe_line(both, with_recipe(both, "lm"))
