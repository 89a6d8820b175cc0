"""Building blocks shared by the backbones (and the teaching layers of the labs)."""

from kerasllm.layers.attention import MultiHeadSelfAttention
from kerasllm.layers.conv_block import ResidualConvBlock
from kerasllm.layers.embedding import POSITION_TYPES, TextEmbedding
from kerasllm.layers.transformer_block import TransformerBlock

__all__ = [
    "POSITION_TYPES",
    "MultiHeadSelfAttention",
    "ResidualConvBlock",
    "TextEmbedding",
    "TransformerBlock",
]
