"""Backbones (one per architecture, all with the same signature) and the task heads.

Importing this package registers the built-in backbones: bow, rnn, gru, lstm, cnn, transformer.
"""

from kerasllm.models.backbone import (
    BACKBONES,
    Backbone,
    get_backbone,
    list_backbones,
    register_backbone,
)
from kerasllm.models.bow import BagOfEmbeddingsBackbone
from kerasllm.models.recurrent import (
    GRUBackbone,
    LSTMBackbone,
    RecurrentBackbone,
    SimpleRNNBackbone,
)
from kerasllm.models.cnn import CNNBackbone
from kerasllm.models.transformer import TransformerBackbone
from kerasllm.models.heads import POOLING_MODES, CausalLM, Head, TextClassifier

__all__ = [
    "BACKBONES",
    "Backbone",
    "BagOfEmbeddingsBackbone",
    "CNNBackbone",
    "CausalLM",
    "GRUBackbone",
    "Head",
    "LSTMBackbone",
    "POOLING_MODES",
    "RecurrentBackbone",
    "SimpleRNNBackbone",
    "TextClassifier",
    "TransformerBackbone",
    "get_backbone",
    "list_backbones",
    "register_backbone",
]
