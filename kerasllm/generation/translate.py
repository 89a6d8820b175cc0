"""Writing a seq2seq model's outputs for source texts: translations, summaries.

`Translator(model, tokenizer)` encodes sources as the run was trained (truncated to the model's length), starts
every target at `<bos>`, and decodes batches of fixed shape with one compiled `Decoder`, so translating a
validation set every epoch traces once. Both seq2seq forms are served: an encoder-decoder (`Seq2Seq`) reads the
source with its encoder; a decoder-only prefix LM (`CausalLM`) continues `source <bos>`.

Example:
>>> import keras
>>> from kerasllm.models import Seq2Seq, get_backbone
>>> from kerasllm.tokenizers import get_tokenizer
>>> tokenizer = get_tokenizer("word", split="whitespace").fit(["a b c", "x y z"])
>>> keras.utils.set_random_seed(0)
>>> model = Seq2Seq(get_backbone("gru", vocab_size=tokenizer.vocabulary_size, hidden_dim=8, num_layers=1),
...                 get_backbone("gru", vocab_size=tokenizer.vocabulary_size, hidden_dim=8, num_layers=1,
...                              causal=True))
>>> outputs = translate(model, ["a b", "c"], tokenizer, max_new_tokens=4, jit_compile=False)
>>> len(outputs), all(isinstance(text, str) for text in outputs)
(2, True)
"""

import numpy as np

from kerasllm.errors import ConfigError
from kerasllm.generation.decode import Decoder
from kerasllm.generation.samplers import get_sampler
from kerasllm.tokenizers.base import BOS_ID, EOS_ID, UNK_ID
from kerasllm.training.text_scores import OUTPUT_WRITERS


class Translator:
    """One model, tokenizer and sampler; `translator(sources)` returns the output text of each source.

    Args:
        model: a `kerasllm.models.Seq2Seq`, or a prefix-LM `kerasllm.models.CausalLM`.
        tokenizer: the run's tokenizer (its target side's, with separate vocabularies).
        max_new_tokens: int or None. Longest output in tokens; None: `max_length - 1` for an encoder-decoder,
            half the window for a prefix LM.
        sampler: a sampler name (`greedy`, `beam`, ...) or a `keras_hub.samplers.Sampler`. Defaults to greedy.
        batch_size: int. Sources decoded together (the last batch is padded to it). Defaults to 64.
        use_cache: bool. Step with state (True) or recompute every step (the reference).
        jit_compile: bool. Compile the decoding loop. Defaults to `True`.
        source_tokenizer: the source side's tokenizer, for a run with separate vocabularies; None: `tokenizer`.
        **sampler_options: options of a named sampler (`num_beams`, `length_penalty`, ...).
    """

    def __init__(self, model, tokenizer, max_new_tokens=None, sampler="greedy", batch_size=64, use_cache=True,
                 jit_compile=True, source_tokenizer=None, **sampler_options):
        self.model = model
        self.tokenizer = tokenizer
        self.source_tokenizer = source_tokenizer or tokenizer
        self.seq2seq = hasattr(model, "encoder")
        self.max_length = model.backbone.max_length
        # An encoder-decoder's target is `<bos>` then at most max_length - 1 tokens; a prefix LM shares its
        # window between source and output, half each unless told.
        self.max_new_tokens = max_new_tokens or (self.max_length - 1 if self.seq2seq else self.max_length // 2)
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}.")
        self.batch_size = batch_size
        sampler = get_sampler(sampler, **sampler_options)
        vocabulary_size = model.backbone.vocab_size
        if getattr(sampler, "k", None) is not None and sampler.k > vocabulary_size:
            raise ConfigError(f"k={sampler.k} is larger than the vocabulary ({vocabulary_size} tokens). "
                              f"Use k <= {vocabulary_size}.")
        self.decoder = Decoder(model, sampler, use_cache=use_cache, stop_token_ids=(EOS_ID,), jit_compile=jit_compile)

    def _rows(self, sources):
        """(prompts, source arrays or None): what the decoder reads for each source text."""
        encoded = [ids or [UNK_ID] for ids in self.source_tokenizer.encode_batch(list(sources))]
        if self.seq2seq:
            array = np.zeros((len(encoded), self.max_length), "int32")
            for row, ids in enumerate(encoded):
                ids = ids[: self.max_length]
                array[row, : len(ids)] = ids
            return [[BOS_ID] for _ in encoded], array
        # A prefix LM reads `source <bos>`; keep the source's end, and room for the output.
        room = max(self.max_length - self.max_new_tokens - 1, 1)
        return [ids[-room:] + [BOS_ID] for ids in encoded], None

    def ids(self, sources):
        """The output ids of every source text (numpy arrays, without `<bos>` and `<eos>`)."""
        sources = list(sources)
        if not sources:
            return []
        prompts, arrays = self._rows(sources)
        size = min(self.batch_size, len(prompts))
        outputs = []
        for start in range(0, len(prompts), size):
            batch = prompts[start : start + size]
            real = len(batch)
            batch = batch + [batch[-1]] * (size - real)  # one shape for every batch: one trace
            rows = None
            if arrays is not None:
                rows = arrays[start : start + size]
                rows = np.concatenate([rows, np.repeat(rows[-1:], size - real, axis=0)])
            outputs.extend(self.decoder(batch, self.max_new_tokens, sources=rows)[:real])
        return outputs

    def __call__(self, sources):
        """The output text of every source text."""
        return [self.tokenizer.decode(ids.tolist()).strip() for ids in self.ids(sources)]


def translate(model, sources, tokenizer, max_new_tokens=None, sampler="greedy", batch_size=64, use_cache=True,
              jit_compile=True, source_tokenizer=None, **sampler_options):
    """The output text of a seq2seq model for each source text (a list of strings); see `Translator`."""
    if isinstance(sources, str):
        raise ConfigError("translate takes a list of source texts; wrap a single one in a list.")
    translator = Translator(model, tokenizer, max_new_tokens, sampler, batch_size, use_cache, jit_compile,
                            source_tokenizer, **sampler_options)
    return translator(sources)


@OUTPUT_WRITERS.register("greedy")
def greedy_writer(model, tokenizer, batch_size=64, source_tokenizer=None):
    """How the Trainer writes a seq2seq model's outputs for scoring: greedy decoding, compiled once."""
    return Translator(model, tokenizer, batch_size=batch_size, source_tokenizer=source_tokenizer)
