"""`diagnostics`: synthetic probes at growing sequence lengths, one cell per length.

- mqar@pairsN: multi-query associative recall with N key-value pairs (Zoology's recall test);
- listops@lenN: nested MAX/MIN/MED/SUM_MOD expressions up to N tokens (Long Range Arena, shorter);
- selective_copy@lenN: 8 content tokens among N noise tokens (Mamba's selective copying).

Recall and copying get harder for fixed-state models (RNNs, CNNs with a short receptive field) as N
grows; attention keeps up as long as it has the width.
"""

from kerasllm.bench.suite import Cell, Suite

SIZES = {"num_train": 10000, "num_validation": 1000, "num_test": 1000}

SUITE = Suite(
    name="diagnostics",
    description="MQAR, ListOps, selective copy at growing sequence lengths (built-in, no download)",
    settings={
        "hidden_dim": 64, "num_layers": 2, "dropout": 0.0, "batch_size": 64,
        "steps": 2000, "eval_every": 200, "steps_per_execution": 50,
    },
    cells=[
        *(Cell("mqar", name=f"mqar@pairs{n}", task_options={
            **SIZES, "num_pairs": n, "num_queries": n // 2, "key_vocab_size": 64, "value_vocab_size": 64})
          for n in (8, 16, 32)),
        *(Cell("listops", name=f"listops@len{n}", task_options={**SIZES, "max_length": n})
          for n in (64, 128, 256)),
        *(Cell("selective_copy", name=f"selective_copy@len{n}", task_options={
            **SIZES, "length": n, "num_tokens": 8, "vocab_size": 16})
          for n in (32, 64, 128)),
    ],
)
