"""Step-with-state decoding and the samplers, for every architecture.

Cached decoding must give exactly the tokens of full recomputation; samplers must stay inside
their candidate sets; beam search with one beam is greedy; a seed fixes a sample.
"""

import keras
import numpy as np
import pytest

from kerasllm.errors import ConfigError, UnknownNameError
from kerasllm.layers import MultiHeadSelfAttention
from kerasllm.layers.attention import cache_buckets
from kerasllm.generation import (
    BeamSearchSampler,
    Decoder,
    generate,
    get_sampler,
    list_samplers,
)
from kerasllm.models import Backbone, CausalLM, get_backbone
from kerasllm.tokenizers import get_tokenizer
from tests.helpers import assert_round_trips

VOCAB = 40
PROMPTS = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]  # different lengths in one batch


class TokenMLPBackbone(Backbone):
    """A student's causal backbone with no `encode_step`: decodes through the generic fallback.

    Built directly, not registered, so other test files' registry-wide checks never see it.
    """

    default_position = "learned"

    def build(self, token_ids_shape):
        super().build(token_ids_shape)
        self.mix = keras.layers.Dense(self.hidden_dim, name="mix", dtype=self.dtype_policy)
        self.mix.build((*token_ids_shape, self.hidden_dim))

    def encode(self, x, padding_mask, training=None):
        prefix_sum = keras.ops.cumsum(x, axis=1)  # causal: position t sums 0..t
        return keras.ops.tanh(self.mix(prefix_sum))


ARCHS = [
    ("rnn", {}),
    ("gru", {}),
    ("lstm", {}),
    ("bow", {}),
    ("cnn", {"kernel_size": 3}),
    ("transformer", {}),
    ("transformer", {"position": "rotary"}),
    ("transformer", {"position": "sinusoidal"}),
    ("student_token_mlp", {}),
]


def _lm(name, seed=1, **options):
    keras.utils.set_random_seed(seed)
    sizes = dict(vocab_size=VOCAB, hidden_dim=16, num_layers=2, causal=True, max_length=128)
    if name == "student_token_mlp":
        return CausalLM(TokenMLPBackbone(**sizes, **options))
    return CausalLM(get_backbone(name, **sizes, **options))


def _ids(arch):
    name, options = arch
    return f"{name}-{options.get('position', 'default')}"


@pytest.mark.parametrize("arch", ARCHS, ids=_ids)
def test_step_features_equal_the_full_forward_pass(arch):
    name, options = arch
    backbone = _lm(name, **options).backbone
    ids = np.random.default_rng(0).integers(4, VOCAB, size=(3, 12))
    full = keras.ops.convert_to_numpy(backbone(ids))
    state = backbone.initial_state(3, max_length=12)
    for t in range(12):
        features, state = backbone.step(ids[:, t], state)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(features), full[:, t], atol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(state["index"]), [12, 12, 12])


@pytest.mark.parametrize("position", ["learned", "rotary"])
def test_cached_decoding_equals_full_recomputation_across_cache_buckets(position):
    # 200 new tokens after prompts of up to 5: the step's attention moves through buckets 128, 192, 205.
    assert cache_buckets(205) == [128, 192, 205]
    keras.utils.set_random_seed(4)
    lm = CausalLM(get_backbone("transformer", vocab_size=VOCAB, hidden_dim=16, num_layers=2, causal=True,
                               max_length=256, num_heads=2, position=position))
    for sampler, options in (("greedy", {}), ("beam", {"num_beams": 2})):
        cached = generate(lm, PROMPTS, max_new_tokens=200, stop_token_ids=(), sampler=sampler, **options)
        recomputed = generate(lm, PROMPTS, max_new_tokens=200, stop_token_ids=(), sampler=sampler,
                              use_cache=False, **options)
        for a, b in zip(cached, recomputed):
            np.testing.assert_array_equal(a, b)


def test_a_cached_step_reads_only_the_bucket_that_holds_the_tokens_so_far():
    keras.utils.set_random_seed(0)
    layer = MultiHeadSelfAttention(num_heads=2, causal=True)
    x = np.random.default_rng(0).normal(size=(2, 10, 8)).astype("float32")
    full = keras.ops.convert_to_numpy(layer(x))
    key, value = (keras.ops.convert_to_numpy(c) for c in layer.initial_cache(2, 1000))
    key[:, :, 128:], value[..., 128:] = np.nan, np.nan  # past the first bucket: read it and the output is NaN
    cache = [key, value]
    for t in range(10):
        out, cache = layer.step(x[:, t], cache, np.full((2,), t, "int32"))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out), full[:, t], atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS, ids=_ids)
def test_cached_greedy_decoding_equals_full_recomputation_for_64_steps(arch):
    name, options = arch
    lm = _lm(name, **options)
    cached = generate(lm, PROMPTS, max_new_tokens=64, stop_token_ids=())
    recomputed = generate(lm, PROMPTS, max_new_tokens=64, stop_token_ids=(), use_cache=False)
    for prompt, a, b in zip(PROMPTS, cached, recomputed):
        assert len(a) == len(prompt) + 64
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a[: len(prompt)], prompt)


def test_a_batch_of_different_lengths_decodes_like_each_prompt_alone():
    lm = _lm("gru")
    together = generate(lm, PROMPTS, max_new_tokens=20, stop_token_ids=())
    for prompt, row in zip(PROMPTS, together):
        alone = generate(lm, [prompt], max_new_tokens=20, stop_token_ids=())[0]
        np.testing.assert_array_equal(row, alone)


def _next_token_logits(lm, row):
    """Row `t - 1` holds the logits of the token after `row[:t]` (pad and bos never allowed)."""
    logits = keras.ops.convert_to_numpy(lm(np.asarray(row)[None]))[0].astype(np.float64)
    logits[:, [0, 2]] = -np.inf
    return logits


def _generated_positions(lm, prompts, outputs):
    """(token, logits it was chosen from) for every generated position, by plain forward passes."""
    for prompt, row in zip(prompts, outputs):
        logits = _next_token_logits(lm, row)
        for t in range(len(prompt), len(row)):
            yield row[t], logits[t - 1]


@pytest.mark.parametrize("seed", [1, 2])
def test_top_k_never_emits_a_token_outside_the_k_most_likely(seed):
    lm = _lm("lstm", seed=seed)
    outputs = generate(lm, PROMPTS, max_new_tokens=24, stop_token_ids=(), sampler="top_k", k=3,
                       seed=seed)
    checked = 0
    for token, logits in _generated_positions(lm, PROMPTS, outputs):
        kth_largest = np.sort(logits)[-3]
        assert logits[token] >= kth_largest - 1e-5, "sampled a token outside the top k"
        checked += 1
    assert checked == 3 * 24


@pytest.mark.parametrize("p", [0.3, 0.8])
def test_top_p_stays_inside_the_nucleus(p):
    lm = _lm("transformer", seed=3)
    # A sharp temperature makes small nuclei, so leaving them would show.
    outputs = generate(lm, PROMPTS, max_new_tokens=24, stop_token_ids=(), sampler="top_p", p=p,
                       temperature=0.05, seed=7)
    for token, logits in _generated_positions(lm, PROMPTS, outputs):
        probs = np.exp((logits - logits.max()) / 0.05)
        probs /= probs.sum()
        # In the nucleus: the tokens more likely than this one hold less than p in total.
        assert probs[probs > probs[token]].sum() < p + 1e-5


@pytest.mark.parametrize("name", ["gru", "lstm", "cnn", "transformer"])
def test_beam_search_with_one_beam_equals_greedy(name):
    lm = _lm(name)
    greedy = generate(lm, PROMPTS, max_new_tokens=40, stop_token_ids=())
    beam = generate(lm, PROMPTS, max_new_tokens=40, stop_token_ids=(), sampler="beam", num_beams=1)
    for a, b in zip(greedy, beam):
        np.testing.assert_array_equal(a, b)


def _sequence_log_likelihood(lm, prompt, row):
    logits = _next_token_logits(lm, row)
    return sum(logits[t - 1, row[t]] - np.logaddexp.reduce(logits[t - 1])
               for t in range(len(prompt), len(row)))


def test_beam_search_finds_a_sequence_at_least_as_likely_as_greedy():
    lm = _lm("lstm")
    greedy = generate(lm, PROMPTS, max_new_tokens=8, stop_token_ids=())
    beam = generate(lm, PROMPTS, max_new_tokens=8, stop_token_ids=(), sampler="beam", num_beams=4,
                    length_penalty=0.0)
    for prompt, g, b in zip(PROMPTS, greedy, beam):
        assert _sequence_log_likelihood(lm, prompt, b) >= _sequence_log_likelihood(lm, prompt, g) - 1e-4


@pytest.mark.parametrize("sampler,options", [("temperature", {"temperature": 1.5}),
                                             ("top_k", {"k": 5}), ("top_p", {"p": 0.9})])
def test_the_same_seed_gives_the_same_sample(sampler, options):
    lm = _lm("cnn", kernel_size=3)
    runs = [generate(lm, PROMPTS, max_new_tokens=16, stop_token_ids=(), sampler=sampler, seed=seed,
                     **options) for seed in (11, 11, 12)]
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
    assert any((a != c).any() for a, c in zip(runs[0], runs[2])), "another seed gave the same sample"


def test_stop_tokens_end_each_row_and_are_not_returned():
    lm = _lm("gru")
    free = generate(lm, PROMPTS, max_new_tokens=30, stop_token_ids=())
    stop = int(free[0][len(PROMPTS[0]) + 3])  # the 4th new token of the first row
    stopped = generate(lm, PROMPTS, max_new_tokens=30, stop_token_ids=(stop,))
    for prompt, full, cut in zip(PROMPTS, free, stopped):
        new = list(full[len(prompt):])
        expected = new[: new.index(stop)] if stop in new else new
        assert list(cut[len(prompt):]) == expected
    assert len(stopped[0]) <= len(PROMPTS[0]) + 3  # the stop token came at the 4th step or before


def test_repetition_penalty_reduces_repeats():
    lm = _lm("gru")
    plain = generate(lm, PROMPTS, max_new_tokens=40, stop_token_ids=())
    penalized = generate(lm, PROMPTS, max_new_tokens=40, stop_token_ids=(), repetition_penalty=5.0)

    def distinct(rows):
        return sum(len(set(row.tolist())) for row in rows)

    assert distinct(penalized) > distinct(plain)


def test_text_prompts_go_through_the_tokenizer():
    text = "to be or not to be that is the question"
    tokenizer = get_tokenizer("char").fit([text])
    keras.utils.set_random_seed(0)
    lm = CausalLM(get_backbone("lstm", vocab_size=tokenizer.vocabulary_size, hidden_dim=16,
                               num_layers=1, causal=True))
    out = generate(lm, "to be", max_new_tokens=10, tokenizer=tokenizer, stop_token_ids=())
    ids = generate(lm, [tokenizer.encode("to be")], max_new_tokens=10, stop_token_ids=())[0]
    assert isinstance(out, str) and out.startswith("to be") and len(ids) == 15
    assert out == tokenizer.decode(ids.tolist())
    many = generate(lm, ["to", "be"], max_new_tokens=5, tokenizer=tokenizer, num_samples=2,
                       sampler="top_k", k=3, seed=1, stop_token_ids=())
    assert len(many) == 4 and many[0].startswith("to") and many[2].startswith("be")
    with pytest.raises(ConfigError, match="never saw: 'Z'.*allow_unknown"):
        generate(lm, "to Ze", max_new_tokens=3, tokenizer=tokenizer)
    assert generate(lm, "to Ze", max_new_tokens=3, tokenizer=tokenizer, allow_unknown=True)


def test_a_keras_hub_sampler_subclass_works_as_is():
    import keras_hub

    class SecondBest(keras_hub.samplers.Sampler):  # a user's own sampler
        def get_next_token(self, probabilities):
            return keras.ops.argsort(probabilities, axis=-1)[:, -2]

    lm = _lm("cnn", kernel_size=3)
    outputs = generate(lm, PROMPTS, max_new_tokens=10, stop_token_ids=(), sampler=SecondBest())
    for token, logits in _generated_positions(lm, PROMPTS, outputs):
        assert token == np.argsort(logits)[-2]


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda lm: generate(lm, PROMPTS, sampler="topk"), UnknownNameError, "Did you mean 'top_k'"),
        (lambda lm: generate(lm, PROMPTS, sampler="temperature", temperature=0), ConfigError,
         "temperature must be a number > 0"),
        (lambda lm: generate(lm, PROMPTS, sampler="top_p", p=1.5), ConfigError, r"p must be in \(0, 1\]"),
        (lambda lm: generate(lm, PROMPTS, sampler="top_p", p=0), ConfigError, r"p must be in \(0, 1\]"),
        (lambda lm: generate(lm, PROMPTS, sampler="top_k", k=VOCAB + 1), ConfigError,
         "larger than the vocabulary"),
        (lambda lm: generate(lm, PROMPTS, sampler="greedy", k=3), ConfigError, "Unknown option 'k' of the 'greedy' sampler"),
        (lambda lm: generate(lm, PROMPTS, max_new_tokens=0), ConfigError, "max_new_tokens"),
        (lambda lm: generate(lm, [[5, VOCAB]]), ConfigError, "outside this model's vocabulary"),
        (lambda lm: generate(lm, ["text"]), ConfigError, "need the run's tokenizer"),
        (lambda lm: generate(lm, [[5]], max_new_tokens=200), ConfigError,
         "learned position table stops at max_length=128"),
        (lambda lm: generate(lm, PROMPTS, repetition_penalty=0.5), ConfigError, "repetition_penalty"),
    ],
)
def test_bad_generation_requests_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(_lm("transformer"))


def test_a_non_causal_backbone_cannot_step():
    backbone = get_backbone("gru", vocab_size=VOCAB, hidden_dim=8, num_layers=1, causal=False)
    with pytest.raises(ConfigError, match="needs a causal backbone"):
        backbone.initial_state(1)


def test_samplers_are_registered_and_round_trip(tmp_path):
    assert list_samplers() == ["greedy", "temperature", "top_k", "top_p", "beam"]
    for name in list_samplers():
        assert_round_trips(get_sampler(name), tmp_path)
    restored = assert_round_trips(BeamSearchSampler(num_beams=3, length_penalty=0.5), tmp_path)
    assert restored.num_beams == 3 and restored.length_penalty == 0.5


def test_a_decoder_compiles_once_and_serves_prompts_of_other_lengths():
    lm = _lm("rnn")
    decoder = Decoder(lm, get_sampler("greedy"), stop_token_ids=())
    first = decoder(PROMPTS, max_new_tokens=8)
    again = decoder([[5, 6, 7, 8, 9], [10, 11, 4], [12, 13, 14]], max_new_tokens=8)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[2], again[2])
