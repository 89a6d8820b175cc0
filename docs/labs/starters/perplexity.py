"""Lab 10 starter: perplexity as a Keras metric, token-weighted over padded batches.

Fill in the TODOs, then run:
    kerasllm lab check perplexity docs/labs/starters/perplexity.py:MyPerplexity
and use it in a run:
    kerasllm train --task tiny_shakespeare --arch lstm --data-dir ../shared/data --steps 300 \
        lm_metric=docs/labs/starters/perplexity.py:MyPerplexity
"""

import keras
from keras import ops


class MyPerplexity(keras.metrics.Metric):
    def __init__(self, mask_token_id=None, name="my_perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mask_token_id = mask_token_id
        # The running totals live in Keras variables: model.evaluate updates them inside a compiled function,
        # and keras.metrics.Metric.reset_state zeroes them at every epoch.
        self.total_nll = self.add_variable(shape=(), initializer="zeros", name="total_nll")
        self.token_count = self.add_variable(shape=(), initializer="zeros", name="token_count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        # y_true: (batch, seq) target ids; y_pred: (batch, seq, vocab) LOGITS; sample_weight: (batch, seq) or None,
        # 1.0 for a real token and 0.0 for padding.
        # TODO 1: the NLL of every target token, -log p(y), shape (batch, seq): take ops.log_softmax(y_pred) (NOT
        #         ops.log(ops.softmax(...)), which is -inf where the softmax underflows to 0) and pick the target's
        #         entry with ops.take_along_axis
        # TODO 2: the weight of every token: sample_weight (ones when it is None), times (y_true != mask_token_id)
        #         when mask_token_id is not None
        # TODO 3: add sum(NLL * weight) to self.total_nll and sum(weight) to self.token_count (assign_add). Do not
        #         divide here: a batch with 2 real tokens must weigh less than one with 200
        raise NotImplementedError("TODO 1-3: per-token NLL, weights, add to the totals")

    def result(self):
        # TODO 4: exp(total NLL / token count), a scalar (ops.divide_no_nan avoids 0 / 0 before any batch)
        raise NotImplementedError("TODO 4: exp of the mean NLL")

    # reset_state: keras.metrics.Metric's zeroes every variable made with add_variable. Override it only if you
    # keep other state, and then reset everything.

    def get_config(self):
        config = super().get_config()
        # TODO 5: add mask_token_id to the config
        return config
