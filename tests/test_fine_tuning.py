"""Fine-tuning: `init_from` copies an earlier run's backbone and tokenizer; parameter groups train at their own
rates (`backbone_lr_scale`), or not at all for a while (`freeze_*_epochs`) or ever (`freeze_embeddings`)."""

import json

import keras
import numpy as np
import pytest

from kerasllm.config import TrainConfig
from kerasllm.errors import ConfigError
from kerasllm.models import build_model
from kerasllm.training import Trainer
from kerasllm.training.optimizers import build_optimizer, group_rates_of, parameter_groups

TINY = {"hidden_dim": 16, "num_layers": 1, "batch_size": 16, "dropout": 0.0, "steps": 4, "eval_every": 2, "jit_compile": False,
        "task_options": {"num_train": 96, "num_validation": 32, "num_test": 32}}


def config(**changes):
    return {"task": "negation_sentiment", "arch": "gru", **TINY, **changes}


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "pretrained"
    Trainer(config(seed=7, task_options={"num_train": 64, "num_validation": 32, "num_test": 32, "seed": 3}),
            run_dir=out).fit(verbose=0)
    return out


def _backbone_weights(model):
    return [np.asarray(w) for w in model.backbone.get_weights()]


def test_init_from_copies_the_backbone_and_reuses_the_tokenizer(tmp_path, earlier_run):
    trainer = Trainer(config(init_from=str(earlier_run)), run_dir=tmp_path / "tuned")
    pretrained = keras.saving.load_model(earlier_run / "model.keras")
    for fresh, saved in zip(_backbone_weights(trainer._fresh_model), _backbone_weights(pretrained)):
        np.testing.assert_array_equal(fresh, saved)
    assert (tmp_path / "tuned" / "tokenizer.json").read_text() == (earlier_run / "tokenizer.json").read_text()
    trainer.fit(verbose=0)
    report = json.loads((tmp_path / "tuned" / "manifest.json").read_text())["initialized"]["init_from"]
    assert report["run"] == str(earlier_run) and report["weights_copied"] == len(pretrained.backbone.weights)
    # Without init_from, the same seed starts elsewhere: the copy is what made the weights equal.
    scratch = Trainer(config(), run_dir=tmp_path / "scratch")
    assert not np.array_equal(_backbone_weights(scratch._fresh_model)[0], _backbone_weights(pretrained)[0])


@pytest.mark.parametrize("change, named", [({"hidden_dim": 32}, "hidden_dim=16"), ({"arch": "lstm"}, "arch='gru'"),
                                           ({"tokenizer": "char"}, "tokenizer")])
def test_a_mismatched_earlier_run_is_refused_in_one_line_naming_both_sides(tmp_path, earlier_run, change, named):
    with pytest.raises(ConfigError, match=named) as error:
        Trainer(config(init_from=str(earlier_run), **change), run_dir=tmp_path / "tuned")
    assert "\n" not in str(error.value) and not (tmp_path / "tuned").exists()


def test_an_unfinished_or_missing_earlier_run_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not a kerasllm run directory"):
        Trainer(config(init_from=str(tmp_path / "nowhere")), run_dir=tmp_path / "tuned")


def _grouped_fit(group_rates, steps, optimizer="sgd", seed=0):
    """A tiny classifier trained `steps` SGD steps on one fixed batch; returns (before, after) weights by group."""
    keras.utils.set_random_seed(seed)

    class Info:
        kind, num_classes, max_length = "classification", 2, 6

    run = TrainConfig(task="demo", arch="gru", hidden_dim=8, num_layers=1, optimizer=optimizer, learning_rate=0.5,
                      weight_decay=0.0 if optimizer == "sgd" else 0.1, clipnorm=100.0)
    model = build_model(run, Info, 20)
    model.compile(optimizer=build_optimizer(run, 0.5, group_rates), loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), jit_compile=False)
    if group_rates:
        model.optimizer.set_parameter_groups(parameter_groups(model))
    ids = np.random.default_rng(0).integers(1, 20, (8, 6))
    labels = np.arange(8) % 2
    before = {group: [np.array(v) for v, g in parameter_groups(model) if g == group] for group in ("embedding",
                                                                                                   "backbone", "head")}
    for _ in range(steps):
        model.train_on_batch({"token_ids": ids, "padding_mask": ids != 0}, labels)
    after = {group: [np.array(v) for v, g in parameter_groups(model) if g == group] for group in before}
    return before, after


def _moved(before, after, group):
    return any(not np.array_equal(b, a) for b, a in zip(before[group], after[group]))


def test_frozen_groups_stay_fixed_for_their_steps_then_train():
    before, after = _grouped_fit({"embedding": [0.5, 2], "backbone": [0.5, 2]}, steps=2, optimizer="adamw")
    assert not _moved(before, after, "embedding") and not _moved(before, after, "backbone")  # decay frozen too
    assert _moved(before, after, "head")
    before, after = _grouped_fit({"embedding": [0.5, 2], "backbone": [0.5, 2]}, steps=3, optimizer="adamw")
    assert _moved(before, after, "embedding") and _moved(before, after, "backbone")
    before, after = _grouped_fit({"embedding": [0.0, 0]}, steps=3)  # freeze_embeddings: never moves
    assert not _moved(before, after, "embedding") and _moved(before, after, "backbone")


def test_a_scaled_group_takes_that_fraction_of_the_step():
    full_before, full_after = _grouped_fit(None, steps=1)
    before, after = _grouped_fit({"embedding": [0.25, 0], "backbone": [0.25, 0]}, steps=1)
    for group, scale in (("embedding", 0.25), ("backbone", 0.25), ("head", 1.0)):
        for b, a, fb, fa in zip(before[group], after[group], full_before[group], full_after[group]):
            np.testing.assert_allclose(a - b, scale * (fa - fb), rtol=1e-4, atol=1e-7)


def test_group_rates_follow_the_config():
    base = dict(task="t", arch="gru", init_from="x")
    assert group_rates_of(TrainConfig(**base), 10) is None
    assert group_rates_of(TrainConfig(**base, backbone_lr_scale=0.1, freeze_backbone_epochs=2), 10) == {
        "embedding": [0.1, 20], "backbone": [0.1, 20]}
    assert group_rates_of(TrainConfig(**base, freeze_embeddings=True), 10) == {"embedding": [0.0, 0]}
    with pytest.raises(ConfigError, match="--init-from"):
        TrainConfig(task="t", arch="gru", freeze_backbone_epochs=1)


def test_a_fine_tuning_run_resumes_with_its_groups_and_matches_an_uninterrupted_one(tmp_path, earlier_run):
    settings = config(init_from=str(earlier_run), freeze_backbone_epochs=1, backbone_lr_scale=0.5)
    reference = Trainer(settings, run_dir=tmp_path / "whole").fit(verbose=0)

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(settings, run_dir=tmp_path / "cut").fit(callbacks=[StopAfterFirstEpoch()], verbose=0)
    resumed = Trainer(settings, run_dir=tmp_path / "cut").fit(verbose=0)
    for key in ("validation_loss", "test_loss"):
        assert resumed[key] == pytest.approx(reference[key], abs=1e-5), key
    saved = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert saved["freeze_backbone_epochs"] == 1 and saved["backbone_lr_scale"] == 0.5
