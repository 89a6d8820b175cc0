"""Training FLOPs per token of a built model, as Kaplan et al. (2020) count them.

    training FLOPs / token = 3 x forward FLOPs / token        (the backward pass costs about 2 forwards)
    forward FLOPs / token  = 2 x N + backbone.attention_flops_per_token(context)

N is the number of weights used once per token that are not embedding lookups: every trainable weight of
the model except those of the backbone's `TextEmbedding` (token table, learned positions), plus, for a
language model (causal or masked) with tied weights, the vocab_size x hidden_dim output projection, counted
once as a matmul (the table is looked up on the way in and multiplied on the way out; a tied adaptive softmax
multiplies by its shortlist's rows only, `TokenLogits.tied_output_weights`). Each use is a multiply and
an add, so 2 FLOPs; biases and normalization scales are counted the same way, and so is a classifier's output
layer, although it runs once per sequence rather than once per token (a small overcount). The second
term is the work between activations, which only attention has: the Transformer adds
2 x num_layers x context x hidden_dim, Kaplan et al.'s term for the attention scores and the weighted
sum, with context = max_length (every batch is padded to it). It is not halved for causal masking
(Kaplan et al. do not halve it, and our attention computes every score, then masks it). Counted
matmul by matmul, QK^T and the weighted sum would each cost 2 x context x hidden_dim per layer, twice
Kaplan's term (as Hoffmann et al., 2022, appendix F, count it); we keep Kaplan's convention so the
numbers compare with the scaling-law literature. Embedding lookups, position additions,
nonlinearities, softmax and normalization statistics are left out.
Paper: [Kaplan et al., 2020](https://arxiv.org/abs/2001.08361), section 2.1 and table 1.

Example (a one-layer LSTM of width 8 with a 2-class head: 4 gates, each d x d input and recurrent
kernels plus a bias, then the d x 2 classifier and its 2 biases; no attention):
>>> import numpy as np
>>> from kerasllm.models import TextClassifier, get_backbone
>>> model = TextClassifier(get_backbone("lstm", vocab_size=50, hidden_dim=8, num_layers=1), num_classes=2)
>>> _ = model(np.ones((1, 5), "int32"))
>>> d = 8
>>> forward_flops_per_token(model) == 2 * (4 * (d * d + d * d + d) + d * 2 + 2)
True
>>> train_flops_per_token(model)
3372
"""

import numpy as np

from kerasllm.models.heads import TokenLogits


def forward_flops_per_token(model, context=None):
    """Forward FLOPs per token of a built head + backbone model (see the module docstring).

    Args:
        model: a built `TextClassifier`, `CausalLM` or `MaskedLM` (any head with a `backbone`).
        context: tokens each token attends over. Defaults to the backbone's `max_length`.
    """
    backbone = model.backbone
    context = backbone.max_length if context is None else context
    lookups = {id(weight) for weight in backbone.embedding.trainable_weights}
    used = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights if id(weight) not in lookups)
    if isinstance(model, TokenLogits):  # a CausalLM or MaskedLM
        used += model.tied_output_weights()  # the tied output projection, a matmul
    return 2 * used + backbone.attention_flops_per_token(context)


def train_flops_per_token(model, context=None):
    """Training FLOPs per token: 3 x `forward_flops_per_token` (forward, then a backward of about 2x)."""
    return 3 * forward_flops_per_token(model, context)
