"""Samplers by name: keras-hub's samplers behind one registry, plus beam search.

A sampler follows keras-hub's `Sampler` API: called with `next(prompt, cache, index)`, it fills
the prompt one position at a time. Any `keras_hub.samplers.Sampler` subclass (a student's own
included) can be passed wherever a name is accepted.

| name          | what it does                                          | options                       |
|---------------|-------------------------------------------------------|-------------------------------|
| `greedy`      | the most likely token                                  |                               |
| `temperature` | sample from softmax(logits / temperature)              | temperature, seed             |
| `top_k`       | sample among the k most likely tokens                  | k, temperature, seed          |
| `top_p`       | sample from the smallest set holding probability >= p  | p, temperature, seed          |
| `beam`        | beam search, best beam by log-likelihood / length**a   | num_beams, length_penalty     |

Example:
>>> from kerasllm.generation import get_sampler
>>> type(get_sampler("top_k", k=5, seed=1)).__name__
'TopKSampler'
"""

import inspect

import keras_hub

from kerasllm.errors import ConfigError
from kerasllm.generation.beam import BeamSearchSampler
from kerasllm.checks import reject_unknown_keys, require
from kerasllm.registry import Registry

SAMPLERS = Registry("sampler")


def register_sampler(name):
    """Registers a factory `(**options) -> keras_hub.samplers.Sampler` under `name`."""
    return SAMPLERS.register(name)


def list_samplers():
    """Names of the registered samplers."""
    return SAMPLERS.names()


def get_sampler(sampler, **options):
    """A sampler from a registered name and its options, or a ready `Sampler` as it is.

    Raises:
        UnknownNameError: an unknown name (with a did-you-mean hint).
        ConfigError: an option the sampler does not take, or an invalid value.
    """
    if isinstance(sampler, keras_hub.samplers.Sampler):
        if options:
            raise ConfigError(
                f"Options {sorted(options)} were given with a ready {type(sampler).__name__}. "
                "Set them when you build the sampler instead."
            )
        return sampler
    factory = SAMPLERS.get(sampler)
    reject_unknown_keys(options, inspect.signature(factory).parameters, "option", where=f" of the '{sampler}' sampler")
    return factory(**options)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_temperature(temperature):
    require(
        isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature > 0,
        f"temperature must be a number > 0, got {temperature!r}. Use e.g. 0.8 (lower is more "
        "conservative), or the 'greedy' sampler for temperature -> 0.",
    )


def _check_seed(seed):
    require(seed is None or _is_int(seed), f"seed must be an integer or None, got {seed!r}.")


@register_sampler("greedy")
def greedy():
    """The most likely token at every step (`keras_hub.samplers.GreedySampler`)."""
    return keras_hub.samplers.GreedySampler()


@register_sampler("temperature")
def temperature(temperature=1.0, seed=None):
    """Samples from softmax(logits / temperature) (`keras_hub.samplers.RandomSampler`)."""
    _check_temperature(temperature)
    _check_seed(seed)
    return keras_hub.samplers.RandomSampler(temperature=temperature, seed=seed)


@register_sampler("top_k")
def top_k(k=10, temperature=1.0, seed=None):
    """Samples among the `k` most likely tokens (`keras_hub.samplers.TopKSampler`)."""
    require(_is_int(k) and k >= 1, f"k must be an integer >= 1, got {k!r}. Use e.g. k=10.")
    _check_temperature(temperature)
    _check_seed(seed)
    return keras_hub.samplers.TopKSampler(k=k, temperature=temperature, seed=seed)


@register_sampler("top_p")
def top_p(p=0.9, temperature=1.0, seed=None):
    """Samples from the nucleus: the fewest most-likely tokens whose probability reaches `p`
    (`keras_hub.samplers.TopPSampler`)."""
    require(
        isinstance(p, (int, float)) and not isinstance(p, bool) and 0 < p <= 1,
        f"p must be in (0, 1], got {p!r}. Use e.g. p=0.9 (1.0 keeps every token).",
    )
    _check_temperature(temperature)
    _check_seed(seed)
    return keras_hub.samplers.TopPSampler(p=p, temperature=temperature, seed=seed)


@register_sampler("beam")
def beam(num_beams=4, length_penalty=1.0):
    """Beam search keeping `num_beams` hypotheses (`BeamSearchSampler`)."""
    require(
        _is_int(num_beams) and num_beams >= 1,
        f"num_beams must be an integer >= 1, got {num_beams!r}. Use e.g. 4.",
    )
    require(
        isinstance(length_penalty, (int, float)) and not isinstance(length_penalty, bool),
        f"length_penalty must be a number, got {length_penalty!r}. 0 ranks by total "
        "log-likelihood, 1 by the mean per token.",
    )
    return BeamSearchSampler(num_beams=num_beams, length_penalty=float(length_penalty))
