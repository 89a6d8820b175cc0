"""Lab 07: a top-p (nucleus) sampler from scratch, checked against `keras_hub.samplers.TopPSampler`.

Convention: a `keras_hub.samplers.Sampler` subclass built as `Class(p=..., seed=...)` that implements
`get_next_token(probabilities)`: probabilities `(batch, vocab)` in, token ids `(batch,)` out. The
nucleus is the smallest set of most likely tokens whose probabilities sum to at least `p` (the token
that crosses `p` is kept); the next token is drawn from it in proportion to the probabilities.
"""

import tempfile

import keras
import keras_hub
import numpy as np
from keras import ops

from kerasllm.labs.base import Lab, LabFailure, check, register_lab, to_numpy
from kerasllm.labs.training import TINY_RUN
from kerasllm.training import Trainer

ROWS = 4000  # draws per distribution for the frequency checks
# An unsorted distribution: a sampler that assumes sorted input fails.
PROBABILITIES = np.array([0.05, 0.2, 0.5, 0.1, 0.15], "float32")
P = 0.8  # sorted: 0.5, 0.2, 0.15 | 0.1, 0.05 -> the nucleus is {2, 1, 4}


@keras.saving.register_keras_serializable(package="kerasllm")
class NucleusSampler(keras_hub.samplers.Sampler):
    """Top-p (nucleus) sampling from scratch ([Holtzman et al., 2019](https://arxiv.org/abs/1904.09751)).

    Sort the probabilities, keep the most likely tokens until their sum reaches `p` (the token that
    crosses `p` is kept, so the nucleus is never empty), and draw among them in proportion to their
    probabilities. Same rule as `keras_hub.samplers.TopPSampler` (without its `k` shortcut).

    Override point: `nucleus_mask(sorted_probabilities)` returns which sorted tokens are kept.

    Args:
        p: float in (0, 1]. Probability mass of the nucleus. Defaults to `0.9`.
        seed: int or None. Seed of the draws. Defaults to `None`.
        **kwargs: passed to `keras_hub.samplers.Sampler` (`temperature`).

    Example:
    >>> import numpy as np
    >>> from kerasllm.labs.sampling import NucleusSampler
    >>> sampler = NucleusSampler(p=0.5, seed=1)
    >>> int(sampler.get_next_token(np.array([[0.1, 0.6, 0.3]], "float32"))[0])  # 0.6 >= p: greedy
    1

    A sampler that keeps at least two tokens only overrides `nucleus_mask`:
    >>> class AtLeastTwo(NucleusSampler):
    ...     def nucleus_mask(self, sorted_probabilities):
    ...         keep = super().nucleus_mask(sorted_probabilities)
    ...         return ops.logical_or(keep, ops.arange(ops.shape(keep)[1])[None, :] < 2)
    >>> int(AtLeastTwo(p=0.5, seed=1).get_next_token(np.array([[0.1, 0.6, 0.3]], "float32"))[0]) in (1, 2)
    True
    """

    def __init__(self, p=0.9, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.p = p
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def nucleus_mask(self, sorted_probabilities):
        """Bool `(batch, vocab)`: true for the sorted tokens inside the nucleus."""
        before = ops.cumsum(sorted_probabilities, axis=-1) - sorted_probabilities  # mass of the tokens before
        return ops.less_equal(before, self.p)  # the first token (before = 0) is always kept

    def get_next_token(self, probabilities):
        order = ops.flip(ops.argsort(probabilities, axis=-1), axis=-1)  # most likely first
        sorted_probabilities = ops.take_along_axis(probabilities, order, axis=-1)
        kept = ops.where(self.nucleus_mask(sorted_probabilities), sorted_probabilities, 0.0)
        choice = keras.random.categorical(ops.log(kept), 1, seed=self.seed_generator, dtype="int32")  # (B, 1)
        return ops.squeeze(ops.take_along_axis(order, choice, axis=-1), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"p": self.p, "seed": self.seed})
        return config


def nucleus(probabilities, p):
    """The token ids keras-hub's TopPSampler may draw (numpy, one distribution)."""
    order = np.argsort(-probabilities, kind="stable")
    before = np.cumsum(probabilities[order]) - probabilities[order]
    return set(order[before <= p].tolist())


def _draw(sampler, probabilities, rows=ROWS):
    batch = np.tile(probabilities[None, :], (rows, 1)).astype("float32")
    return to_numpy(sampler.get_next_token(ops.convert_to_tensor(batch))).astype("int64")


@register_lab("sampling")
class SamplingLab(Lab):
    number, title = "07", "Decoding strategies: temperature, top-k and top-p (nucleus) sampling"
    convention = ("keras_hub.samplers.Sampler subclass built as Class(p=..., seed=...); get_next_token(probabilities "
                  "(batch, vocab)) -> token ids (batch,); as keras_hub.samplers.TopPSampler")
    reference = "kerasllm.labs.sampling:NucleusSampler"
    starter = "nucleus_sampler.py"

    @check("built as Class(p, seed), a keras_hub.samplers.Sampler", fatal=True)
    def protocol(self):
        sampler = self.cls(p=P, seed=1)
        if not isinstance(sampler, keras_hub.samplers.Sampler):
            raise LabFailure("the sampler must subclass keras_hub.samplers.Sampler (and call super().__init__())")

    @check("get_next_token returns one int token id per row", fatal=True)
    def contract(self):
        tokens = self.cls(p=P, seed=1).get_next_token(ops.convert_to_tensor(np.tile(PROBABILITIES, (3, 1))))
        shape = tuple(tokens.shape)
        if shape != (3,):
            raise LabFailure(f"get_next_token returned shape {shape}, expected (batch,) = (3,): one id per row "
                             "(squeeze the sample axis)")
        if "int" not in keras.backend.standardize_dtype(tokens.dtype):
            raise LabFailure(f"get_next_token returned {tokens.dtype}; return integer token ids, not probabilities")

    @check("draws only from the nucleus, and from all of it")
    def support(self):
        drawn = set(_draw(self.cls(p=P, seed=1), PROBABILITIES).tolist())
        expected = nucleus(PROBABILITIES, P)
        outside = drawn - expected
        if outside:
            raise LabFailure(f"sampled token(s) {sorted(outside)} outside the nucleus {sorted(expected)}: keep only "
                             "the smallest set of most likely tokens whose probabilities sum to at least p (sort "
                             "them first: the input is not sorted)")
        missing = expected - drawn
        if missing == {4}:
            raise LabFailure("the nucleus is one token short: keep the token whose probability crosses p (shift "
                             "the cumulative sum by one, so a token is kept when the mass before it is <= p)")
        if missing:
            raise LabFailure(f"token(s) {sorted(missing)} of the nucleus {sorted(expected)} are never drawn in "
                             f"{ROWS} draws: draw among all kept tokens")

    @check("draws in proportion to the probabilities, like keras_hub.samplers.TopPSampler")
    def frequencies(self):
        drawn = _draw(self.cls(p=P, seed=2), PROBABILITIES)
        reference = _draw(keras_hub.samplers.TopPSampler(p=P, seed=2), PROBABILITIES)
        ours = np.bincount(drawn, minlength=len(PROBABILITIES)) / ROWS
        theirs = np.bincount(reference, minlength=len(PROBABILITIES)) / ROWS
        kept = sorted(nucleus(PROBABILITIES, P))
        expected = np.zeros_like(ours)
        expected[kept] = PROBABILITIES[kept] / PROBABILITIES[kept].sum()
        tolerance = 5 * np.sqrt(0.25 / ROWS)  # five standard deviations of a frequency
        if np.abs(ours - expected).max() > tolerance:
            uniform = np.zeros_like(ours)
            uniform[kept] = 1 / len(kept)
            if np.abs(ours - uniform).max() <= tolerance:
                raise LabFailure("the kept tokens are drawn uniformly: draw them in proportion to their "
                                 "probabilities (keras.random.categorical on the log of the kept probabilities)")
            raise LabFailure(f"token frequencies {np.round(ours, 3).tolist()} differ from the renormalized nucleus "
                             f"{np.round(expected, 3).tolist()} (TopPSampler drew {np.round(theirs, 3).tolist()})")

    @check("tiny p picks the most likely token; p = 1 can draw every token")
    def extremes(self):
        rng = np.random.default_rng(0)
        probabilities = rng.dirichlet(np.ones(8), size=16).astype("float32")
        greedy = to_numpy(self.cls(p=1e-6, seed=3).get_next_token(ops.convert_to_tensor(probabilities)))
        if not np.array_equal(greedy, probabilities.argmax(-1)):
            raise LabFailure("with a tiny p the sampler must pick the most likely token (the nucleus always holds "
                             "at least the top token)")
        flat = np.full(6, 1 / 6, "float32")
        drawn = set(_draw(self.cls(p=1.0, seed=3), flat, rows=600).tolist())
        if drawn != set(range(6)):
            raise LabFailure(f"with p = 1 and a uniform distribution only tokens {sorted(drawn)} were drawn: p = 1 "
                             "keeps every token")

    @check("the seed makes the draws repeatable")
    def seeded(self):
        first = _draw(self.cls(p=0.95, seed=11), PROBABILITIES, rows=64)
        second = _draw(self.cls(p=0.95, seed=11), PROBABILITIES, rows=64)
        if not np.array_equal(first, second):
            raise LabFailure("two samplers with the same seed drew different tokens: make a "
                             "keras.random.SeedGenerator(seed) in __init__ and pass it as seed= to keras.random")

    @check("get_config round-trip")
    def config_round_trip(self):
        sampler = self.cls(p=0.7, seed=5)
        config = sampler.get_config()
        missing = [key for key in ("p", "seed") if key not in config]
        if missing:
            raise LabFailure(f"get_config() lacks {', '.join(missing)}: add them with config.update(...)")
        clone = type(sampler).from_config(config)
        if clone.get_config() != config:
            raise LabFailure("from_config(get_config()) gives a different config")

    @check("generates from a causal LM trained briefly through the Trainer (selective_copy)")
    def trains(self):
        config = {**TINY_RUN, "task": "selective_copy", "arch": "gru", "arch_options": {}}
        with tempfile.TemporaryDirectory(prefix="kerasllm-lab-") as folder:
            trainer = Trainer(config, run_dir=f"{folder}/run")
            trainer.fit(verbose=0)
        lm, vocabulary = trainer.model, trainer.tokenizer.vocabulary_size
        prompt = np.zeros((2, 12), "int32")
        prompt[:, :4] = trainer.encoded("test").token_ids[:2, :4]
        prompt_mask = np.zeros_like(prompt, bool)
        prompt_mask[:, :4] = True

        def next_logits(ids, cache, index):
            logits = lm({"token_ids": ids, "padding_mask": ops.ones_like(ids, "bool")})  # (B, T, V), causal
            return ops.take(logits, index - 1, axis=1), None, cache

        out = to_numpy(self.cls(p=0.9, seed=0)(next_logits, ops.convert_to_tensor(prompt), index=4,
                                               mask=ops.convert_to_tensor(prompt_mask)))
        if not np.array_equal(out[:, :4], prompt[:, :4]):
            raise LabFailure("generation changed the prompt tokens")
        if out.min() < 0 or out.max() >= vocabulary:
            raise LabFailure(f"generated ids outside the vocabulary [0, {vocabulary})")
        self.note(f"generated {out.shape[1] - 4} tokens per row")
