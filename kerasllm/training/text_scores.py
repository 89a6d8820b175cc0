"""Scoring what a seq2seq model writes: decode a split's sources, then BLEU / chrF / ROUGE on the text.

Decoding belongs to `kerasllm.generation`, which sits above training; it registers its output writer here
(`OUTPUT_WRITERS`, filled when `kerasllm` is imported), so the Trainer scores translations and summaries without
importing it. A writer is `writer(model, tokenizer) -> write`, `write(source_texts) -> output_texts`, built once
per model so that its compiled decoding loop is reused.

`TextScores` is the callback that adds `val_bleu`, `val_chrf` (or `val_rouge1`, ...) to the logs after every
validation, before the checkpointer reads them, so the best checkpoint is the one with the best headline
metric (`StepScalars` then draws them), and writes a few example outputs to the run's Text tab; `score_outputs`
scores outputs already written for any split.

Example:
>>> from kerasllm.data.base import Split
>>> split = Split(texts=["mat the on sat cat the"], targets=["the cat sat on the mat"])
>>> scores = score_outputs([" ".join(reversed(s.split())) for s in split.texts], split, "bleu")
>>> round(scores["bleu"], 1), round(scores["chrf"], 1)
(100.0, 100.0)
"""

import pathlib

import keras
import numpy as np

from kerasllm.errors import ConfigError
from kerasllm.registry import Registry
from kerasllm.training.summaries import summary_writer
from kerasllm.training.text_metrics import corpus_scores, text_metrics_for

OUTPUT_WRITERS = Registry("output writer")
EXAMPLES_TAG = "outputs/greedy"
#: How many validation examples the Text tab shows after every validation (evenly spaced, the same every time).
NUM_EXAMPLES = 3


def output_writer(model, tokenizer, batch_size=64, source_tokenizer=None):
    """The registered ("greedy") writer for `model`: `write(source_texts) -> output_texts` (sources encoded with
    `source_tokenizer` when the run keeps separate vocabularies)."""
    if "greedy" not in OUTPUT_WRITERS:
        raise ConfigError("No seq2seq decoder is registered: import kerasllm (which imports kerasllm.generation) "
                          "before training a translation or summarization task.")
    return OUTPUT_WRITERS.get("greedy")(model, tokenizer, batch_size, source_tokenizer)


def score_outputs(outputs, split, headline_metric):
    """{metric: value} of `outputs`, one text per source of `split`, against the split's references."""
    return corpus_scores(outputs, split.all_references(), text_metrics_for(headline_metric))


def as_markdown(source, reference, output):
    """One example for the Text tab: the source, the first reference, and what the model wrote."""
    escape = lambda text: text.replace("*", r"\*").replace("|", r"\|")  # noqa: E731
    return f"**source:** {escape(source)}  \n**reference:** {escape(reference)}  \n**output:** {escape(output)}"


class TextScores(keras.callbacks.Callback):
    """After each validation, writes the validation sources' outputs and logs their text metrics as `val_<m>`.

    Args:
        split: the validation `Split` (sources and references).
        tokenizer: the run's tokenizer.
        headline_metric: the task's metric ("bleu" or "rouge1"), which picks the metrics.
        run_dir: the run directory, whose `validation/` gets the example outputs; None writes none.
        batch_size: sources decoded together.
        source_tokenizer: the source side's tokenizer, when the run keeps separate vocabularies.
        num_examples: score the first N examples only (the ones the validation loss reads when the run
            sets `validation_batches`), the same N each time; None scores the whole split.
    """

    def __init__(self, split, tokenizer, headline_metric, run_dir=None, batch_size=64, source_tokenizer=None,
                 num_examples=None):
        super().__init__()
        self.split = split if num_examples is None else split.first(num_examples)
        self.tokenizer = tokenizer
        self.headline_metric = headline_metric
        self.run_dir = None if run_dir is None else pathlib.Path(run_dir)
        self.batch_size = batch_size
        self.source_tokenizer = source_tokenizer
        self._write = None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self._write is None:
            self._write = output_writer(self.model, self.tokenizer, self.batch_size, self.source_tokenizer)
        outputs = self._write(self.split.texts)
        scores = score_outputs(outputs, self.split, self.headline_metric)
        logs.update({f"val_{name}": value for name, value in scores.items() if isinstance(value, float)})
        if self.run_dir is not None:
            self._write_examples(outputs)

    def _write_examples(self, outputs):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        rows = np.linspace(0, len(outputs) - 1, num=min(NUM_EXAMPLES, len(outputs))).astype(int)
        references = self.split.all_references()
        examples = [as_markdown(self.split.texts[i], references[i][0], outputs[i]) for i in rows]
        with summary_writer(self.run_dir / "validation", filename_suffix=".outputs") as writer:
            writer.text(EXAMPLES_TAG, examples, step)
