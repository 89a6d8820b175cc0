"""Lab 03 starter: a GRU cell in Keras' convention (reset_after=True, gates packed as z, r, h).

Fill in the TODOs, then run:
    kerasllm lab check gru docs/labs/starters/gru_cell.py:MyGRUCell
"""

import keras
from keras import ops


class MyGRUCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        # TODO 1: create, in this order, with self.add_weight:
        #   kernel           (input_dim, 3 * units)   z, r, h side by side
        #   recurrent_kernel (units, 3 * units)
        #   bias             (2, 3 * units)           row 0 for the input part, row 1 for the recurrent part
        raise NotImplementedError("TODO 1: create kernel, recurrent_kernel and bias (2 rows of 3 gates)")

    def call(self, inputs, states, training=None):
        h_prev = states[0]
        # TODO 2: x_z, x_r, x_h = split(x_t W + bias[0]);  h_z, h_r, h_h = split(h_prev U + bias[1])
        #         z = sigmoid(x_z + h_z);  r = sigmoid(x_r + h_r);  candidate = tanh(x_h + r * h_h)
        #         h = z * h_prev + (1 - z) * candidate
        raise NotImplementedError("TODO 2: compute the update and reset gates and the new state h")
        return h, [h]

    def get_config(self):
        config = super().get_config()
        # TODO 3: add units to the config
        return config
