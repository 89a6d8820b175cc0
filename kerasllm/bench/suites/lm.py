"""`lm`: language modelling on Tiny Shakespeare (characters), Penn Treebank and WikiText-2 (words).

Headline metrics: bits per character (Tiny Shakespeare) and token-weighted perplexity (PTB,
WikiText-2). Every architecture runs causally; the LM head ties the input and output embeddings.
"""

from kerasllm.bench.suite import Cell, Suite

SUITE = Suite(
    name="lm",
    description="Tiny Shakespeare, PTB, WikiText-2 language modelling (needs --data-dir or a download)",
    settings={
        "hidden_dim": 128, "num_layers": 2, "dropout": 0.1, "batch_size": 32,
        "steps": 2000, "eval_every": 200, "steps_per_execution": 50,
    },
    cells=[
        Cell("tiny_shakespeare", max_length=64),
        Cell("ptb", max_length=35),
        Cell("wikitext2", max_length=64),
    ],
)
