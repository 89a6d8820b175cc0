"""The suites shipped with kerasllm, one small data file each (`kerasllm bench SUITE`).

- `quick` (the default): built-in generated tasks, every architecture, a fixed small step budget;
  a few minutes on a 2-core CPU, no download.
- `classification`: SST-2, IMDB, AG News (needs `--data-dir` or a network connection).
- `lm`: Tiny Shakespeare (bits per character), Penn Treebank and WikiText-2 (perplexity).
- `diagnostics`: MQAR, ListOps and selective copying at growing sequence lengths, one cell each.
"""
