"""Where a fresh model's weights start: from an earlier run (`init_from`) or from word vectors (`embeddings`).

`start_weights(model, config, tokenizer, texts)` runs after `build_model` and before training (`texts`: the
training text, for the vectors' coverage), and returns a report (what was copied or loaded) that the Trainer keeps
in the run directory's manifest.json under "initialized".

Example (word vectors for a word-tokenized classifier):
>>> import os, tempfile
>>> from kerasllm.config import TrainConfig
>>> from kerasllm.models import build_model
>>> from kerasllm.tokenizers import get_tokenizer
>>> from kerasllm.training.initialize import start_weights
>>> path = os.path.join(tempfile.mkdtemp(), "vectors.txt")
>>> with open(path, "w") as f:
...     _ = f.write("good 0.5 -0.5 1 0\\nbad -1 2 0 0.5\\n")
>>> class Info:
...     kind, num_classes, max_length = "classification", 2, 8
>>> texts = ["a good film", "a bad film"]
>>> tok = get_tokenizer("word").fit(texts)
>>> config = TrainConfig(task="demo", arch="cnn", hidden_dim=4, num_layers=1, embeddings=path)
>>> report = start_weights(build_model(config, Info, tok.vocabulary_size), config, tok, texts)
>>> report["embeddings"]["found_words"], report["embeddings"]["projected"]
(2, False)
"""

from kerasllm.models.word_vectors import load_embeddings
from kerasllm.training.pretrained import copy_pretrained


def start_weights(model, config, tokenizer, texts):
    """Sets `model`'s starting weights as `config` asks; returns a dict saying what was done (empty: nothing)."""
    report = {}
    if config.init_from:
        report["init_from"] = copy_pretrained(model, config)
    if config.embeddings:  # after init_from: the vectors win for the words they cover, the rest keep their rows
        report["embeddings"] = load_embeddings(model, tokenizer, config.embeddings, texts,
                                               rescale_missing=not config.init_from)
    return report
