"""`classification`: SST-2, IMDB and AG News, every architecture (real data: pass --data-dir).

The word tokenizer keeps the 20,000 most frequent words (fitted on the training split only), so
the embedding does not dwarf the sequence model. IMDB reviews are cut to 256 tokens.
"""

from kerasllm.bench.suite import Cell, Suite


def words(split):
    return {"split": split, "lowercase": True, "max_vocab": 20000}


SUITE = Suite(
    name="classification",
    description="SST-2, IMDB, AG News (needs --data-dir or a download)",
    settings={
        "hidden_dim": 128, "num_layers": 2, "dropout": 0.1, "batch_size": 64, "learning_rate": 1e-3,
        "epochs": 3, "tokenizer": "word", "steps_per_execution": 10,
    },
    cells=[
        Cell("sst2", max_length=64, settings={"tokenizer_options": words("whitespace")}),
        Cell("imdb", max_length=256, settings={"tokenizer_options": words("punctuation")}),
        Cell("ag_news", max_length=128, settings={"tokenizer_options": words("punctuation")}),
    ],
)
