"""`quick`: the default suite. Three generated tasks x every architecture, no download.

Sized to finish in about 5 minutes on a 2-core laptop CPU (400 optimizer steps per run, width 64,
2 layers; 18 runs). Each task shows a different gap between architectures:

- negation_sentiment: labels depend on word order, so the bag of words stays at chance;
- mqar@pairs4: associative recall of 2 queried keys among 4 key-value pairs (Zoology);
- selective_copy@len16: copy the 4 content tokens scattered among 16 noise tokens (Mamba).
"""

from kerasllm.bench.suite import Cell, Suite

SIZES = {"num_train": 4000, "num_validation": 500, "num_test": 500}

SUITE = Suite(
    name="quick",
    description="built-in tasks, every architecture, ~5 minutes on a 2-core CPU, no download",
    settings={
        "hidden_dim": 64, "num_layers": 2, "dropout": 0.0, "batch_size": 32, "learning_rate": 3e-3,
        "steps": 400, "eval_every": 80, "steps_per_execution": 20,
    },
    cells=[
        Cell("negation_sentiment", task_options=dict(SIZES)),
        Cell("mqar", name="mqar@pairs4", task_options={
            **SIZES, "num_pairs": 4, "num_queries": 2, "key_vocab_size": 16, "value_vocab_size": 16}),
        Cell("selective_copy", name="selective_copy@len16", task_options={
            **SIZES, "length": 16, "num_tokens": 4, "vocab_size": 8}),
    ],
)
