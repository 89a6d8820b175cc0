"""Sparse cross-entropy from logits with optional label smoothing.

Keras' `SparseCategoricalCrossentropy` has no label smoothing, so this loss adds it:
loss = (1 - eps) * nll(target) + eps * mean_over_classes(nll).

Example:
>>> import numpy as np
>>> loss = SparseCrossEntropy(label_smoothing=0.1)
>>> value = loss(np.array([1]), np.array([[0.0, 2.0]]))
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasllm")
class SparseCrossEntropy(keras.losses.Loss):
    """Cross-entropy between integer targets and logits, averaged over weighted elements.

    Args:
        label_smoothing: eps in [0, 1). Defaults to 0.0.
        log_probs: bool. `y_pred` are log-probabilities already (an adaptive softmax's,
            `Head.outputs_log_probs`), so they are not normalized again. Defaults to False.
        reduction: Keras reduction. Defaults to "mean_with_sample_weight" so padded tokens
            (weight 0) do not dilute the mean.
    """

    def __init__(self, label_smoothing=0.0, log_probs=False, reduction="mean_with_sample_weight",
                 name="cross_entropy", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.log_probs = bool(log_probs)

    def call(self, y_true, y_pred):
        log_probs = ops.cast(y_pred, "float32")
        if not self.log_probs:
            log_probs = ops.log_softmax(log_probs, axis=-1)
        y_true = ops.cast(y_true, "int32")
        nll = -ops.take_along_axis(log_probs, ops.expand_dims(y_true, -1), axis=-1)[..., 0]
        if not self.label_smoothing:
            return nll
        smooth = -ops.mean(log_probs, axis=-1)
        return (1.0 - self.label_smoothing) * nll + self.label_smoothing * smooth

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "log_probs": self.log_probs}
