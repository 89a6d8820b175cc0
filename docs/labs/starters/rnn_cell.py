"""Lab 01 starter: the RNN recurrence h_t = tanh(x_t W + h_(t-1) U + b) as a Keras cell.

Fill in the TODOs, then run:
    kerasllm lab check rnn docs/labs/starters/rnn_cell.py:MyRNNCell
"""

import keras
from keras import ops


class MyRNNCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units  # the state is h, of width units
        self.output_size = units  # the output is h too

    def build(self, input_shape):
        input_dim = input_shape[-1]
        # TODO 1: create three weights with self.add_weight(shape=..., name=..., initializer=...), in this order:
        #   kernel           (input_dim, units)   multiplies x_t             initializer "glorot_uniform"
        #   recurrent_kernel (units, units)       multiplies h_(t-1)         initializer "orthogonal"
        #   bias             (units,)                                        initializer "zeros"
        raise NotImplementedError("TODO 1: create kernel, recurrent_kernel and bias with self.add_weight")

    def call(self, inputs, states, training=None):
        h_prev = states[0]  # (batch, units); keras.layers.RNN passes the states as a list
        # TODO 2: h = tanh(inputs @ kernel + h_prev @ recurrent_kernel + bias), with ops.matmul and ops.tanh
        raise NotImplementedError("TODO 2: compute h_t = tanh(x_t W + h_(t-1) U + b) in call")
        return h, [h]  # the output, and the new states as a list

    def get_config(self):
        config = super().get_config()
        # TODO 3: add units to the config, so that from_config can rebuild the cell
        return config
