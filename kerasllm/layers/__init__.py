"""Building blocks the backbones run: the embedding front end, attention, the conv and Transformer blocks, and the
adaptive softmax an LM head may end with.

The from-scratch reference layers of the labs (the RNN cells, scaled dot-product attention, the sinusoidal
encoding, the causal conv block) are in `kerasllm.labs.reference`.

Example (the front end, then one Transformer block, as the `transformer` backbone stacks them):
>>> import numpy as np
>>> from kerasllm.layers import TextEmbedding, TransformerBlock
>>> ids = np.array([[5, 6, 7, 0]])
>>> x = TextEmbedding(vocab_size=20, hidden_dim=8)(ids)
>>> tuple(TransformerBlock(num_heads=2, causal=True)(x, padding_mask=ids != 0).shape)
(1, 4, 8)
"""

from kerasllm.layers.adaptive_softmax import AdaptiveSoftmax
from kerasllm.layers.attention import MultiHeadSelfAttention
from kerasllm.layers.conv_block import ResidualConvBlock
from kerasllm.layers.cross_attention import CrossAttentionBlock, MultiHeadCrossAttention
from kerasllm.layers.embedding import POSITION_TYPES, TextEmbedding
from kerasllm.layers.transformer_block import TransformerBlock

__all__ = [
    "AdaptiveSoftmax",
    "POSITION_TYPES",
    "CrossAttentionBlock",
    "MultiHeadCrossAttention",
    "MultiHeadSelfAttention",
    "ResidualConvBlock",
    "TextEmbedding",
    "TransformerBlock",
]
