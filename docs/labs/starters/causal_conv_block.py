"""Lab 06 starter: y = x + relu(causal_conv(x)), the convolution written out with keras.ops.

Fill in the TODOs, then run:
    kerasllm lab check causal_conv docs/labs/starters/causal_conv_block.py:MyCausalConvBlock
"""

import keras
from keras import ops


class MyCausalConvBlock(keras.layers.Layer):
    def __init__(self, kernel_size=3, dilation_rate=1, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.dilation_rate = dilation_rate

    def build(self, input_shape):
        channels = input_shape[-1]
        # TODO 1: self.kernel (kernel_size, channels, channels) and self.bias (channels,) with self.add_weight,
        #         named "kernel" and "bias", in this order (the layout of keras.layers.Conv1D)
        raise NotImplementedError("TODO 1: create kernel and bias")

    def call(self, inputs, padding_mask=None):
        # TODO 2: zero the padded steps: x = inputs * mask[:, :, None] (when padding_mask is not None)
        # TODO 3: pad (kernel_size - 1) * dilation_rate zeros on the LEFT of the time axis (ops.pad);
        #         tap j reads the padded sequence from j * dilation_rate on, for T steps;
        #         conv = sum_j tap_j @ kernel[j] + bias
        # TODO 4: return inputs + ops.relu(conv)
        raise NotImplementedError("TODO 2-4: mask, left-pad, sum the taps, add the residual")

    def get_config(self):
        config = super().get_config()
        # TODO 5: add kernel_size and dilation_rate to the config
        return config
