"""Metrics for each task kind, all correct across batches of different sizes and padding.

Classification: accuracy and macro-F1 (confusion matrix accumulated over batches).
LM, seq2seq and MLM: token-weighted cross-entropy (nats) and perplexity (keras-hub's token-weighted
`Perplexity`), plus token accuracy; for MLM the weights are 1 on the masked tokens only, so these are the
perplexity and accuracy of the masked tokens. Bits per character is derived at the end from the
cross-entropy and the number of characters behind the tokens (`derived_metrics`). A config's
`lm_metric` (`file.py:Class`, e.g. a student's perplexity from lab 10) adds one more metric to those.

Example:
>>> import numpy as np
>>> f1 = MacroF1(num_classes=2)
>>> f1.update_state(np.array([0, 1, 1]), np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]))
>>> round(float(f1.result()), 4)
0.6667
"""

import inspect
import math

import keras
import keras_hub
from keras import ops

from kerasllm.errors import ConfigError
from kerasllm.imports import load_object


@keras.saving.register_keras_serializable(package="kerasllm")
class MacroF1(keras.metrics.Metric):
    """Macro-averaged F1 from integer labels and logits (classes never seen nor predicted count 0).

    Args:
        num_classes: number of classes.
    """

    def __init__(self, num_classes, name="macro_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.confusion = self.add_variable(
            shape=(self.num_classes, self.num_classes), initializer="zeros", name="confusion"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        predicted = ops.reshape(ops.argmax(y_pred, axis=-1), (-1,))
        true_one_hot = ops.one_hot(y_true, self.num_classes, dtype=self.dtype)
        pred_one_hot = ops.one_hot(predicted, self.num_classes, dtype=self.dtype)
        if sample_weight is not None:
            true_one_hot = true_one_hot * ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
        self.confusion.assign_add(ops.matmul(ops.transpose(true_one_hot), pred_one_hot))

    def result(self):
        true_positive = ops.diagonal(self.confusion)
        precision_denominator = ops.sum(self.confusion, axis=0)
        recall_denominator = ops.sum(self.confusion, axis=1)
        denominator = precision_denominator + recall_denominator
        f1 = ops.where(denominator > 0, 2.0 * true_positive / ops.maximum(denominator, 1e-12), 0.0)
        present = ops.cast(denominator > 0, self.dtype)
        return ops.sum(f1) / ops.maximum(ops.sum(present), 1.0)

    def reset_state(self):
        self.confusion.assign(ops.zeros(self.confusion.shape, dtype=self.dtype))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def metrics_for(kind, num_classes=None, extra=None):
    """The Keras metrics compiled into a model for a task kind.

    Args:
        kind: "classification", "lm", "seq2seq" or "mlm" (the token metrics, weighted on the masked tokens).
        num_classes: the classifier's number of classes.
        extra: None, or the import path (`file.py:Class`) of one more metric for an lm / seq2seq / mlm run (a
            config's `lm_metric`), built as `Class()` (`extra_metric`).
    """
    if kind == "classification":
        if extra:
            raise ConfigError(f"lm_metric ({extra}) is for lm and seq2seq tasks; this task is a classification. "
                              "Remove lm_metric.")
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy"), MacroF1(num_classes)]
    metrics = [
        keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="cross_entropy"),
        keras_hub.metrics.Perplexity(from_logits=True, name="perplexity"),
        keras.metrics.SparseCategoricalAccuracy(name="token_accuracy"),
    ]
    return metrics + [extra_metric(extra)] if extra else metrics


#: Names a run already logs for an lm / seq2seq split (Keras' and `derived_metrics`'): an extra metric needs another.
RESERVED_NAMES = ("loss", "cross_entropy", "perplexity", "token_accuracy", "bits_per_token", "bits_per_char",
                  "seconds", "compile_metrics")


def extra_metric(spec):
    """The metric named by `spec` (`file.py:Class`), built as `Class()`, for the token-weighted LM metrics.

    Keras calls its `update_state(targets, logits, sample_weight)` on every batch, `sample_weight` 1 for the
    real target tokens and 0 for padding (and for the source of a seq2seq example); it is logged under its
    own name (TensorBoard's `<name>` in train/ and validation/, metrics.json's `validation_<name>` and `test_<name>`).

    Raises:
        ConfigError: the path does not load, names no `keras.metrics.Metric`, or its name is taken.

    Example:
    >>> extra_metric("kerasllm.labs.reference:TokenPerplexity").name
    'token_perplexity'
    """
    cls = load_object(spec)
    if not (inspect.isclass(cls) and issubclass(cls, keras.metrics.Metric)):
        raise ConfigError(f"lm_metric {spec} is not a keras.metrics.Metric subclass (see "
                          "docs/labs/10_perplexity.md).")
    metric = cls()
    if metric.name in RESERVED_NAMES:
        raise ConfigError(f"lm_metric {spec} is named '{metric.name}', which a run already logs: give the class "
                          f"another default name (e.g. __init__(self, ..., name='my_{metric.name}', **kwargs)).")
    return metric


def derived_metrics(kind, values, tokens_per_character=None):
    """Adds bits-per-token / bits-per-character to evaluated LM metrics, renaming to plain names.

    `values` comes from `model.evaluate(..., return_dict=True)`. Returns a new dict with `loss` set
    to the token-weighted cross-entropy in nats (for lm / seq2seq) instead of Keras' batch mean.
    """
    values = {name: float(value) for name, value in values.items()}
    if kind == "classification":
        return values
    cross_entropy = values.pop("cross_entropy")
    values["loss"] = cross_entropy
    values["perplexity"] = math.exp(min(cross_entropy, 700.0))
    values["bits_per_token"] = cross_entropy / math.log(2)
    if tokens_per_character is not None:
        values["bits_per_char"] = values["bits_per_token"] * tokens_per_character
    return values


# Metrics where lower is better; everything else is maximized.
LOWER_IS_BETTER = {"loss", "perplexity", "bits_per_char", "bits_per_token"}
