"""Lab 07 starter: a top-p (nucleus) sampler in keras-hub's Sampler API.

Fill in the TODOs, then run:
    kerasllm lab check sampling docs/labs/starters/nucleus_sampler.py:MyNucleusSampler
"""

import keras
import keras_hub
from keras import ops


class MyNucleusSampler(keras_hub.samplers.Sampler):
    def __init__(self, p=0.9, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.p = p
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_next_token(self, probabilities):
        # probabilities: (batch, vocab), each row sums to 1, NOT sorted
        # TODO 1: sort each row, most likely first (ops.argsort, ops.flip, ops.take_along_axis)
        # TODO 2: keep a sorted token when the probability mass BEFORE it is <= p (ops.cumsum); zero the others
        # TODO 3: draw one index per row: keras.random.categorical(ops.log(kept), 1, seed=self.seed_generator)
        #         and map it back to a token id through the sort order; return shape (batch,)
        raise NotImplementedError("TODO 1-3: sort, keep the nucleus, draw from it")

    def get_config(self):
        config = super().get_config()
        # TODO 4: add p and seed to the config
        return config
