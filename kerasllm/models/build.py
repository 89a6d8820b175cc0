"""The one composition point: a run's config + its task + its vocabulary -> the built model.

`build_model` is the only place that resolves the architecture (a registry name or an import path, see
`kerasllm.models.plugins`), applies the shared settings and arch options, picks the head from the task kind
and, for seq2seq, its form (`HEADS`, `head_name`) and builds the weights. The Trainer, bench sizing, the labs and everything that opens a run go
through it, so a model is always built the same way.

Example:
>>> from kerasllm.config import TrainConfig
>>> from kerasllm.models import build_model, count_parameters
>>> class Info:  # what build_model reads of a task's `TaskInfo`
...     kind, num_classes, max_length = "classification", 2, 16
>>> model = build_model(TrainConfig(task="demo", arch="gru", hidden_dim=8, num_layers=1), Info, 50)
>>> type(model).__name__, type(model.backbone).__name__, count_parameters(model)
('TextClassifier', 'GRUBackbone', 850)
"""

import numpy as np

from kerasllm.errors import ConfigError
from kerasllm.imports import load_object
from kerasllm.layers.adaptive_softmax import DEFAULT_DIV_VALUE, default_cutoffs
from kerasllm.layers.plugged import plugged_config
from kerasllm.models.backbone import construct_backbone
from kerasllm.models.heads import CausalLM, MaskedLM, TextClassifier
from kerasllm.models.plugins import resolve_arch
from kerasllm.models.seq2seq import Seq2Seq, cross_heads
from kerasllm.models.word_vectors import vector_width
from kerasllm.registry import Registry


def _cross_attention(config):
    """The run's cross-attention layer class (lab 09), serialized for the blocks, or None."""
    if config.cross_attention is None:
        return None
    return plugged_config(load_object(config.cross_attention), "cross_attention",
                          lambda cls: cls(num_heads=cross_heads(config.hidden_dim)))


def _token_logits(head_class, backbone, config, dtype):
    """A `CausalLM` or `MaskedLM` on `backbone` with the config's output layer: the full softmax, or for
    `softmax=adaptive` an adaptive one with the config's `softmax_options` (cutoffs default to `default_cutoffs`
    of the vocabulary, div_value to `DEFAULT_DIV_VALUE`)."""
    adaptive = {}
    if config.softmax == "adaptive":
        options = config.softmax_options
        adaptive = {"adaptive_cutoffs": options.get("cutoffs", default_cutoffs(backbone.vocab_size)),
                    "adaptive_div_value": options.get("div_value", DEFAULT_DIV_VALUE)}
    return head_class(backbone, tie_weights=config.tie_weights, dtype=dtype, **adaptive)


#: Head name -> `build(make_backbone, config, task_info, dtype) -> keras.Model`, where `make_backbone(causal)`
#: builds one backbone of the run's architecture (an encoder-decoder builds two: its decoder with
#: `make_backbone(True, decoder=True)`, which leaves out the options only an encoder takes, such as bidirectional). A name is a task kind, or for
#: seq2seq its form (`head_name`).
HEADS = Registry("head")
HEADS.register("classification")(lambda make, config, info, dtype: TextClassifier(
    make(False), num_classes=info.num_classes, pooling=config.pooling, dtype=dtype))
HEADS.register("lm")(lambda make, config, info, dtype: _token_logits(CausalLM, make(True), config, dtype))
# Sequence to sequence as a decoder-only prefix LM: `source <bos> target`, scored on the target.
HEADS.register("prefix_lm")(HEADS.get("lm"))
# BERT's masked-token objective: a backbone that reads the whole window (a recurrent one must be bidirectional).
HEADS.register("mlm")(lambda make, config, info, dtype: _token_logits(MaskedLM, make(False), config, dtype))
HEADS.register("encoder_decoder")(lambda make, config, info, dtype: Seq2Seq(
    make(False), make(True, decoder=True), num_heads=cross_heads(config.hidden_dim), tie_weights=config.tie_weights,
    cross_attention=_cross_attention(config), dtype=dtype))
#: The heads that end in an output layer of their own (`TokenLogits`): they take `softmax=adaptive`.
ADAPTIVE_HEADS = ("lm", "prefix_lm", "mlm")


def separate_vocabularies(config, task_info):
    """Whether the run keeps a source and a target vocabulary (`shared_vocabulary=False`, an encoder-decoder only)."""
    if config.shared_vocabulary:
        return False
    if head_name(config, task_info) != "encoder_decoder":
        raise ConfigError("shared_vocabulary=false needs an encoder-decoder (a seq2seq task, seq2seq_form="
                          "encoder_decoder): every other model reads all its text with one embedding. Remove it.")
    return True


def head_name(config, task_info):
    """The `HEADS` entry of a run: its task kind, or for a seq2seq task its form (the config's, else the task's)."""
    if task_info.kind != "seq2seq":
        if config.seq2seq_form is not None:
            raise ConfigError(f"seq2seq_form is for seq2seq tasks; this task is {task_info.kind}. Remove it.")
        return task_info.kind
    return config.seq2seq_form or getattr(task_info, "seq2seq_form", "prefix_lm")


def max_length_of(config, task_info):
    """Tokens per sequence: the config's `max_length`, else the task's default."""
    return config.max_length or task_info.max_length


def build_model(config, task_info, vocabulary_size, source_vocabulary_size=None):
    """Builds the model a run trains: backbone (with plugins) + the head for the task kind, weights created.

    Args:
        config: a `kerasllm.TrainConfig`.
        task_info: the task's `TaskInfo` (its `kind`, `num_classes`, `max_length` are read).
        vocabulary_size: int. The fitted tokenizer's `vocabulary_size` (the target side's, with two).
        source_vocabulary_size: int or None. The source tokenizer's, for an encoder-decoder with separate
            vocabularies (its encoder's); None: one vocabulary for both.

    Raises:
        UnknownNameError: unknown architecture or task kind.
        ConfigError: an invalid setting, or an import path that does not load.
    """
    backbone_class, options = resolve_arch(config.arch, config.arch_options)
    if config.position is not None:
        options["position"] = config.position
    if config.embeddings:  # pretrained vectors of another width: a table that wide, projected to hidden_dim
        width = vector_width(config.embeddings)
        if width != config.hidden_dim:
            options["embedding_dim"] = width
    head = head_name(config, task_info)
    if config.softmax != "full" and head not in ADAPTIVE_HEADS:
        raise ConfigError(f"softmax={config.softmax} is for language-model heads ({', '.join(ADAPTIVE_HEADS)}); this "
                          f"run's head is {head}. Remove it.")
    build_head = HEADS.get(head)
    dtype = "mixed_bfloat16" if config.mixed_precision else None
    max_length = max_length_of(config, task_info)

    def make_backbone(causal, decoder=False):
        kept = {key: value for key, value in options.items()
                if not (decoder and key in backbone_class.encoder_only_options)}
        vocab_size = source_vocabulary_size if source_vocabulary_size and not causal else vocabulary_size
        return construct_backbone(
            backbone_class, vocab_size=vocab_size, hidden_dim=config.hidden_dim, num_layers=config.num_layers,
            dropout=config.dropout, causal=causal, max_length=max_length, dtype=dtype, **kept,
        )

    model = build_head(make_backbone, config, task_info, dtype)
    ones = np.ones((1, max_length), "int32")
    inputs = {"token_ids": ones, "padding_mask": ones.astype(bool)}
    if isinstance(model, Seq2Seq):
        inputs["source_ids"] = ones
    model(inputs)  # creates the weights
    return model


def count_parameters(model):
    """Trainable parameters of a built model."""
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))
