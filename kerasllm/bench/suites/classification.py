"""`classification`: SST-2, IMDB and AG News, every built-in architecture and the linear baseline (--data-dir).

The word tokenizer keeps the 20,000 most frequent words (fitted on the training split only), so
the embedding does not dwarf the sequence model. IMDB reviews are cut to 256 tokens. `tfidf_lr`
(TF-IDF uni+bigrams, logistic regression; kerasllm/training/baselines/tfidf_lr.py) is the row every
architecture should beat; it reads whole texts with its own word analyzer.
"""

from kerasllm.bench.suite import Cell, Suite
from kerasllm.catalog import names


def words(split):
    return {"split": split, "lowercase": True, "max_vocab": 20000}


SUITE = Suite(
    name="classification",
    description="SST-2, IMDB, AG News (needs --data-dir or a download)",
    archs=(*names("architecture"), "tfidf_lr"),  # the built-in architectures, then the linear baseline
    settings={
        "hidden_dim": 128, "num_layers": 2, "dropout": 0.1, "batch_size": 64,
        "epochs": 3, "tokenizer": "word", "steps_per_execution": 10,
    },
    cells=[
        Cell("sst2", max_length=64, settings={"tokenizer_options": words("whitespace")}),
        Cell("imdb", max_length=256, settings={"tokenizer_options": words("punctuation")}),
        Cell("ag_news", max_length=128, settings={"tokenizer_options": words("punctuation")}),
    ],
)
