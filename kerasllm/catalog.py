"""The built-in names, as plain data: architectures, tasks, labs and the cells of the shipped suites.

The CLI answers `kerasllm archs | tasks | lab list` and refuses a misspelt `--arch` / `--task` from here,
without importing Keras or TensorFlow (a second or more). The registries stay the truth: a test checks
that this catalog matches `BACKBONES`, `BASELINES`, `TASKS`, `LABS` and the shipped suites exactly, so a new
built-in is added in both places. A user's own classes are not here: they reach the CLI as import paths
(`file.py:Class`), which the CLI passes through to the library.

Example:
>>> from kerasllm.catalog import ARCHITECTURES, check_name
>>> [arch.name for arch in ARCHITECTURES][:3]
['bow', 'rnn', 'gru']
>>> check_name("architecture", "lstmm")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
kerasllm.errors.UnknownNameError: Unknown architecture 'lstmm'. Did you mean 'lstm'? Known: bow, rnn, ...
"""

import pathlib
from typing import NamedTuple

from kerasllm.checks import did_you_mean
from kerasllm.errors import ConfigError, UnknownNameError
from kerasllm.imports import is_prefixed_arch


class Architecture(NamedTuple):
    name: str
    summary: str  # the first line of the backbone class's docstring


class Task(NamedTuple):
    name: str
    kind: str  # "classification", "lm" or "seq2seq"
    metric: str  # the headline metric
    summary: str  # the first line of the task class's docstring


class Lab(NamedTuple):
    number: str
    name: str
    title: str
    convention: str
    starter: str  # file name in docs/labs/starters/


# In registration order (kerasllm.models.backbone.BACKBONES).
ARCHITECTURES = (
    Architecture("bow", "Bag-of-embeddings baseline (no word order beyond the optional positions)."),
    Architecture("rnn", "Stacked Elman RNNs, `h_t = tanh(W x_t + U h_{t-1} + b)` (`keras.layers.SimpleRNN`)."),
    Architecture("gru", "Stacked GRUs ([Cho et al., 2014](https://arxiv.org/abs/1406.1078); `keras.layers.GRU`)."),
    Architecture("lstm", "Stacked LSTMs ([Hochreiter & Schmidhuber, 1997]; `keras.layers.LSTM`)."),
    Architecture("cnn", "A stack of residual dilated Conv1D blocks (`ResidualConvBlock`)."),
    Architecture("transformer", "A stack of pre-LayerNorm Transformer blocks and a final LayerNorm."),
)

# Architectures named `prefix:rest` (kerasllm.models.plugins.ARCH_PREFIXES): `--arch` / `--archs` take them as given.
PREFIXED_ARCHITECTURES = (
    Architecture("hub:<name>", "A keras-hub backbone: a preset (hub:bert_tiny_en_uncased, pretrained, its own "
                               "tokenizer) or a class at the run's sizes (hub:BertBackbone, GPT2Backbone, ...)."),
)

# Non-neural baselines (kerasllm.training.baselines.BASELINES): `--arch` / `--archs` take them like architectures;
# summary = the first line of the training function's docstring.
BASELINES = (
    Architecture("tfidf_lr", "TF-IDF over word unigrams + bigrams, then logistic regression with C chosen on the "
                             "validation split."),
    Architecture("copy", "The source itself as the output: the floor of translation (BLEU, chrF), with nothing to "
                         "train."),
    Architecture("lead", "The first sentence of the source as the output: the lead baseline of summarization "
                         "(ROUGE)."),
)

# In registration order (kerasllm.data.base.TASKS).
TASKS = (
    Task("listops", "classification", "accuracy",
         "ListOps (Nangia & Bowman 2018, https://arxiv.org/abs/1804.06028), as in Long Range Arena."),
    Task("mqar", "seq2seq", "token_accuracy",
         "Multi-query associative recall (Arora et al. 2023, Zoology, https://arxiv.org/abs/2312.04927)."),
    Task("selective_copy", "seq2seq", "token_accuracy",
         "Selective copying (Gu & Dao 2023, Mamba, https://arxiv.org/abs/2312.00752)."),
    Task("negation_sentiment", "classification", "accuracy",
         "Sentiment that only word order reveals: a bag of words is at chance, a sequence model is not."),
    Task("toy_translation", "seq2seq", "bleu",
         "Translate by a fixed dictionary and reverse the word order: what an encoder-decoder must learn to do."),
    Task("ag_news", "classification", "accuracy",
         "AG News: 120,000 training and 7,600 test news articles in 4 topics."),
    Task("imdb", "classification", "accuracy",
         "IMDB movie-review sentiment: 25,000 labelled train and 25,000 test reviews, 2 classes."),
    Task("multi30k", "seq2seq", "bleu",
         "Multi30k translation (Flickr30k captions): 29,000 train, 1,014 validation, 1,000 test sentence pairs."),
    Task("pairs", "seq2seq", "bleu",
         "Your own seq2seq data: source -> target pairs read from `data_dir/pairs/`."),
    Task("ptb", "lm", "perplexity",
         "Penn Treebank language modelling: 42,068 / 3,370 / 3,761 sentences, 10,000-word vocabulary."),
    Task("scitldr", "seq2seq", "rouge1",
         "SciTLDR-A summarization: abstract to one-sentence TLDR; 1,992 train, 619 validation, 618 test papers."),
    Task("sst2", "classification", "accuracy",
         "SST-2 sentence sentiment (GLUE): 67,349 train phrases, 872 dev sentences, 2 classes."),
    Task("tiny_shakespeare", "lm", "bits_per_char",
         "Character-level language modelling on Tiny Shakespeare (1,115,394 characters)."),
    Task("wikitext2", "lm", "perplexity",
         "WikiText-2 word-level language modelling (about 2M training tokens, 33,278-word vocabulary)."),
)

# In lab order (kerasllm.labs.list_labs()).
LABS = (
    Lab("01", "rnn", "The RNN recurrence: h_t = tanh(x_t W + h_(t-1) U + b)",
        "Class(units); Keras cell protocol call(inputs, states) -> (h, [h]); state_size = output_size = units; "
        "weights kernel (input_dim, units), recurrent_kernel (units, units), bias (units,) as "
        "keras.layers.SimpleRNNCell", "rnn_cell.py"),
    Lab("02", "lstm", "LSTM gates: input, forget, cell candidate, output",
        "Class(units); call(inputs, [h, c]) -> (h, [h, c]); state_size = [units, units]; weights kernel "
        "(input_dim, 4 units), recurrent_kernel (units, 4 units), bias (4 units,) with the gates in Keras' order "
        "i, f, c, o, as keras.layers.LSTMCell", "lstm_cell.py"),
    Lab("03", "gru", "GRU: update and reset gates (Keras' reset_after convention)",
        "Class(units); call(inputs, [h]) -> (h, [h]); state_size = output_size = units; weights kernel "
        "(input_dim, 3 units), recurrent_kernel (units, 3 units), bias (2, 3 units) (input and recurrent rows), "
        "gates in the order z, r, h, as keras.layers.GRUCell (reset_after=True)", "gru_cell.py"),
    Lab("04", "attention", "Scaled dot-product attention: softmax(Q K^T / sqrt(d_k)) V",
        "Class(causal=False); layer(query, key, value, padding_mask=None, return_attention_scores=False) -> "
        "(batch, T, d_v) [and weights (batch, T, S)]; padding_mask (batch, S) true for real keys; as "
        "keras.ops.dot_product_attention", "scaled_dot_product_attention.py"),
    Lab("05", "multi_head_attention", "Multi-head self-attention (and the sinusoidal position encoding)",
        "Class(num_heads, causal=False); layer(x, padding_mask=None, return_attention_scores=False) -> "
        "(batch, T, hidden_dim) [and weights (batch, num_heads, T, T)]; weights in order: query kernel "
        "(hidden, hidden) and bias, key, value, output kernel and bias; as keras.layers.MultiHeadAttention",
        "multi_head_attention.py"),
    Lab("06", "causal_conv", "A causal CNN block: y = x + relu(causal_conv(x))",
        "Class(kernel_size=3, dilation_rate=1); layer(x, padding_mask=None) -> (batch, T, channels); weights "
        "kernel (kernel_size, channels, channels), bias (channels,) as keras.layers.Conv1D; output x + "
        "relu(conv) with padding='causal'", "causal_conv_block.py"),
    Lab("07", "sampling", "Decoding strategies: temperature, top-k and top-p (nucleus) sampling",
        "keras_hub.samplers.Sampler subclass built as Class(p=..., seed=...); get_next_token(probabilities "
        "(batch, vocab)) -> token ids (batch,); as keras_hub.samplers.TopPSampler", "nucleus_sampler.py"),
    Lab("08", "bpe", "BPE tokenization: the merge step",
        "Class(); step(words: {tuple of symbols: count}) -> (most frequent adjacent pair, words with the pair "
        "merged left to right); ties -> smallest pair; (None, words) when no pair is left; as kerasllm's bpe "
        "trainer (learn_byte_pair_merges)", "bpe_merge_step.py"),
    Lab("09", "cross_attention", "Cross-attention: the decoder's queries read the encoder's features",
        "Class(num_heads); build(query_shape, memory_shape); layer(query, memory, padding_mask=None, "
        "return_attention_scores=False) -> (batch, T, hidden_dim) [and weights (batch, num_heads, T, S)]; query "
        "(batch, T, hidden) from the decoder, memory (batch, S, hidden) from the encoder, padding_mask "
        "(batch, S) true for real source tokens; weights in order: query kernel (hidden, hidden) and bias, key, "
        "value, output kernel and bias; as keras.layers.MultiHeadAttention(query, memory)", "cross_attention.py"),
    Lab("10", "perplexity", "Cross-entropy and perplexity, token-weighted over padded batches",
        "keras.metrics.Metric subclass built as Class(mask_token_id=None); update_state(y_true (batch, seq), y_pred "
        "logits (batch, seq, vocab), sample_weight (batch, seq) 1 real / 0 padding) adds the NLL and the token "
        "count to running totals; result() = exp(total NLL / tokens); as keras_hub.metrics.Perplexity"
        "(from_logits=True)", "perplexity.py"),
)

# The shipped suites (kerasllm.bench.suite.BUILTIN_SUITES) and their cell labels, which `--tasks` also takes.
SUITES = {
    "quick": ("negation_sentiment", "mqar@pairs4", "selective_copy@len16"),
    "classification": ("sst2", "imdb", "ag_news"),
    "lm": ("tiny_shakespeare", "ptb", "wikitext2"),
    "diagnostics": ("mqar@pairs8", "mqar@pairs16", "mqar@pairs32", "listops@len64", "listops@len128",
                    "listops@len256", "selective_copy@len32", "selective_copy@len64", "selective_copy@len128"),
    "translation": ("multi30k", "multi30k@prefix_lm"),
    "summarization": ("scitldr",),
    "transfer": ("imdb@lm", "imdb@mlm", "imdb", "imdb@from-lm", "imdb@from-mlm", "imdb@glove", "imdb@glove-frozen",
                 "sst2", "sst2@from-lm", "sst2@from-mlm", "sst2@glove", "sst2@glove-frozen"),
}

_NAMES = {"architecture": [a.name for a in ARCHITECTURES], "task": [t.name for t in TASKS]}
# Names that pass `check_name` as well; its message lists the registry's names only, as `Registry.get` does.
_ALSO_ACCEPTED = {"architecture": [b.name for b in BASELINES], "task": []}


def names(kind):
    """The built-in names of `kind` ("architecture" or "task"), in registration order."""
    return list(_NAMES[kind])


def check_name(kind, name, also=()):
    """Raises `UnknownNameError` unless `name` is a built-in `kind` or one of `also` (names registered since).

    The message is the registry's (`Registry.get`), word for word.

    A baseline (`BASELINES`, e.g. "tfidf_lr") and a prefixed name (`hub:bert_tiny_en_uncased`) pass as an
    architecture.

    Args:
        kind: "architecture" or "task".
        name: the name given.
        also: other names known in this process (a loaded registry's).
    """
    if kind == "architecture" and is_prefixed_arch(name):
        return  # hub:<name>: the library resolves it (and names a bad one) before anything is written
    known = names(kind) + [n for n in also if n not in _NAMES[kind]]
    if name not in known and name not in _ALSO_ACCEPTED[kind]:
        raise UnknownNameError(f"Unknown {kind} '{name}'.{did_you_mean(name, known)} Known: {', '.join(known)}.")


def check_suite(name):
    """Raises `ConfigError` for a suite name that is neither shipped nor a file name (as `load_suite` does)."""
    if name in SUITES or pathlib.Path(name).suffix:
        return
    raise ConfigError(f"Unknown suite '{name}'.{did_you_mean(name, SUITES)} Use one of {', '.join(SUITES)} "
                      "or a .py / .json / .yaml suite file.")
