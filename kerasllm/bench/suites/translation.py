"""`translation`: Multi30k English -> German, every family as an encoder-decoder, the decoder-only form, and `copy`.

Every architecture reads the source with a non-causal encoder of its family and writes German with a causal
decoder of the same family, which reads the source through cross-attention (`kerasllm.models.Seq2Seq`); the
`multi30k@prefix_lm` cell trains each family as one decoder-only model over `source <bos> target` instead, so
encoder-decoder against decoder-only is part of the table. Both share one BPE vocabulary (8,000 pieces) fitted on
the English and German training text. Scored with sacreBLEU and chrF on test_2016_flickr (the 2017 and 2018 test
sets are reported too), greedy decoding; the best checkpoint is the one with the best validation BLEU. `copy`
(the English source as the "translation") shows what no learning scores.
"""

from kerasllm.bench.suite import Cell, Suite
from kerasllm.catalog import names

SUITE = Suite(
    name="translation",
    description="Multi30k en->de translation, encoder-decoder and decoder-only (needs --data-dir or a download)",
    archs=(*names("architecture"), "copy"),
    settings={
        "hidden_dim": 256, "num_layers": 2, "dropout": 0.1, "batch_size": 64, "label_smoothing": 0.1,
        "tokens": 6_000_000, "steps_per_execution": 10,
    },
    time_budget=1800,  # a cap: 30 minutes of training per run, if the token budget has not ended it first
    cells=[
        Cell("multi30k"),
        Cell("multi30k", name="multi30k@prefix_lm", max_length=80, settings={"seq2seq_form": "prefix_lm"}),
    ],
)
