"""A student's class inside the models: cells in rnn, attention in transformer, blocks in cnn, backbones in bench.

The labs' reference layers (kerasllm.labs.reference) stand in for a student's class: plugged in with the built-in's
weights they must give the built-in backbone's outputs, step by step too, and the models must save and load.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kerasllm.bench.suite import load_suite, plan, select
from kerasllm.errors import ConfigError
from kerasllm.labs import check_lab
from kerasllm.labs.reference import CausalConvBlock, LSTMCell, ScaledDotProductAttention
from kerasllm.layers import MultiHeadSelfAttention
from kerasllm.models import get_backbone
from tests.helpers import assert_round_trips

VOCAB, HIDDEN, SEQ = 40, 8, 7
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
IDS = np.array([[5, 6, 7, 8, 9, 10, 11], [12, 13, 14, 0, 0, 0, 0]])

STUDENT_CELL = textwrap.dedent('''
    import keras
    from keras import ops


    class StudentCell(keras.layers.Layer):
        """A student's Elman cell, in a file of its own (not registered with Keras)."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units, self.state_size, self.output_size = units, units, units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")
            self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")

        def call(self, inputs, states, training=None):
            h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel) + self.bias)
            return h, [h]

        def get_config(self):
            return {**super().get_config(), "units": self.units}
''')


def outputs(backbone, ids=IDS):
    return np.asarray(backbone(ids))


def same_weights(target, source):
    target(IDS)
    source(IDS)
    assert [w.shape for w in target.weights] == [w.shape for w in source.weights]
    target.set_weights(source.get_weights())


@pytest.fixture
def student_file(tmp_path):
    path = tmp_path / "student_cell.py"
    path.write_text(STUDENT_CELL)
    return f"{path}:StudentCell"


@pytest.mark.parametrize("arch, cell", [("lstm", LSTMCell), ("rnn", "kerasllm.labs.reference.cells:SimpleRNNCell")])
def test_a_cell_in_the_recurrent_backbone_equals_the_built_in(arch, cell, tmp_path):
    built_in = get_backbone(arch, vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=2, causal=True)
    plugged = get_backbone("rnn", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=2, causal=True, cell=cell)
    same_weights(plugged, built_in)
    np.testing.assert_allclose(outputs(plugged), outputs(built_in), atol=1e-5)
    state = plugged.initial_state(batch_size=2)  # step-by-step decoding goes through layer.cell
    for t in range(3):
        features, state = plugged.step(IDS[:, t], state)
    np.testing.assert_allclose(np.asarray(features), outputs(plugged)[:, 2], atol=1e-5)
    assert_round_trips(plugged, tmp_path, inputs={"token_ids": IDS})


def test_a_cell_from_a_file_works_as_class_instance_or_path_and_saves(student_file, tmp_path):
    from kerasllm.imports import load_object

    cls = load_object(student_file)
    for cell in (student_file, cls, cls(3)):
        backbone = get_backbone("rnn", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=1, cell=cell)
        assert outputs(backbone).shape == (2, SEQ, HIDDEN)
    assert backbone.get_config()["cell"]["config"]["units"] == 3  # the instance's settings are kept...
    assert backbone.forward_layers[0].cell.units == HIDDEN  # ...but every layer gets its own width
    assert_round_trips(backbone, tmp_path, inputs={"token_ids": IDS})
    with pytest.raises(ConfigError, match="not a keras.layers.Layer"):
        get_backbone("rnn", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=1, cell=dict)


@pytest.mark.parametrize("attention", [ScaledDotProductAttention, MultiHeadSelfAttention])
def test_attention_in_the_transformer_equals_the_built_in(attention, tmp_path):
    settings = dict(vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=2, causal=True, num_heads=2)
    built_in = get_backbone("transformer", **settings)
    plugged = get_backbone("transformer", attention=attention, **settings)
    same_weights(plugged, built_in)
    np.testing.assert_allclose(outputs(plugged), outputs(built_in), atol=1e-5)
    state = plugged.initial_state(batch_size=2, max_length=SEQ)
    for t in range(3):  # row 1 has 3 real tokens
        features, state = plugged.step(IDS[:, t], state)
    np.testing.assert_allclose(np.asarray(features), outputs(plugged)[:, 2], atol=1e-5)
    assert_round_trips(plugged, tmp_path, inputs={"token_ids": IDS})


def test_a_block_in_the_cnn_is_causal_steps_and_saves(tmp_path):
    backbone = get_backbone("cnn", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=2, causal=True,
                            kernel_size=3, block=CausalConvBlock)
    full = outputs(backbone)
    assert [type(b).__name__ for b in backbone.blocks] == ["CausalConvBlock"] * 2
    assert [block.dilation_rate for block in backbone.blocks] == [1, 2]
    changed = IDS.copy()
    changed[0, 5:] = 3
    np.testing.assert_allclose(outputs(backbone, changed)[0, :5], full[0, :5], atol=1e-5)
    state = backbone.initial_state(batch_size=2, max_length=SEQ)
    for t in range(3):
        features, state = backbone.step(IDS[:, t], state)
    np.testing.assert_allclose(np.asarray(features), full[:, 2], atol=1e-5)
    assert_round_trips(backbone, tmp_path, inputs={"token_ids": IDS})


def test_bench_runs_a_student_class_inside_its_architecture(student_file, tmp_path):
    suite = select(load_suite("quick"), archs=["gru", student_file], tasks=["negation_sentiment"], seeds=1)
    runs = plan(suite, tmp_path)
    assert [run.arch for run in runs] == ["gru", "StudentCell"]
    assert runs[1].path == tmp_path / "negation_sentiment" / "StudentCell" / "seed0"
    assert runs[1].config.arch == "rnn" and runs[1].config.arch_options["cell"] == student_file
    with pytest.raises(ConfigError, match="neither a Backbone nor a cell"):
        select(load_suite("quick"), archs=["kerasllm.labs.bpe:BytePairMergeStep"])


def test_the_lab_checker_trains_the_class_through_the_trainer():
    report = check_lab("rnn", "kerasllm.labs.reference.cells:SimpleRNNCell", train=True)
    assert report.passed, "\n".join(report.lines())
    assert report.results[-1].title.startswith("trains through the Trainer") and "steps" in report.results[-1].hint


def test_a_student_cell_trains_with_the_cli_and_evaluates_in_a_fresh_process(student_file, tmp_path):
    """`kerasllm train --cell` records the import path in config.json; `kerasllm evaluate` re-imports it."""
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "kerasllm", "train", "--task", "negation_sentiment", "--arch", "rnn",
               "--cell", student_file, "--steps", "4", "--hidden-dim", "8", "--num-layers", "1",
               "--batch-size", "16", "--out", str(out), "task_options.num_train=64",
               "task_options.num_validation=16", "task_options.num_test=16", "jit_compile=false"]
    trained = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert trained.returncode == 0, trained.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["arch_options"]["cell"] == student_file
    metrics = json.loads((out / "metrics.json").read_text())
    refused = subprocess.run([sys.executable, "-m", "kerasllm", "evaluate", str(out)], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=300)
    assert refused.returncode == 2 and "pass --trust-code" in refused.stderr, refused.stderr[-2000:]
    evaluated = subprocess.run([sys.executable, "-m", "kerasllm", "evaluate", str(out), "--trust-code"],
                               capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(metrics["test_accuracy"])


def test_lab_01_as_a_student_starter_fill_in_check_bench(tmp_path, capsys):
    """docs/labs/01_rnn.md step by step: copy the starter, fill in the TODOs, check, plan the bench."""
    from kerasllm.cli import main

    starter = (REPO_ROOT / "docs" / "labs" / "starters" / "rnn_cell.py").read_text()
    answers = {
        '        raise NotImplementedError("TODO 1: create kernel, recurrent_kernel and bias with self.add_weight")':
            '        self.kernel = self.add_weight(shape=(input_dim, self.units), name="kernel")\n'
            '        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")\n'
            '        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")',
        '        raise NotImplementedError("TODO 2: compute h_t = tanh(x_t W + h_(t-1) U + b) in call")':
            '        h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias)',
        '        # TODO 3: add units to the config, so that from_config can rebuild the cell':
            '        config["units"] = self.units',
    }
    for todo, answer in answers.items():
        assert todo in starter
        starter = starter.replace(todo, answer)
    mine = tmp_path / "my_rnn_cell.py"
    mine.write_text(starter)
    assert main(["lab", "check", "rnn", f"{mine}:MyRNNCell", "--no-train"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "lab rnn: all checks pass"
    assert main(["bench", "--archs", f"rnn,lstm,{mine}:MyRNNCell", "--tasks", "negation_sentiment", "--steps", "300",
                 "--out", str(tmp_path / "lab01"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "negation_sentiment/MyRNNCell/seed0" in out and "steps=300" in out


def test_a_multi_head_replacement_refuses_rotary_positions():
    with pytest.raises(ConfigError, match="position='rotary'"):
        get_backbone("transformer", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=1, num_heads=2,
                     position="rotary", attention=MultiHeadSelfAttention)
    get_backbone("transformer", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=1, num_heads=2,
                 position="rotary", attention=ScaledDotProductAttention)  # one head runs inside: rotary applies


def test_bench_takes_a_student_backbone_by_path(tmp_path):
    """In a fresh process: registering the student's backbone must not leak into this session's registry."""
    (tmp_path / "my_backbone.py").write_text(textwrap.dedent('''
        import keras
        from kerasllm.models import Backbone


        class MyBackbone(Backbone):
            default_position = "none"

            def build(self, token_ids_shape):
                super().build(token_ids_shape)
                self.dense = keras.layers.Dense(self.hidden_dim, name="dense", dtype=self.dtype_policy)
                self.dense.build((None, None, self.hidden_dim))

            def encode(self, x, padding_mask, training=None):
                return self.dense(x)
    '''))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "kerasllm", "bench", "--archs", "lstm,my_backbone.py:MyBackbone", "--tasks",
               "negation_sentiment", "--steps", "20", "--out", str(tmp_path / "bench"), "--dry-run"]
    planned = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert planned.returncode == 0, planned.stderr[-2000:]
    assert "negation_sentiment/MyBackbone/seed0" in planned.stdout and "negation_sentiment/lstm/seed0" in planned.stdout


def test_a_keras_built_in_cell_plugs_in_equals_the_built_in_and_saves(tmp_path):
    """`cell=keras.layers.GRUCell` (or "keras.layers:GRUCell"): Keras' own classes need no registration."""
    import keras

    built_in = get_backbone("gru", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=2, causal=True)
    for cell in (keras.layers.GRUCell, "keras.layers:GRUCell"):
        plugged = get_backbone("rnn", vocab_size=VOCAB, hidden_dim=HIDDEN, num_layers=2, causal=True, cell=cell)
        same_weights(plugged, built_in)
        np.testing.assert_allclose(outputs(plugged), outputs(built_in), atol=1e-5)
    assert_round_trips(plugged, tmp_path, inputs={"token_ids": IDS})
