"""Metrics of generated text: corpus BLEU and chrF (sacrebleu), ROUGE-1 / 2 / L F1 (rouge-score).

They score detokenized strings (what a decoder wrote, turned back into text) against reference strings, in
plain Python after decoding, never inside a compiled step. Each example may have several references, and
examples may have different numbers of them (SciTLDR's test set has 2 to 11 summaries per paper).

- "bleu": sacrebleu's corpus BLEU with its default settings (13a tokenization, exp smoothing, mixed case),
  0-100; its signature string comes back as "bleu_signature" (cite it with the score). With several
  references an n-gram is matched against the most it occurs in any one of them, and the brevity penalty uses
  the reference length closest to the hypothesis's.
- "chrf": sacrebleu's corpus chrF (character 6-grams, beta 2), 0-100, and "chrf_signature". Each example is
  scored against its best-matching reference.
- "rouge1", "rouge2", "rougeL": rouge-score's F1 with the Porter stemmer on ("runs" matches "running"),
  x 100, the maximum over the example's references (SciTLDR's convention), averaged over the examples.
  rouge-score lowercases and keeps only letters a-z and digits.

sacrebleu takes references as *streams* (stream j holds every example's j-th reference); `reference_streams`
builds them from per-example lists, filling the missing ones with None, which sacrebleu (2.0 and later: see
`Metric._cache_references`) drops example by example. An empty string would not do: it would be kept as a
reference of length 0 and could shorten the length BLEU's brevity penalty compares with. The signature then
reads "nrefs:var".

A metric is a function `(hypotheses, references) -> {name: value, ...}` in the `TEXT_METRICS` registry; a
task's headline metric ("bleu" or "rouge1") picks the set a run reports (`text_metrics_for`).

Example:
>>> scores = corpus_scores(["the cat sat on the mat", "a dog ran"],
...                        [["the cat sat on the mat"], ["a dog ran", "the dog was running"]])
>>> round(scores["bleu"], 2), round(scores["chrf"], 2)
(100.0, 100.0)
>>> scores["bleu_signature"]
'nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:...'
>>> rouge = corpus_scores(["the dog runs"], [["a cat sleeps", "the dog was running"]],
...                       metrics=text_metrics_for("rouge1"))
>>> {name: round(value, 1) for name, value in rouge.items()}
{'rouge1': 85.7, 'rouge2': 40.0, 'rougeL': 85.7}
"""

import functools

from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF

from kerasllm.errors import ConfigError
from kerasllm.registry import Registry

TEXT_METRICS = Registry("text metric")

#: A task's headline metric -> the text metrics its runs report (the headline first).
METRICS_OF_HEADLINE = {"bleu": ("bleu", "chrf"), "rouge1": ("rouge1", "rouge2", "rougeL")}


def text_metrics_for(headline_metric):
    """The text metrics a task with this headline metric reports: ("bleu", "chrf"), ("rouge1", "rouge2",
    "rougeL"), or () for a task scored on tokens only (accuracy, perplexity, token_accuracy)."""
    return METRICS_OF_HEADLINE.get(headline_metric, ())


def reference_streams(references):
    """sacrebleu's reference streams from per-example lists: stream j holds each example's j-th reference,
    or None where the example has fewer than j + 1.

    >>> reference_streams([["a", "b"], ["c"]])
    [['a', 'c'], ['b', None]]
    """
    count = max(len(refs) for refs in references)
    return [[refs[j] if j < len(refs) else None for refs in references] for j in range(count)]


def _sacrebleu_score(metric, name, hypotheses, references):
    """{name: metric's corpus score, name_signature: its signature}, `metric` a fresh sacrebleu metric."""
    score = metric.corpus_score(hypotheses, reference_streams(references))
    return {name: float(score.score), f"{name}_signature": str(metric.get_signature())}


@TEXT_METRICS.register("bleu")
def bleu(hypotheses, references):
    """sacrebleu corpus BLEU, default settings: {"bleu": 0-100, "bleu_signature": "nrefs:1|case:mixed|..."}."""
    return _sacrebleu_score(BLEU(), "bleu", hypotheses, references)


@TEXT_METRICS.register("chrf")
def chrf(hypotheses, references):
    """sacrebleu corpus chrF, default settings: {"chrf": 0-100, "chrf_signature": "nrefs:1|case:mixed|..."}."""
    return _sacrebleu_score(CHRF(), "chrf", hypotheses, references)


@functools.lru_cache(maxsize=None)
def _rouge_scorer(rouge_type):
    return rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)


def _rouge(rouge_type):
    """The text metric `rouge_type`: F1 x 100, best reference per example, averaged over the examples."""

    def score(hypotheses, references):
        scorer = _rouge_scorer(rouge_type)
        best = [max(scorer.score(reference, hypothesis)[rouge_type].fmeasure for reference in refs)
                for hypothesis, refs in zip(hypotheses, references)]
        return {rouge_type: 100.0 * sum(best) / len(best)}

    score.__name__ = score.__qualname__ = rouge_type
    score.__doc__ = f"rouge-score {rouge_type} F1 x 100 (stemmed), max over references, mean over examples."
    return score


for _type in ("rouge1", "rouge2", "rougeL"):
    TEXT_METRICS.register(_type)(_rouge(_type))


def _check(hypotheses, references):
    """Lists of strings and lists of lists of strings, of one length, every example with a reference."""
    hypotheses, references = list(hypotheses), [list(refs) for refs in references]
    if not hypotheses:
        raise ConfigError("No hypotheses to score: text metrics need at least one example.")
    if len(hypotheses) != len(references):
        raise ConfigError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists: "
                          "give one list of references per hypothesis.")
    for index, (hypothesis, refs) in enumerate(zip(hypotheses, references)):
        if not isinstance(hypothesis, str):
            raise ConfigError(f"Hypothesis {index} is a {type(hypothesis).__name__}, not a string: "
                              "score detokenized text.")
        if not refs or not all(isinstance(ref, str) for ref in refs):
            raise ConfigError(f"Example {index} has references {refs!r}: give each example a list of one or "
                              "more reference strings.")
    return hypotheses, references


def corpus_scores(hypotheses, references, metrics=("bleu", "chrf")):
    """Scores detokenized hypotheses against their references with the named text metrics.

    Args:
        hypotheses: one string per example (a model's output, detokenized).
        references: per example, a list of one or more reference strings (counts may differ).
        metrics: names in `TEXT_METRICS`: "bleu", "chrf", "rouge1", "rouge2", "rougeL". Defaults to
            ("bleu", "chrf").

    Returns:
        {metric: score (0-100), ...}, plus "bleu_signature" / "chrf_signature" (sacrebleu's signature
        strings) for "bleu" / "chrf".

    Raises:
        UnknownNameError: a metric name is not in `TEXT_METRICS` (checked before scoring anything).
        ConfigError: no examples, mismatched lengths, a non-string, or an example without references.
    """
    functions = [TEXT_METRICS.get(name) for name in metrics]
    hypotheses, references = _check(hypotheses, references)
    scores = {}
    for function in functions:
        scores.update(function(hypotheses, references))
    return scores
