"""Training FLOPs per token (kerasllm/models/flops.py): Kaplan et al.'s count, checked against hand formulas
built from the Keras layers' own weights."""

import math

import keras
import numpy as np

from kerasllm.config import TrainConfig
from kerasllm.models import Backbone, CausalLM, TextClassifier, build_model, count_parameters, get_backbone
from kerasllm.models.flops import forward_flops_per_token, train_flops_per_token


class Info:
    """What build_model reads of a task's TaskInfo."""

    def __init__(self, kind, max_length=16, num_classes=None):
        self.kind, self.max_length, self.num_classes = kind, max_length, num_classes


def size(weight):
    return math.prod(weight.shape)


def test_lstm_classifier_matches_the_gate_formula():
    d, layers, classes = 8, 2, 3
    model = build_model(TrainConfig(task="t", arch="lstm", hidden_dim=d, num_layers=layers),
                        Info("classification", num_classes=classes), 40)
    for lstm in model.backbone.forward_layers:  # the hand formula is what Keras' LSTM holds: 4 gates
        assert sum(size(w) for w in lstm.weights) == 4 * (d * d + d * d + d)
    head = d * classes + classes
    assert forward_flops_per_token(model) == 2 * (layers * 4 * (d * d + d * d + d) + head)
    assert train_flops_per_token(model) == 3 * 2 * (layers * 4 * (d * d + d * d + d) + head)
    # no attention term: the context does not matter
    assert forward_flops_per_token(model, context=1000) == forward_flops_per_token(model, context=1)


def test_transformer_lm_counts_the_tied_projection_once_and_attention_grows_with_the_context():
    d, layers, vocab = 16, 2, 50

    def lm(max_length, tie_weights=True):
        config = TrainConfig(task="t", arch="transformer", hidden_dim=d, num_layers=layers, max_length=max_length,
                             tie_weights=tie_weights, arch_options={"num_heads": 2})
        return build_model(config, Info("lm"), vocab)

    short, long = lm(32), lm(64)
    # the learned position table (max_length x d) is a lookup, the token table is counted once, as the
    # output projection; the rest of the weights are used once per token
    for model, context in ((short, 32), (long, 64)):
        weights = count_parameters(model) - context * d
        assert forward_flops_per_token(model) == 2 * weights + 2 * layers * context * d
    # longer context: only the attention term grows (the position table is not counted)
    assert train_flops_per_token(long) - train_flops_per_token(short) == 3 * 2 * layers * (64 - 32) * d
    assert forward_flops_per_token(short, context=64) == forward_flops_per_token(long)
    untied = lm(32, tie_weights=False)
    head = untied.lm_head.kernel
    assert size(head) == d * vocab and forward_flops_per_token(untied) == forward_flops_per_token(short)
    assert count_parameters(untied) == count_parameters(short) + d * vocab  # counted once either way


# Module-level classes rather than classes made inside the test: once, under pytest-xdist, a later test's decoding
# failed with "tf__build() takes 2 positional arguments but 3 were given" (autograph calling a converted `build` in
# place of another method); a local class's methods are freed after the test, which is the suspected trigger.
class TokenMLP(Backbone):
    default_position = "none"

    def build(self, token_ids_shape):
        super().build(token_ids_shape)
        self.dense = keras.layers.Dense(self.hidden_dim, name="mlp", dtype=self.dtype_policy)
        self.dense.build((None, None, self.hidden_dim))

    def encode(self, x, padding_mask, training=None):
        return self.dense(x)


class WithMixing(TokenMLP):
    def attention_flops_per_token(self, context):
        return 7 * context


def test_a_students_backbone_gets_the_generic_count_and_its_own_attention_term():
    d, vocab = 8, 30
    for cls, extra in ((TokenMLP, 0), (WithMixing, 7 * 12)):
        model = TextClassifier(cls(vocab_size=vocab, hidden_dim=d, num_layers=1, max_length=12), num_classes=2)
        model(np.ones((1, 5), "int32"))
        assert forward_flops_per_token(model) == 2 * ((d * d + d) + (d * 2 + 2)) + extra


def test_the_trainers_metrics_record_the_built_models_count(tmp_path):
    from kerasllm.training import Trainer, open_run

    trainer = Trainer({"task": "mqar", "arch": "transformer", "steps": 1, "hidden_dim": 8, "num_layers": 1,
                       "jit_compile": False, "arch_options": {"num_heads": 2},
                       "task_options": {"num_train": 16, "num_validation": 8, "num_test": 8}}, run_dir=tmp_path / "r")
    metrics = trainer.fit(verbose=0)
    model = open_run(tmp_path / "r").model
    assert metrics["train_flops_per_token"] == train_flops_per_token(model)
    assert metrics["train_flops_per_token"] > 3 * 2 * model.backbone.max_length * 8  # attention included


def test_a_gru_language_model_counts_its_gates_and_the_tied_projection():
    d, layers, vocab = 8, 2, 40
    model = CausalLM(get_backbone("gru", vocab_size=vocab, hidden_dim=d, num_layers=layers, causal=True))
    model(np.ones((1, 6), "int32"))
    gates = 3 * (d * d + d * d + 2 * d)  # update, reset, candidate; reset_after=True keeps two biases
    assert all(sum(size(w) for w in gru.weights) == gates for gru in model.backbone.forward_layers)
    assert forward_flops_per_token(model) == 2 * (layers * gates + d * vocab)
