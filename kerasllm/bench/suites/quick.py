"""`quick`: the default suite. Three generated tasks x every architecture, no download.

Sized to finish in under 10 minutes on a 2-core laptop CPU (width 64, 2 layers, untied LM heads; 18 runs).
Each architecture trains with its own recipe (`kerasllm.models.recipes`; the measurements behind them are in
docs/benchmarks.md, "Training recipes").
Each task shows a different gap between architectures:

- negation_sentiment (400 steps): labels depend on word order, so the bag of words stays at chance;
- mqar@pairs4 (1600 steps): associative recall of 2 queried keys among 4 key-value pairs (Zoology); at 400
  steps the LSTM is still at the frequent-token level (0.40), at 1600 every family is well above it;
- selective_copy@len16 (800 steps): copy the 4 content tokens scattered among 16 noise tokens (Mamba).
  The LSTM needs the 800 steps (at 400 it reaches about 0.54), so every architecture gets them.
"""

from kerasllm.bench.suite import Cell, Suite

SIZES = {"num_train": 4000, "num_validation": 500, "num_test": 500}

SUITE = Suite(
    name="quick",
    description="built-in tasks, every architecture, under 10 minutes on a 2-core CPU, no download",
    settings={
        "hidden_dim": 64, "num_layers": 2, "dropout": 0.0, "batch_size": 32, "tie_weights": False,
        "steps": 400, "eval_every": 80, "steps_per_execution": 20,
    },
    cells=[
        Cell("negation_sentiment", task_options=dict(SIZES)),
        Cell("mqar", name="mqar@pairs4", steps=1600, eval_every=320, task_options={
            **SIZES, "num_pairs": 4, "num_queries": 2, "key_vocab_size": 16, "value_vocab_size": 16}),
        Cell("selective_copy", name="selective_copy@len16", steps=800, eval_every=160, task_options={
            **SIZES, "length": 16, "num_tokens": 4, "vocab_size": 8}),
    ],
)
