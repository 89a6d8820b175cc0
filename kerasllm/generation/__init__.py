"""Text generation and scoring with any causal language model.

Every backbone decodes through the same step-with-state protocol (`Backbone.step`); samplers
follow keras-hub's `Sampler` API; `generate` runs the compiled loop; `score_texts` gives
per-line log-likelihoods and the corpus perplexity.
"""

from kerasllm.generation.beam import BeamSearchSampler
from kerasllm.generation.decode import Decoder, generate
from kerasllm.generation.runs import LanguageModelRun, load_language_model
from kerasllm.generation.samplers import SAMPLERS, get_sampler, list_samplers, register_sampler
from kerasllm.generation.scoring import LineScore, ScoreResult, score_texts

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
]
