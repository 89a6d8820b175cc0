"""`summarization`: SciTLDR-A, one-sentence summaries of paper abstracts, every family and the `lead` baseline.

The source is the abstract (its sentences joined), the target the author-written TLDR; dev and test papers have
several TLDRs and ROUGE takes the best of them per paper (rouge-score, Porter stemming, F1). Every family is an
encoder-decoder over one BPE vocabulary (8,000 pieces); `lead` (the abstract's first sentence) is the row to beat,
as in the SciTLDR paper. Abstracts are long (median 199 BPE tokens, 99th percentile 391), so this is the slowest
suite per example. Validation during training decodes the first 8 batches (128 of the 619 dev papers, the same
ones each time: decoding all of them took 40-75% of a run); the final validation and test metrics decode every paper.
"""

from kerasllm.bench.suite import Cell, Suite
from kerasllm.catalog import names

SUITE = Suite(
    name="summarization",
    description="SciTLDR-A abstract -> TLDR summarization, ROUGE-1/2/L (needs --data-dir or a download)",
    archs=(*names("architecture"), "lead"),
    settings={
        "hidden_dim": 256, "num_layers": 2, "dropout": 0.1, "batch_size": 16, "label_smoothing": 0.1,
        "tokens": 12_000_000, "steps_per_execution": 10, "validation_batches": 8,
    },
    time_budget=1800,  # a cap: 30 minutes of training per run, if the token budget has not ended it first
    cells=[Cell("scitldr")],
)
