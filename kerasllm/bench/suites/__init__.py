"""The suites shipped with kerasllm, one small data file each (`kerasllm bench SUITE`).

- `quick` (the default): built-in generated tasks, every architecture, a fixed small step budget;
  a few minutes on a 2-core CPU, no download.
- `classification`: SST-2, IMDB, AG News (needs `--data-dir` or a network connection).
- `lm`: Tiny Shakespeare (bits per character), Penn Treebank and WikiText-2 (perplexity).
- `diagnostics`: MQAR, ListOps and selective copying at growing sequence lengths, one cell each.
- `translation`: Multi30k en->de, every family as an encoder-decoder and as a decoder-only prefix LM, and `copy`.
- `summarization`: SciTLDR-A, every family and the `lead` baseline (ROUGE).
- `transfer`: IMDB and SST-2 from scratch, after LM / MLM pre-training on IMDB text, and with GloVe vectors.

Example:
>>> from kerasllm.bench import list_suites, load_suite
>>> list_suites()
['quick', 'classification', 'lm', 'diagnostics', 'translation', 'summarization', 'transfer']
>>> suite = load_suite("quick")
>>> [cell.label for cell in suite.cells], suite.settings["steps"]
(['negation_sentiment', 'mqar@pairs4', 'selective_copy@len16'], 400)
"""
