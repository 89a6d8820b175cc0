"""Backbones (one per architecture, all with the same signature), the task heads, and `build_model`.

Importing this package registers the built-in backbones: bow, rnn, gru, lstm, cnn, transformer.
`build_model(config, task_info, vocabulary_size)` is the one place a run's model is composed.

Example:
>>> import numpy as np
>>> import kerasllm as kl
>>> kl.models.list_backbones()
['bow', 'rnn', 'gru', 'lstm', 'cnn', 'transformer']
>>> lm = kl.models.CausalLM(kl.models.get_backbone("cnn", vocab_size=30, hidden_dim=8, num_layers=2, causal=True))
>>> tuple(lm(np.array([[3, 4, 5]])).shape)
(1, 3, 30)
"""

from kerasllm.models.backbone import (
    BACKBONES,
    Backbone,
    construct_backbone,
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
from kerasllm.models.hub import HubBackbone, HubPresetBackbone
from kerasllm.models.heads import POOLING_MODES, CausalLM, Head, TextClassifier
from kerasllm.models.seq2seq import Seq2Seq
from kerasllm.models.build import HEADS, build_model, count_parameters

__all__ = [
    "BACKBONES",
    "Backbone",
    "BagOfEmbeddingsBackbone",
    "CNNBackbone",
    "CausalLM",
    "GRUBackbone",
    "HEADS",
    "Head",
    "HubBackbone",
    "HubPresetBackbone",
    "LSTMBackbone",
    "POOLING_MODES",
    "RecurrentBackbone",
    "Seq2Seq",
    "SimpleRNNBackbone",
    "TextClassifier",
    "TransformerBackbone",
    "build_model",
    "construct_backbone",
    "count_parameters",
    "get_backbone",
    "list_backbones",
    "register_backbone",
]
