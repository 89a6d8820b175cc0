"""End to end through the one Trainer: run directory, metrics, resume, reproducibility, errors."""

import json
import math

import keras
import numpy as np
import pytest

from kerasllm.errors import RunDirectoryError, TrainingError
from kerasllm.training import Trainer, open_run
from tests.helpers import COMPILE_SHORT_RUNS

TINY = {"hidden_dim": 16, "num_layers": 1, "batch_size": 16, "dropout": 0.1, "jit_compile": COMPILE_SHORT_RUNS,
        "task_options": {"num_train": 128, "num_validation": 32, "num_test": 32}}


def config(**changes):
    return {"task": "negation_sentiment", "arch": "gru", "epochs": 2, **TINY, **changes}


# The run the module shares (and the resumed run compared with it) compiles on every backend, XLA included.
COMPILED = config(jit_compile=True)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "gru"
    metrics = Trainer(COMPILED, run_dir=out).fit()
    return out, metrics


def test_run_directory_holds_everything(finished_run):
    out, metrics = finished_run
    for name in ["config.json", "manifest.json", "metrics.json", "model.keras", "tokenizer.json"]:
        assert (out / name).is_file(), name
    assert list((out / "train").glob("events.out.tfevents.*"))
    assert list((out / "validation").glob("events.out.tfevents.*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["backend"] == keras.backend.backend()
    assert {"keras", "keras_hub", "kerasllm", "python"} <= set(manifest["versions"])
    assert manifest["parameters"] == metrics["parameters"] > 0
    for key in ["validation_accuracy", "validation_macro_f1", "validation_loss", "test_accuracy",
                "test_macro_f1", "train_tokens_per_second", "train_seconds"]:
        assert key in metrics and math.isfinite(metrics[key]), key
    assert metrics["epochs"] == 2 and metrics["steps"] == 2 * math.ceil(128 / 16)
    assert json.loads((out / "metrics.json").read_text()) == metrics


def test_finished_run_is_never_overwritten(finished_run):
    out, _ = finished_run
    before = (out / "metrics.json").read_text()
    with pytest.raises(RunDirectoryError, match="finished"):
        Trainer(COMPILED, run_dir=out)
    assert (out / "metrics.json").read_text() == before


def test_evaluate_reopens_the_saved_model(finished_run):
    out, metrics = finished_run
    again = open_run(out).evaluate("test")
    assert again["accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert again["loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)


def test_same_seed_same_metrics_and_interrupted_run_resumes(tmp_path, finished_run):
    _, reference = finished_run

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        Trainer(COMPILED, run_dir=out).fit(callbacks=[StopAfterFirstEpoch()])
    assert not (out / "metrics.json").exists()
    state = json.loads((out / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 1 and state["last_checkpoint"] == "epoch-1.keras"
    assert {p.name for p in (out / "checkpoints").glob("*.keras")} == {"epoch-1.keras", "best-epoch-1.keras"}
    with pytest.raises(RunDirectoryError, match="different config"):
        Trainer({**COMPILED, "hidden_dim": 32}, run_dir=out)
    trainer = Trainer(COMPILED, run_dir=out)
    assert trainer.run.resuming
    resumed = trainer.fit()
    assert resumed["epochs"] == 2
    steps_per_epoch = resumed["steps"] // 2  # the curves go on at the resumed step, nothing drawn twice
    assert _scalars(out / "validation")["loss"] == [steps_per_epoch, 2 * steps_per_epoch]
    for key in ["validation_loss", "test_loss", "test_accuracy"]:
        assert resumed[key] == pytest.approx(reference[key], abs=1e-5), key


def test_seq2seq_task_trains_a_causal_lm_scored_on_targets(tmp_path):
    metrics = Trainer({"task": "selective_copy", "arch": "transformer", "steps": 4, "hidden_dim": 16,
                       "num_layers": 1, "batch_size": 8, "arch_options": {"num_heads": 2},
                       "task_options": {"num_train": 64, "num_validation": 16, "num_test": 16},
                       "jit_compile": COMPILE_SHORT_RUNS},
                      run_dir=tmp_path / "copy").fit()
    assert metrics["steps"] == 4 and metrics["headline_metric"] == "token_accuracy"
    assert 0.0 <= metrics["test_token_accuracy"] <= 1.0
    assert metrics["test_perplexity"] == pytest.approx(math.exp(metrics["test_loss"]), rel=1e-6)


def test_lm_loss_is_token_weighted_cross_entropy(tmp_path, shared_data):
    trainer = Trainer({"task": "tiny_shakespeare", "arch": "lstm", "data_dir": str(shared_data),
                       "steps": 4, "hidden_dim": 16, "num_layers": 1, "batch_size": 8, "max_length": 32,
                       "jit_compile": COMPILE_SHORT_RUNS},
                      run_dir=tmp_path / "lm")
    metrics = trainer.fit(evaluate=("validation",))  # the test split is not what this checks
    encoded = trainer.encoded("validation")
    subset = slice(0, 50)
    logits = trainer.model.predict({"token_ids": encoded.token_ids[subset],
                                    "padding_mask": encoded.padding_mask[subset]}, verbose=0)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, encoded.targets[subset][..., None], -1)[..., 0]
    weights = encoded.weights[subset]
    expected = float((nll * weights).sum() / weights.sum())
    trainer._encoded["validation"] = type(encoded)(encoded.token_ids[subset], encoded.targets[subset],
                                                   weights, encoded.num_characters)
    assert trainer.evaluate("validation")["loss"] == pytest.approx(expected, rel=1e-4)
    assert metrics["validation_bits_per_char"] == pytest.approx(
        metrics["validation_loss"] / math.log(2) * 1.0, rel=0.01)  # char tokens: ~1 token per char


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    trainer = Trainer(config(learning_rate=1e12, clipnorm=1e30, epochs=2), run_dir=tmp_path / "nan")
    with pytest.raises(TrainingError, match="NaN"):
        trainer.fit()
    assert not (tmp_path / "nan" / "metrics.json").exists()


def _scalars(folder):
    """{tag: [steps]} of the scalar summaries in one TensorBoard run folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    return {**{tag: [e.step for e in accumulator.Tensors(tag)] for tag in tags["tensors"]},
            **{tag: [e.step for e in accumulator.Scalars(tag)] for tag in tags["scalars"]}}


def test_tensorboard_has_loss_metric_learning_rate_and_throughput_once_per_optimizer_step(finished_run):
    out, metrics = finished_run
    steps_per_epoch = metrics["steps"] // metrics["epochs"]
    train, validation = _scalars(out / "train"), _scalars(out / "validation")
    assert {"loss", "accuracy", "learning_rate", "tokens_per_second", "epoch_seconds"} <= set(train)
    assert {"loss", "accuracy", "macro_f1"} <= set(validation)
    for tag, steps in [*train.items(), *validation.items()]:  # one x axis: the optimizer step, once per epoch
        assert tag == "epoch_seconds" or not tag.startswith(("epoch_", "evaluation_", "val_")), tag
        assert steps == [steps_per_epoch, 2 * steps_per_epoch], tag
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == ["checkpoints", "train", "validation"]
    assert not list(out.glob("events.out.tfevents.*"))


def test_early_stopping_ends_a_run_that_stops_improving(tmp_path):
    metrics = Trainer(config(epochs=5, learning_rate=1e-12, early_stopping_patience=1),
                      run_dir=tmp_path / "early").fit()
    assert metrics["epochs"] == 2  # epoch 1 sets the best; epoch 2 does not improve it


def test_mixed_precision_switch_trains(tmp_path):
    metrics = Trainer(config(epochs=None, steps=2, mixed_precision=True),
                      run_dir=tmp_path / "bf16").fit()
    assert metrics["steps"] == 2 and math.isfinite(metrics["test_loss"])


def test_training_time_leaves_out_validation():
    import time

    from kerasllm.training.callbacks import Throughput

    throughput = Throughput(tokens_per_step=100)
    throughput.set_params({"steps": 10})
    logs = {}
    throughput.on_epoch_begin(0)
    time.sleep(0.05)
    throughput.on_train_batch_end(4)  # steps_per_execution=5: one call ran steps 0..4
    throughput.on_train_batch_end(9)
    throughput.on_test_begin()
    time.sleep(0.2)  # validation inside fit
    throughput.on_test_end()
    throughput.on_epoch_end(0, logs)
    assert 0.04 < logs["epoch_seconds"] < 0.15
    assert logs["tokens_per_second"] == pytest.approx(1000 / logs["epoch_seconds"])


def test_an_epoch_cut_short_counts_the_steps_it_ran():
    from kerasllm.training.callbacks import Throughput

    throughput = Throughput(tokens_per_step=100)
    throughput.set_params({"steps": 10})
    logs = {}
    throughput.on_epoch_begin(0)
    throughput.on_train_batch_end(2)  # stopped (time budget) after 3 of 10 steps
    throughput.on_epoch_end(0, logs)
    assert logs["tokens_per_second"] == pytest.approx(300 / logs["epoch_seconds"])


def test_a_token_budget_becomes_whole_validation_periods(tmp_path):
    budget = config(epochs=None)
    probe = Trainer({**budget, "steps": 1}, run_dir=tmp_path / "probe")
    train = probe.encoded("train")
    per_step = train.num_input_tokens / train.num_examples * 16  # real input tokens per batch of 16
    assert probe.tokens_per_step == pytest.approx(per_step)
    cases = [  # needed steps = ceil(tokens / per_step); about 10 validations; steps rounded up to whole periods
        (3.5, None, (1, 4)),     # 4 steps: one per validation
        (12.5, None, (2, 7)),    # 13 steps: validate every 2, 14 steps
        (95.5, None, (10, 10)),  # 96 steps: every 10, 100 steps
        (12.5, 5, (5, 3)),       # 13 steps, eval_every 5: 15 steps
    ]
    for index, (multiple, eval_every, expected) in enumerate(cases):
        trainer = Trainer({**budget, "tokens": int(multiple * per_step), "eval_every": eval_every},
                          run_dir=tmp_path / f"tokens{index}")
        assert trainer.schedule() == expected, (multiple, eval_every)


def test_fit_can_leave_the_test_split_for_later(tmp_path):
    from kerasllm.errors import ConfigError

    out = tmp_path / "validation-only"
    trainer = Trainer(config(epochs=None, steps=2), run_dir=out)
    with pytest.raises(ConfigError, match="splits among validation, test"):
        trainer.fit(evaluate=("train",))
    metrics = trainer.fit(verbose=0, evaluate=("validation",))
    assert not [key for key in metrics if key.startswith("test_")] and "validation_accuracy" in metrics
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["train_tokens"] == round(2 * trainer.tokens_per_step)
    assert 0.0 <= open_run(out).evaluate("test")["accuracy"] <= 1.0


def test_validation_during_training_can_use_fewer_batches_but_final_metrics_score_the_whole_split(tmp_path):
    class ValidationLosses(keras.callbacks.Callback):
        losses = []

        def on_epoch_end(self, epoch, logs=None):
            self.losses.append(logs["val_loss"])

    settings = config(steps=4, eval_every=4, epochs=None)
    whole, short = ValidationLosses(), ValidationLosses()
    whole.losses, short.losses = [], []
    full = Trainer(settings, run_dir=tmp_path / "whole").fit(callbacks=[whole], verbose=0)
    cut = Trainer({**settings, "validation_batches": 1}, run_dir=tmp_path / "short").fit(callbacks=[short], verbose=0)
    assert short.losses[0] != pytest.approx(whole.losses[0])  # one batch of 16, not all 32 examples
    assert whole.losses[0] == pytest.approx(full["validation_loss"], abs=1e-5)
    assert cut["validation_loss"] == pytest.approx(full["validation_loss"], abs=1e-6)  # the end scores all of it
    assert cut["test_accuracy"] == pytest.approx(full["test_accuracy"])
