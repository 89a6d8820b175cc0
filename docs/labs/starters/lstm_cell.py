"""Lab 02 starter: an LSTM cell with Keras' weight layout (gates packed as i, f, c, o).

Fill in the TODOs, then run:
    kerasllm lab check lstm docs/labs/starters/lstm_cell.py:MyLSTMCell
"""

import keras
from keras import ops


class MyLSTMCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]  # the state is [h, c]
        self.output_size = units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        # TODO 1: create, in this order, with self.add_weight:
        #   kernel           (input_dim, 4 * units)   the four gates side by side: i, f, c, o
        #   recurrent_kernel (units, 4 * units)
        #   bias             (4 * units,)             (tip: start the forget-gate part at 1)
        raise NotImplementedError("TODO 1: create kernel, recurrent_kernel and bias (4 gates each)")

    def call(self, inputs, states, training=None):
        h_prev, c_prev = states
        # TODO 2: z = x_t W + h_(t-1) U + b; split z into i, f, g, o (ops.split(z, 4, axis=-1));
        #         c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g);  h = sigmoid(o) * tanh(c)
        raise NotImplementedError("TODO 2: compute the gates, the new cell state c and the output h")
        return h, [h, c]

    def get_config(self):
        config = super().get_config()
        # TODO 3: add units to the config
        return config
