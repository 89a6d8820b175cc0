"""Building blocks the backbones run: the embedding front end, attention, and the conv and Transformer blocks.

The from-scratch reference layers of the labs (the RNN cells, scaled dot-product attention, the sinusoidal
encoding, the causal conv block) are in `kerasllm.labs.reference`.
"""

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
