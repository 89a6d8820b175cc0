"""`transfer`: what pre-training and word vectors buy each architecture on IMDB and SST-2 (--data-dir).

For every architecture, one table: trained from scratch; fine-tuned after language-model pre-training on the IMDB
training reviews (`imdb@lm`, ULMFiT's recipe without its tricks: next-token prediction on the task's own text,
then the whole model trained on the labels); after masked-LM pre-training (`imdb@mlm`, BERT's 15% / 80-10-10
objective) for the non-causal families cnn and transformer; and with GloVe 6B 100d vectors in the embedding,
trainable or frozen (Kim 2014's non-static / static; the 100-wide vectors are projected to the 128-wide model).
SST-2 fine-tunes from the same IMDB pre-training (movie reviews, another corpus). `tfidf_lr` is the linear row to
beat. Every cell reads text with one tokenizer (20,000 lowercased words, punctuation split), which fine-tuning
must share with pre-training. Pre-training gets `PRETRAIN_TOKENS` training tokens; each classification run gets
`EPOCHS` passes. IMDB's 50,000 unlabelled `train/unsup` reviews join the pre-training text when the data folder
has them (the shared archive has only the labelled ones).
"""

from kerasllm.bench.suite import Cell, Suite
from kerasllm.catalog import names

PRETRAIN_TOKENS = 6_000_000  # about one pass over the 22,500 IMDB training reviews at 256 tokens
EPOCHS = 2
GLOVE = "glove/glove.6B.100d.txt"  # relative to --data-dir
NON_CAUSAL = ("cnn", "transformer")


def classification_cells(task, max_length):
    """Scratch, from-LM, from-MLM, GloVe and frozen GloVe cells of one classification task."""
    budget = {"max_length": max_length, "epochs": EPOCHS}
    return [
        Cell(task, **budget),
        Cell(task, name=f"{task}@from-lm", init_from_cell="imdb@lm", **budget),
        Cell(task, name=f"{task}@from-mlm", init_from_cell="imdb@mlm", archs=NON_CAUSAL, **budget),
        Cell(task, name=f"{task}@glove", settings={"embeddings": GLOVE}, **budget),
        Cell(task, name=f"{task}@glove-frozen", settings={"embeddings": GLOVE, "freeze_embeddings": True}, **budget),
    ]


SUITE = Suite(
    name="transfer",
    description="IMDB and SST-2 from scratch vs after LM / MLM pre-training vs GloVe (needs --data-dir)",
    archs=(*names("architecture"), "tfidf_lr"),
    settings={
        "hidden_dim": 128, "num_layers": 2, "dropout": 0.1, "batch_size": 64, "steps_per_execution": 10,
        "tokenizer": "word", "tokenizer_options": {"split": "punctuation", "lowercase": True, "max_vocab": 20000},
    },
    cells=[
        Cell("imdb", name="imdb@lm", max_length=256, tokens=PRETRAIN_TOKENS, settings={"objective": "lm"}),
        Cell("imdb", name="imdb@mlm", max_length=256, tokens=PRETRAIN_TOKENS, settings={"objective": "mlm"},
             archs=NON_CAUSAL),
        *classification_cells("imdb", 256),
        *classification_cells("sst2", 64),
    ],
)
