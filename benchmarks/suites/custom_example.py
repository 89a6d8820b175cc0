"""An example of your own suite: copy this file, edit it, run `kerasllm bench path/to/it.py`.

A suite file is plain data: cells (task settings) crossed with architectures and seeds. Any
`TrainConfig` field can go into `settings` (shared), `arch_settings` (one architecture) or a cell's
`settings`. Here: can the recurrent models keep up with attention on recall as the number of
key-value pairs grows, at a matched parameter budget and three seeds?
"""

from kerasllm.bench import Cell, Suite

SIZES = {"num_train": 4000, "num_validation": 500, "num_test": 500}

SUITE = Suite(
    name="recall_vs_width",
    description="GRU, LSTM and Transformer on MQAR with 4 and 8 pairs, 100k parameters each",
    archs=("gru", "lstm", "transformer"),
    seeds=3,
    params=100_000,
    settings={"num_layers": 2, "dropout": 0.0, "batch_size": 32, "learning_rate": 3e-3,
              "steps": 600, "eval_every": 100, "steps_per_execution": 20},
    arch_settings={"transformer": {"arch_options": {"num_heads": 4}}},
    cells=[
        Cell("mqar", name=f"mqar@pairs{n}", task_options={
            **SIZES, "num_pairs": n, "num_queries": n // 2, "key_vocab_size": 32, "value_vocab_size": 32})
        for n in (4, 8)
    ],
)
