"""Beam search with a length penalty, as a keras-hub `Sampler`."""

import keras
import keras_hub
from keras import ops
from keras import tree


@keras.saving.register_keras_serializable(package="kerasllm")
class BeamSearchSampler(keras_hub.samplers.Sampler):
    """Keeps the `num_beams` most likely continuations of every prompt.

    At each step every beam is extended by every token, and the `num_beams` extensions with
    the highest total log-likelihood survive. A beam that has produced a stop token is
    finished: it keeps its score and only grows by padding. At the end each row returns the
    beam with the best `log_likelihood / num_new_tokens ** length_penalty`, so
    `length_penalty=0` prefers the most likely sequence overall and `1` the most likely per
    token (which stops beam search from favouring short, early-stopping beams). With
    `num_beams=1` this is greedy decoding. Prompt positions are never changed.

    Unlike `keras_hub.samplers.BeamSampler`, finished beams stop growing and prompts of
    different lengths in one batch are handled (a beam is forced through its own prompt).

    Args:
        num_beams: int. Beams per prompt. Defaults to `4`.
        length_penalty: float. Exponent of the length normalization. Defaults to `1.0`.

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> logits = np.log(np.array([[0.1, 0.5, 0.4]], "float32"))
    >>> def next(prompt, cache, index):  # the same distribution at every step
    ...     return ops.repeat(logits, ops.shape(prompt)[0], axis=0), None, cache
    >>> prompt = np.array([[2, 0, 0]])
    >>> out = BeamSearchSampler(num_beams=2)(next, prompt, index=1,
    ...                                      mask=np.array([[True, False, False]]))
    >>> ops.convert_to_numpy(out).tolist()
    [[2, 1, 1]]
    """

    def __init__(self, num_beams=4, length_penalty=1.0, **kwargs):
        super().__init__(**kwargs)
        self.num_beams = num_beams
        self.length_penalty = length_penalty

    def __call__(self, next, prompt, cache=None, index=0, mask=None, stop_token_ids=None,
                 hidden_states=None, model=None):
        beams = self.num_beams
        batch_size, max_length = ops.shape(prompt)[0], ops.shape(prompt)[1]
        index = ops.cast(index, "int32")
        mask = ops.zeros_like(prompt, "bool") if mask is None else ops.cast(mask, "bool")
        stop_ids = ops.convert_to_tensor(list(stop_token_ids or []) or [-1], "int32")

        def repeat(x):  # (B, ...) -> (B * beams, ...), each row `beams` times in a row
            return ops.repeat(x, beams, axis=0)

        flat = batch_size * beams  # static where the batch size is, as TF's while_loop needs
        prompt, mask = repeat(prompt), repeat(mask)
        cache = tree.map_structure(repeat, () if cache is None else cache)
        # Only the first beam of each row is alive at the start, so beams do not duplicate.
        first = ops.convert_to_tensor([0.0] + [-1e9] * (beams - 1), "float32")
        log_probs = ops.reshape(ops.broadcast_to(first, (batch_size, beams)), (flat,))
        finished = ops.zeros_like(log_probs, "bool")
        lengths = ops.zeros_like(log_probs, "float32")
        # Scores are kept relative to each row's best beam (plus a per-row `offset`), so adding
        # a step's log-probabilities loses no float32 precision as totals grow.
        offset = ops.zeros((batch_size,), "float32")

        def cond(prompt, cache, index, log_probs, finished, lengths, offset):
            return ops.logical_not(ops.all(finished))

        def body(prompt, cache, index, log_probs, finished, lengths, offset):
            logits, _, cache = next(prompt, cache, index)
            logits = ops.cast(logits, "float32")  # (B * beams, V)
            vocab = ops.shape(logits)[-1]
            log_normalizer = ops.logsumexp(logits, axis=-1)  # (B * beams,)
            # In the prompt, or once finished, a beam has exactly one continuation at no cost.
            in_prompt = ops.take(mask, index, axis=1)
            forced = ops.where(in_prompt, ops.take(prompt, index, axis=1), 0)
            held = ops.logical_or(in_prompt, finished)
            only = ops.where(ops.equal(ops.arange(vocab)[None, :], forced[:, None]), 0.0, -1e9)
            logits = ops.where(held[:, None], only, logits)
            log_normalizer = ops.where(held, 0.0, log_normalizer)
            # A candidate's total is offset + log_probs + logit - log_normalizer. Rank by the
            # logit plus its beam's gap to the row's best beam: the best beam adds exactly 0,
            # so with one beam this ranks raw logits, as greedy does.
            beam_totals = ops.reshape(log_probs - log_normalizer, (batch_size, beams))
            best_beam = ops.max(beam_totals, axis=1, keepdims=True)  # (B, 1)
            offset = offset + best_beam[:, 0]
            scores = ops.reshape(logits, (batch_size, beams, vocab))
            scores = scores + (beam_totals - best_beam)[:, :, None]
            scores = ops.reshape(scores, (batch_size, beams * vocab))
            log_probs, choice = ops.top_k(scores, k=beams, sorted=True)  # (B, beams), best first
            offset = offset + log_probs[:, 0]
            log_probs = ops.reshape(log_probs - log_probs[:, :1], (flat,))
            source = choice // vocab  # (B, beams): the beam each survivor extends
            token = ops.cast(ops.reshape(choice % vocab, (flat,)), prompt.dtype)

            def gather(x):  # for every surviving beam, the row of the beam it extends
                rest = tuple(ops.shape(x)[1:])
                x = ops.reshape(x, (batch_size, beams, *rest))
                picks = ops.reshape(source, (batch_size, beams, *([1] * len(rest))))
                return ops.reshape(ops.take_along_axis(x, picks, axis=1), (flat, *rest))

            prompt, cache = gather(prompt), tree.map_structure(gather, cache)
            was_finished, lengths = gather(finished), gather(lengths)
            generated = ops.logical_not(ops.logical_or(ops.take(mask, index, axis=1), was_finished))
            lengths = lengths + ops.cast(generated, "float32")
            stopped = ops.any(ops.equal(ops.cast(token, "int32")[:, None], stop_ids[None, :]), axis=1)
            finished = ops.logical_or(was_finished, ops.logical_and(generated, stopped))
            prompt = ops.slice_update(prompt, [0, index], token[:, None])
            return prompt, cache, index + 1, log_probs, finished, lengths, offset

        prompt, _, _, log_probs, _, lengths, offset = self.run_loop(
            cond, body, loop_vars=(prompt, cache, index, log_probs, finished, lengths, offset),
            maximum_iterations=max_length - index, model=model,
        )
        total = log_probs + ops.repeat(offset, beams, axis=0)
        normalized = total / ops.power(ops.maximum(lengths, 1.0), self.length_penalty)
        best = ops.argmax(ops.reshape(normalized, (batch_size, beams)), axis=1)  # (B,)
        prompt = ops.reshape(prompt, (batch_size, beams, max_length))
        return ops.take_along_axis(prompt, best[:, None, None], axis=1)[:, 0, :]

    def get_config(self):
        config = super().get_config()
        config.update({"num_beams": self.num_beams, "length_penalty": self.length_penalty})
        return config
