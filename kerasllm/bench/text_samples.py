"""A few generated continuations of a language-modelling run, as TensorBoard text summaries.

The bench writes them into the run's `validation/` folder once the run is trained, so the Text
tab of `tensorboard --logdir OUT` shows what every architecture writes, beside its curves. The
prompts are the starts of evenly spaced validation windows, the same for every architecture.
"""

import numpy as np

from kerasllm.generation import generate
from kerasllm.tokenizers.base import PAD_ID
from kerasllm.training.summaries import summary_writer

SAMPLES_FILE_SUFFIX = ".samples"
SAMPLES_TAG = "samples/top_k"


def sample_prompts(encoded, count=3):
    """The first quarter of `count` evenly spaced windows of an encoded LM split.

    Example:

    >>> import numpy as np
    >>> from kerasllm.data.pipeline import EncodedSplit
    >>> split = EncodedSplit(token_ids=np.arange(4, 36).reshape(4, 8), targets=np.zeros((4, 8)))
    >>> [row.tolist() for row in sample_prompts(split, count=2)]
    [[4, 5], [28, 29]]
    """
    width = encoded.token_ids.shape[1]
    rows = np.linspace(0, encoded.num_examples - 1, num=min(count, encoded.num_examples)).astype(int)
    prompts = []
    for row in rows:
        ids = encoded.token_ids[row][encoded.token_ids[row] != PAD_ID]
        prompts.append(ids[: max(1, width // 4)])
    return prompts


def text_samples(lm, tokenizer, prompts, max_new_tokens, seed=0, k=10):
    """Continues each prompt with top-k sampling; returns (prompt text, continuation text) pairs.

    The continuation runs on through document ends (eos is not a stop), so every sample shows
    `max_new_tokens` tokens of the model's text.
    """
    outputs = generate(lm, prompts, max_new_tokens=max_new_tokens, sampler="top_k", k=k, seed=seed,
                       stop_token_ids=())
    samples = []
    for prompt, out in zip(prompts, outputs):
        head, whole = tokenizer.decode(prompt.tolist()), tokenizer.decode(out.tolist())
        # the continuation as it reads after the prompt (a word tokenizer puts a space between)
        tail = whole[len(head):] if whole.startswith(head) else tokenizer.decode(out[len(prompt):].tolist())
        samples.append((head, tail))
    return samples


def as_markdown(prompt, continuation):
    """One sample as a Markdown block: the prompt in bold, then the model's text (line breaks kept)."""
    quoted = lambda text: "  \n".join(text.replace("*", r"\*").splitlines() or [""])  # noqa: E731
    return f"**{quoted(prompt)}**{quoted(continuation)}"


def write_text_samples(run_dir, trainer, step, count=3, seed=0):
    """Writes `count` continuations of the trained model into `run_dir/validation` at `step`.

    Args:
        run_dir: the run directory.
        trainer: a `Trainer` whose `model` is trained on an lm task.
        step: the training step the samples belong to.
        count: number of prompts.
        seed: sampling seed (the run's seed: the same run writes the same text).

    Returns:
        The (prompt, continuation) pairs written.
    """
    encoded = trainer.encoded("validation")
    prompts = sample_prompts(encoded, count)
    samples = text_samples(trainer.model, trainer.tokenizer, prompts,
                           max_new_tokens=encoded.token_ids.shape[1] - max(map(len, prompts)), seed=seed)
    with summary_writer(run_dir / "validation", filename_suffix=SAMPLES_FILE_SUFFIX) as writer:
        writer.text(SAMPLES_TAG, [as_markdown(*sample) for sample in samples], step)
    return samples
