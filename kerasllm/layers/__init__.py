"""Building blocks shared by the backbones (and the teaching layers of the labs)."""

from kerasllm.layers.attention import MultiHeadSelfAttention
from kerasllm.layers.causal_conv import CausalConvBlock
from kerasllm.layers.cells import GRUCell, LSTMCell, SimpleRNNCell
from kerasllm.layers.conv_block import ResidualConvBlock
from kerasllm.layers.embedding import POSITION_TYPES, TextEmbedding
from kerasllm.layers.positions import SinusoidalPositionEncoding
from kerasllm.layers.scaled_dot_product_attention import ScaledDotProductAttention
from kerasllm.layers.transformer_block import TransformerBlock

__all__ = [
    "POSITION_TYPES",
    "CausalConvBlock",
    "GRUCell",
    "LSTMCell",
    "MultiHeadSelfAttention",
    "ResidualConvBlock",
    "ScaledDotProductAttention",
    "SimpleRNNCell",
    "SinusoidalPositionEncoding",
    "TextEmbedding",
    "TransformerBlock",
]
