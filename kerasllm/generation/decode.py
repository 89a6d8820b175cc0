"""Decoding: a compiled loop that drives a keras-hub sampler through `CausalLM.step`.

`generate(lm, prompts, ...)` is the entry point; it takes the model, so models never import generation. Prompts are
left-aligned in a `(batch, prompt + max_new_tokens)` array. The prompt's first tokens (as many
as the shortest prompt has) are prefilled into the backbone's state, then the sampler fills
one position per step; positions still inside a longer prompt keep the prompt's token. With
`use_cache=False` every step instead reruns the whole model over the (masked) window and
reads the last visible position: the slow reference that cached decoding must equal.

Example:
>>> import keras
>>> from kerasllm.models import CausalLM, get_backbone
>>> keras.utils.set_random_seed(0)
>>> lm = CausalLM(get_backbone("cnn", vocab_size=30, hidden_dim=8, num_layers=2, causal=True))
>>> cached = generate(lm, [[4, 5, 6]], max_new_tokens=8, stop_token_ids=())
>>> recomputed = generate(lm, [[4, 5, 6]], max_new_tokens=8, stop_token_ids=(), use_cache=False)
>>> cached[0].tolist() == recomputed[0].tolist()
True
"""

import itertools

import keras
import numpy as np
from keras import ops

from kerasllm.errors import ConfigError
from kerasllm.generation.samplers import get_sampler
from kerasllm.tokenizers.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID


class Decoder:
    """One model, one sampler, one compiled decoding function (reused across calls).

    Args:
        lm: a `kerasllm.models.CausalLM`, or a `kerasllm.models.Seq2Seq` (then every call passes the
            `sources` the rows translate).
        sampler: a `keras_hub.samplers.Sampler`.
        use_cache: bool. Step with the backbone's state (True) or recompute every step.
        stop_token_ids: ids that end a row's continuation (not included in it).
        repetition_penalty: float >= 1. Logits of tokens already in the row are divided by it
            when positive and multiplied when negative ([Keskar et al., 2019](
            https://arxiv.org/abs/1909.05858)). `1.0` turns it off.
        jit_compile: bool. Compile with XLA (TensorFlow) / `jax.jit` (JAX).
    """

    def __init__(self, lm, sampler, use_cache=True, stop_token_ids=(EOS_ID,),
                 repetition_penalty=1.0, jit_compile=True):
        if not (isinstance(repetition_penalty, (int, float)) and repetition_penalty >= 1.0):
            raise ConfigError(
                f"repetition_penalty must be a number >= 1, got {repetition_penalty!r}. "
                "1.0 turns it off; 1.2 is a common choice."
            )
        self.seq2seq = hasattr(lm, "encoder")
        if not lm.built:
            ones = np.ones((1, 2), "int32")
            lm({"source_ids": ones, "token_ids": ones} if self.seq2seq else ones)  # creates the weights
        self.lm = lm
        self.sampler = sampler
        self.use_cache = use_cache
        self.stop_token_ids = tuple(int(i) for i in stop_token_ids or ())
        self.repetition_penalty = float(repetition_penalty)
        self.jit_compile = jit_compile
        self._compiled = None

    # ------------------------------------------------------------------ the computation
    def _next_logits(self, prompt, index, sources=None):
        """Logits `(batch, vocab)` for position `index` from the whole window (no cache)."""
        width = ops.shape(prompt)[1]
        visible = ops.broadcast_to(ops.less(ops.arange(width)[None, :], index), ops.shape(prompt))
        if self.seq2seq:
            logits = self.lm({"source_ids": sources, "token_ids": prompt, "padding_mask": visible})
        else:
            logits = self.lm(prompt, padding_mask=visible)
        return ops.take(logits, index - 1, axis=1)

    def _initial_state(self, prompt, index, sources=None):
        """The model's state after the prompt's first `index - 1` tokens (and, for seq2seq, the source)."""
        width = ops.shape(prompt)[1]
        if not self.seq2seq:
            state = self.lm.backbone.initial_state(ops.shape(prompt)[0], width)
            return self.lm.backbone.prefill(prompt, state, index - 1)
        state = self.lm.initial_state(sources, width)
        # Cross-attention reads the memory position by position, so only the decoder's own state sees the prefix.
        return {**state, "decoder": self.lm.decoder.prefill(prompt, state["decoder"], index - 1)}

    def _adjust(self, logits, prompt, index):
        """Never pad or bos (no model is trained to predict them); optionally penalize repeats."""
        vocab = ops.shape(logits)[-1]
        never = ops.logical_or(ops.equal(ops.arange(vocab), PAD_ID), ops.equal(ops.arange(vocab), BOS_ID))
        logits = ops.where(never[None, :], -1e9, logits)
        if self.repetition_penalty == 1.0:
            return logits
        width = ops.shape(prompt)[1]
        seen_ids = ops.where(ops.less(ops.arange(width)[None, :], index), prompt, PAD_ID)
        seen = ops.max(ops.one_hot(seen_ids, vocab), axis=1) > 0  # (B, V)
        penalized = ops.where(logits > 0, logits / self.repetition_penalty,
                              logits * self.repetition_penalty)
        return ops.where(seen, penalized, logits)

    def decode(self, prompt, mask, index, sources=None):
        """Fills `prompt` `(batch, width)` from position `index` on; returns the filled array.

        `sources` `(batch, S)`: the source ids each row translates (a `Seq2Seq` model only).
        """
        if self.use_cache:
            state = self._initial_state(prompt, index, sources)
        else:
            # Without a cache the source still travels in the state, so that beam search reorders it with the rows.
            state = {"sources": sources} if self.seq2seq else ()

        def next(prompt, state, index):
            if self.use_cache:
                logits, state = self.lm.step(ops.take(prompt, index - 1, axis=1), state)
            else:
                logits = self._next_logits(prompt, index, state["sources"] if self.seq2seq else None)
            return self._adjust(logits, prompt, index), None, state

        return self.sampler(next, prompt, cache=state, index=index, mask=mask,
                            stop_token_ids=self.stop_token_ids or None, model=self.lm)

    # ------------------------------------------------------------------ compilation
    def _compile(self):
        backend = keras.config.backend()
        if not self.jit_compile or backend not in ("tensorflow", "jax"):
            return self.decode
        if backend == "tensorflow":
            import tensorflow as tf

            # No autograph: the loop is keras.ops control flow already, and autograph would re-read the model's
            # source files, which breaks a long bench whose code is edited while it runs. Static shapes (one trace
            # per prompt width, as XLA compiles one program per width anyway): a Transformer's cached step attends
            # over the bucket of its cache that holds the tokens so far, which needs the cache's length.
            return tf.function(self.decode, jit_compile=True, autograph=False)
        return self._jax_decode()

    def _jax_decode(self):
        """`jax.jit` of `decode`, with variables passed in and sampler seeds passed back."""
        import jax

        lm, sampler = self.lm, self.sampler

        @jax.jit
        def stateless(prompt, mask, index, sources, state):
            sampler_vars, trainable, non_trainable = state
            mapping = itertools.chain(
                zip(sampler.variables, sampler_vars),
                zip(lm.trainable_variables, trainable),
                zip(lm.non_trainable_variables, non_trainable),
            )
            with keras.StatelessScope(state_mapping=mapping) as scope:
                output = self.decode(prompt, mask, index, sources)
            new_sampler_vars = []
            for variable in sampler.variables:
                value = scope.get_current_value(variable)
                new_sampler_vars.append(variable.value if value is None else value)
            return output, new_sampler_vars

        def run(prompt, mask, index, sources=None):
            state = (
                [v.value for v in sampler.variables],
                [v.value for v in lm.trainable_variables],
                [v.value for v in lm.non_trainable_variables],
            )
            output, new_sampler_vars = stateless(prompt, mask, index, sources, state)
            for variable, value in zip(sampler.variables, new_sampler_vars):
                variable.assign(value)
            return output

        return run

    # ------------------------------------------------------------------ the public call
    def __call__(self, prompts, max_new_tokens, sources=None):
        """Continues each id list in `prompts`; returns the new ids of each row (numpy arrays).

        A row's continuation has `max_new_tokens` ids, or ends before its first stop token. A `Seq2Seq` model
        also takes `sources`, an int array `(rows, S)` of right-padded source ids, one row per prompt.
        """
        if self.seq2seq != (sources is not None):
            raise ConfigError("A Seq2Seq model decodes with sources=..., one row per prompt; a CausalLM without.")
        if not (isinstance(max_new_tokens, int) and not isinstance(max_new_tokens, bool)
                and max_new_tokens >= 1):
            raise ConfigError(
                f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}. Use e.g. 100."
            )
        lengths = np.array([len(row) for row in prompts])
        width = int(lengths.max()) + max_new_tokens
        self._check_width(int(lengths.max()), max_new_tokens)
        prompt = np.zeros((len(prompts), width), "int32")
        for row, ids in enumerate(prompts):
            prompt[row, : len(ids)] = ids
        mask = np.arange(width)[None, :] < lengths[:, None]
        if self._compiled is None:
            self._compiled = self._compile()
        index = np.array(lengths.min(), "int32")
        arguments = (prompt, mask, index) if sources is None else (prompt, mask, index, np.asarray(sources, "int32"))
        filled = ops.convert_to_numpy(self._compiled(*arguments))
        continuations = []
        for row, length in enumerate(lengths):
            new = filled[row, length : length + max_new_tokens]
            stops = np.flatnonzero(np.isin(new, self.stop_token_ids))
            continuations.append(new[: stops[0]] if len(stops) else new)
        return continuations

    def _check_width(self, longest_prompt, max_new_tokens):
        backbone = self.lm.backbone
        width = longest_prompt + max_new_tokens
        if backbone.position == "learned" and width > backbone.max_length:
            raise ConfigError(
                f"The longest prompt ({longest_prompt} tokens) plus max_new_tokens={max_new_tokens} "
                f"needs {width} positions, but this model's learned position table stops at "
                f"max_length={backbone.max_length}. Ask for at most "
                f"{max(backbone.max_length - longest_prompt, 0)} new tokens or shorten the prompt "
                "(or train with position=rotary or sinusoidal, which have no limit)."
            )


def _unknown_pieces(text, tokenizer):
    """The words of `text` (or characters inside them) that the tokenizer maps to unknown."""
    pieces = []
    for word in text.split():
        ids = tokenizer.encode(word)
        if UNK_ID not in ids:
            continue
        # A word split into several tokens (characters, sub-words) names its unknown characters.
        characters = [c for c in word if UNK_ID in tokenizer.encode(c)] if len(ids) > 1 else []
        pieces.extend(characters or [word])
    return list(dict.fromkeys(pieces))


def _prompt_ids(prompts, tokenizer, vocabulary_size, allow_unknown):
    """(list of id lists, whether the prompts were text)."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if isinstance(prompts, np.ndarray) and prompts.ndim == 1:
        prompts = [prompts]
    prompts = list(prompts)
    if not prompts:
        raise ConfigError("No prompts given. Pass a string, a list of strings or of id lists.")
    as_text = all(isinstance(p, str) for p in prompts)
    if as_text:
        if tokenizer is None:
            raise ConfigError(
                "Text prompts need the run's tokenizer: pass tokenizer=... (or token id lists)."
            )
        rows = []
        for text in prompts:
            ids = tokenizer.encode(text)
            if UNK_ID in ids and not allow_unknown:
                unknown = ", ".join(repr(p) for p in _unknown_pieces(text, tokenizer)) or "some text"
                raise ConfigError(
                    f"The prompt {text[:40]!r} has text this model's tokenizer never saw: "
                    f"{unknown}. Remove it, or allow it as <unk> (allow_unknown=True, "
                    "--allow-unknown)."
                )
            rows.append(list(ids) or [EOS_ID])  # an empty prompt starts a new document
        return rows, True
    rows = []
    for ids in prompts:
        if isinstance(ids, str):
            raise ConfigError("Mixed prompts: pass all strings or all id lists.")
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        if not ids:
            raise ConfigError("An id prompt is empty. Start it with at least one token id.")
        bad = [i for i in ids if not 0 < i < vocabulary_size]
        if bad:
            raise ConfigError(
                f"Prompt ids {bad[:5]} are outside this model's vocabulary [1, {vocabulary_size}) "
                "(0 is padding). Encode prompts with the run's tokenizer."
            )
        rows.append(ids)
    return rows, False


def generate(lm, prompts, max_new_tokens=64, sampler="greedy", tokenizer=None,
             stop_token_ids=(EOS_ID,), repetition_penalty=1.0, use_cache=True, num_samples=1,
             allow_unknown=False, jit_compile=True, **sampler_options):
    """Continues prompts with a causal language model.

    Args:
        lm: a `kerasllm.models.CausalLM`.
        prompts: a string, a list of strings (needs `tokenizer`), or a list of id lists /
            arrays (rows may differ in length).
        max_new_tokens: int. New tokens per row at most. Defaults to `64`.
        sampler: a name from `list_samplers()` or a `keras_hub.samplers.Sampler`.
        tokenizer: the run's tokenizer, for text prompts and text output.
        stop_token_ids: ids that end a continuation. Defaults to `(EOS_ID,)`.
        repetition_penalty: float >= 1. Defaults to `1.0` (off).
        use_cache: bool. False recomputes the whole prefix at every step (the reference).
        num_samples: int. Continuations per prompt. Defaults to `1`.
        allow_unknown: bool. Let text prompts contain text the tokenizer maps to `<unk>`.
        jit_compile: bool. Compile the decoding loop. Defaults to `True`.
        **sampler_options: options of a named sampler (`temperature`, `k`, `p`, `seed`,
            `num_beams`, `length_penalty`).

    Returns:
        For text prompts, prompt + continuation as text (a string for a single string prompt
        and `num_samples=1`, else a list, prompt-major). For id prompts, a list of int arrays
        (prompt ids then new ids).
    """
    sampler = get_sampler(sampler, **sampler_options)
    vocabulary_size = lm.backbone.vocab_size
    k = getattr(sampler, "k", None)
    if k is not None and k > vocabulary_size:
        raise ConfigError(
            f"k={k} is larger than the vocabulary ({vocabulary_size} tokens). Use k <= {vocabulary_size}."
        )
    if not (isinstance(num_samples, int) and num_samples >= 1):
        raise ConfigError(f"num_samples must be an integer >= 1, got {num_samples!r}.")
    rows, as_text = _prompt_ids(prompts, tokenizer, vocabulary_size, allow_unknown)
    rows = [row for row in rows for _ in range(num_samples)]
    decoder = Decoder(lm, sampler, use_cache=use_cache, stop_token_ids=stop_token_ids,
                      repetition_penalty=repetition_penalty, jit_compile=jit_compile)
    continuations = decoder(rows, max_new_tokens)
    outputs = [np.concatenate([np.asarray(row, "int32"), new]) for row, new in zip(rows, continuations)]
    if not as_text:
        return outputs
    texts = [tokenizer.decode(ids.tolist()) for ids in outputs]
    return texts[0] if isinstance(prompts, str) and num_samples == 1 else texts
