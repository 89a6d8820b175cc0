"""Text generation and scoring with any causal language model.

Every backbone decodes through the same step-with-state protocol (`Backbone.step`); samplers
follow keras-hub's `Sampler` API and are registered by name in `SAMPLERS`; `generate(lm, prompts)`
runs the compiled loop; `translate(model, sources, tokenizer)` writes a seq2seq model's outputs; `score_texts` gives per-line log-likelihoods and the corpus perplexity.

Example:
>>> import kerasllm as kl
>>> kl.generation.list_samplers()
['greedy', 'temperature', 'top_k', 'top_p', 'beam']
>>> lm = kl.models.CausalLM(kl.models.get_backbone("gru", vocab_size=20, hidden_dim=8, num_layers=1,
...                                                causal=True))
>>> out = kl.generation.generate(lm, [[5, 6, 7], [8]], max_new_tokens=4, stop_token_ids=())
>>> [len(row) for row in out]
[7, 5]
"""

from kerasllm.generation.beam import BeamSearchSampler
from kerasllm.generation.decode import Decoder, generate
from kerasllm.generation.runs import LanguageModelRun, load_language_model
from kerasllm.generation.samplers import SAMPLERS, get_sampler, list_samplers, register_sampler
from kerasllm.generation.scoring import LineScore, ScoreResult, score_texts
from kerasllm.generation.translate import Translator, translate

__all__ = [
    "BeamSearchSampler",
    "Decoder",
    "LanguageModelRun",
    "LineScore",
    "SAMPLERS",
    "ScoreResult",
    "generate",
    "get_sampler",
    "list_samplers",
    "load_language_model",
    "register_sampler",
    "score_texts",
    "translate",
    "Translator",
]
