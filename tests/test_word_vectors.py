"""Pretrained word vectors: the reader on the shared GloVe file and on word2vec/fastText files, coverage, the
vectors landing in a built model (with a projection when widths differ), the errors, and `kerasllm train
--embeddings`."""

import gzip
import json

import keras
import numpy as np
import pytest

from kerasllm.cli import main
from kerasllm.config import TrainConfig
from kerasllm.data.base import get_task
from kerasllm.errors import ConfigError, DataError
from kerasllm.layers import TextEmbedding
from kerasllm.layers.embedding import FactorizedEmbedding
from kerasllm.models import CausalLM, build_model, get_backbone, list_backbones
from kerasllm.models.word_vectors import coverage, load_embeddings, read_word_vectors, vector_width
from kerasllm.tokenizers import get_tokenizer
from tests.helpers import assert_round_trips

#: SOURCE.md of the shared file: these lines hold UTF-8 mojibake of five punctuation tokens.
MIS_ENCODED = {218: "\u2013", 785: "\u2019s", 1329: "\u2014", 1409: "\u201c", 1420: "\u201d"}
#: The official first row of glove.6B.100d.txt ("the"), its first five numbers.
THE_STARTS = [-0.038194, -0.24487, 0.72812, -0.39961, 0.083172]


class Info:  # what build_model reads of a task's TaskInfo
    kind, num_classes, max_length = "classification", 2, 16


@pytest.fixture(scope="module")
def glove(shared_data):
    return str(shared_data / "glove" / "glove.6B.100d.txt")


@pytest.fixture(scope="module")
def sst2_texts(shared_data):
    return get_task("sst2", data_dir=str(shared_data)).train_texts()


def sst2_tokenizer(texts):
    return get_tokenizer("word", split="whitespace").fit(texts)  # SST-2's own tokenizer options


def write(path, text):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


# ------------------------------------------------------------------------------------------ the reader
def test_reads_the_shared_glove_file_and_reports_its_five_mis_encoded_lines(glove):
    vectors = read_word_vectors(glove)
    assert (vectors.width, vectors.rows, vectors.header_count, vectors.duplicates) == (100, 2604, None, [])
    assert {bad["line"]: bad["probably"] for bad in vectors.bad_lines} == MIS_ENCODED
    assert all(bad["reason"].startswith("mis-encoded") for bad in vectors.bad_lines)
    assert len(vectors.vectors) == 2604 - 5 and "\u00e2\u20ac\u201c" not in vectors.vectors
    np.testing.assert_allclose(vectors.lookup("the")[:5], THE_STARTS)
    assert vectors.lookup("corner") is not None  # the last row (rank 2604)
    assert vector_width(glove) == 100


def test_a_vocabulary_keeps_only_its_rows_and_falls_back_to_any_case(glove):
    vectors = read_word_vectors(glove, vocabulary=["The", "of", "zzzqx"])
    assert sorted(vectors.vectors) == ["of"] and sorted(vectors.folded) == ["of", "the"]
    np.testing.assert_allclose(vectors.lookup("The")[:5], THE_STARTS)  # GloVe 6B is lowercase
    assert vectors.lookup("zzzqx") is None
    assert len(vectors.bad_lines) == 5 and vectors.rows == 2604  # reported whatever the vocabulary


def test_word2vec_header_gzip_and_fasttext_trailing_spaces(tmp_path):
    text = "3 4\nthe 1 2 3 4 \ncat 0.5 0.5 0.5 0.5 \n\nDog -1 -2 -3 -4 \n"
    path = tmp_path / "tiny.vec.gz"
    path.write_bytes(gzip.compress(text.encode()))
    vectors = read_word_vectors(str(path))
    assert (vectors.width, vectors.rows, vectors.header_count) == (4, 3, 3)
    assert vectors.lookup("dog").tolist() == [-1, -2, -3, -4]  # a cased file serves a lowercase vocabulary
    assert vector_width(str(path)) == 4


def test_not_utf8_bytes_and_repeated_words_are_reported_not_fatal(tmp_path):
    # The 50d copy described in SOURCE.md has cp1252 bytes: 0x96 is an en dash there.
    path = write(tmp_path / "v.txt", b"a 1 2\n\x96 3 4\na 5 6\nb 7 8\n")
    vectors = read_word_vectors(path)
    assert vectors.bad_lines == [{"line": 2, "token": "\\x96", "reason": "not UTF-8"}]
    assert vectors.duplicates == ["a"] and vectors.lookup("a").tolist() == [1, 2]  # the first row wins
    assert sorted(vectors.vectors) == ["a", "b"]
    legit = read_word_vectors(write(tmp_path / "w.txt", "caf\u00e9 1 2\nna\u00efve 3 4\n"))
    assert legit.bad_lines == [] and sorted(legit.vectors) == ["caf\u00e9", "na\u00efve"]


@pytest.mark.parametrize("text, match", [
    ("a 1 2 3\nb 1 2\n", r"Line 2 of .*v\.txt has 2 numbers after its word, but line 1 has 3: .*different widths"),
    ("2 3\na 1 2 3\nb 1 2 3 4\n", r"Line 3 of .*v\.txt has 4 numbers .* but the header \(line 1\) has 3"),
    ("2 3\na 1 2\n", r"Line 2 of .*v\.txt has 2 numbers .* but the header \(line 1\) has 3"),
    ("", r"holds no vectors"),
    ("\n\n", r"holds no vectors"),
    ("400000 100\n", r"holds no vectors"),
    ("a\n", r"Line 1 of .*v\.txt has a word but no numbers"),
    ("a 1 x\n", r"Line 1 of .*v\.txt has a field that is not a number"),
])
def test_malformed_files_are_one_line_data_errors(tmp_path, text, match):
    path = write(tmp_path / "v.txt", text)
    with pytest.raises(DataError, match=match) as raised:
        read_word_vectors(path)
    assert "\n" not in str(raised.value)


def test_a_missing_file_or_a_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"nope\.txt does not exist\. Pass the path of a GloVe"):
        vector_width(str(tmp_path / "nope.txt"))
    with pytest.raises(DataError, match="is a folder"):
        read_word_vectors(str(tmp_path))


# ------------------------------------------------------------------------------------------ coverage
def test_coverage_of_the_sst2_vocabulary_by_types_and_tokens(glove, sst2_texts):
    tok = sst2_tokenizer(sst2_texts)
    vectors = read_word_vectors(glove, tok.vocabulary)
    report = coverage(vectors, tok.vocabulary, tok.split_words, sst2_texts)
    # Counted here without the reader: the file's first fields, less its five mis-encoded lines.
    with open(glove, encoding="utf-8") as f:
        file_words = {line.split(" ", 1)[0] for number, line in enumerate(f, 1) if number not in MIS_ENCODED}
    found = file_words & set(tok.vocabulary)
    words = [word for text in sst2_texts for word in text.lower().split()]
    assert report["vocabulary_words"] == len(tok.vocabulary) == tok.vocabulary_size - 4
    assert report["found_words"] == len(found) and report["case_folded"] == 0
    assert report["type_coverage"] == pytest.approx(len(found) / len(tok.vocabulary))
    assert report["training_tokens"] == len(words)
    assert report["found_tokens"] == sum(word in found for word in words)
    # 2,600 frequent words cover few of SST-2's ~15k types but most of its running words.
    assert 0.1 < report["type_coverage"] < 0.2 and 0.6 < report["token_coverage"] < 0.8


# ------------------------------------------------------------------------------------------ into a model
def test_vectors_are_copied_into_the_built_model(glove, sst2_texts):
    texts = sst2_texts[:2000]
    tok = sst2_tokenizer(texts)
    config = TrainConfig(task="sst2", arch="bow", hidden_dim=100, num_layers=1, embeddings=glove)
    keras.utils.set_random_seed(0)
    model = build_model(config, Info, tok.vocabulary_size)
    assert model.backbone.embedding.embedding_dim is None  # same width: no projection
    report = load_embeddings(model, tok, glove, texts)
    table = model.backbone.embedding.embeddings.numpy()
    the = tok.encode("the")[0]
    np.testing.assert_allclose(table[the, :5], THE_STARTS, rtol=1e-6)
    file_vectors = read_word_vectors(glove)
    found_ids = [i for i, word in enumerate(tok.vocabulary, 4) if word in file_vectors.vectors]
    for i in found_ids[::50]:
        np.testing.assert_array_equal(table[i], file_vectors.vectors[tok.vocabulary[i - 4]])
    missing = np.setdiff1d(np.arange(tok.vocabulary_size), found_ids)
    assert report["found_words"] == len(found_ids) and not report["projected"]
    # The rows left random have the vectors' spread, not Keras' U[-0.05, 0.05] (std 0.029).
    assert table[missing].std() == pytest.approx(table[found_ids].std(), rel=1e-3)
    assert report["missing_rows_scale"] > 5
    json.dumps(report)  # it goes into manifest.json


def test_other_widths_get_a_projection_and_the_tied_lm_still_works(glove, tmp_path):
    texts = ["the cat sat on the mat", "a dog sat"]
    tok = get_tokenizer("word").fit(texts)
    config = TrainConfig(task="demo", arch="gru", hidden_dim=8, num_layers=1, embeddings=glove)

    class LMInfo:
        kind, num_classes, max_length = "lm", None, 8

    model = build_model(config, LMInfo, tok.vocabulary_size)
    embedding = model.backbone.embedding
    assert isinstance(embedding.token_embedding, FactorizedEmbedding)
    assert tuple(embedding.embeddings.shape) == (tok.vocabulary_size, 100)
    assert tuple(embedding.token_embedding.projection.kernel.shape) == (100, 8)
    report = load_embeddings(model, tok, glove, texts)
    assert report["projected"] and "100-wide vectors projected to hidden_dim 8" in report["summary"]
    # Tied logits go back through the projection and the table: h W^T E^T.
    features = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32")
    table, kernel = embedding.embeddings.numpy(), embedding.token_embedding.projection.kernel.numpy()
    np.testing.assert_allclose(model.logits(features), features @ kernel.T @ table.T, rtol=1e-4, atol=1e-5)
    ids = np.array([tok.encode("the cat sat on the mat")], "int32")
    assert_round_trips(model, tmp_path, inputs={"token_ids": ids, "padding_mask": ids != 0}, atol=1e-5)
    # One step of decoding with state gives the full pass's last logits.
    state = model.backbone.initial_state(1)
    for t in range(ids.shape[1]):
        step_logits, state = model.step(ids[:, t], state)
    np.testing.assert_allclose(step_logits, model(ids)[:, -1], atol=1e-4)


def test_text_embedding_with_embedding_dim_round_trips(tmp_path):
    layer = TextEmbedding(vocab_size=20, hidden_dim=8, embedding_dim=5, position="sinusoidal")
    ids = np.array([[3, 4, 5, 0]], "int32")
    assert tuple(layer(ids).shape) == (1, 4, 8) and tuple(layer.embeddings.shape) == (20, 5)
    assert_round_trips(layer, tmp_path, inputs={"token_ids": ids})
    assert_round_trips(FactorizedEmbedding(20, 5, 8), tmp_path, inputs={"inputs": ids})
    with pytest.raises(ConfigError, match="embedding_dim must be a positive integer"):
        TextEmbedding(vocab_size=20, hidden_dim=8, embedding_dim=0)


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_takes_an_embedding_dim(name):
    backbone = get_backbone(name, vocab_size=20, hidden_dim=8, num_layers=1, embedding_dim=5)
    features = backbone(np.array([[3, 4, 5, 0]], "int32"))
    assert tuple(features.shape) == (1, 4, 8) and tuple(backbone.embedding.embeddings.shape) == (20, 5)
    assert backbone.get_config()["embedding_dim"] == 5
    assert type(backbone).from_config(backbone.get_config()).embedding_dim == 5


def test_vectors_need_the_word_tokenizer(glove):
    tok = get_tokenizer("char").fit(["the cat"])
    model = build_model(TrainConfig(task="demo", arch="bow", hidden_dim=100, num_layers=1), Info, tok.vocabulary_size)
    with pytest.raises(ConfigError, match=r"^--embeddings needs the word tokenizer, but this run uses the 'char' "
                                          r"tokenizer: .* Set tokenizer=word, or drop --embeddings\.$"):
        load_embeddings(model, tok, glove)


def test_a_table_of_the_wrong_width_is_a_config_error(glove):
    tok = get_tokenizer("word").fit(["the cat"])
    model = build_model(TrainConfig(task="demo", arch="bow", hidden_dim=16, num_layers=1), Info, tok.vocabulary_size)
    with pytest.raises(ConfigError, match=r"token table is 6 x 16, .* 100-wide vectors\. Build the model"):
        load_embeddings(model, tok, glove)


# ------------------------------------------------------------------------------------------ the CLI
def test_cli_train_with_glove_prints_the_coverage(glove, shared_data, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--task", "sst2", "--arch", "cnn", "--embeddings", glove, "--data-dir", str(shared_data),
                 "--steps", "2", "--hidden-dim", "16", "--num-layers", "1", "--batch-size", "8", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code in (0, None)
    line = next(line for line in printed.splitlines() if line.startswith("embeddings: "))
    assert "of training tokens found in glove.6B.100d.txt" in line
    assert "100-wide vectors projected to hidden_dim 16" in line
    assert "5 mis-encoded lines skipped (lines 218, 785, 1329, 1409, 1420)" in line
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["initialized"]["embeddings"]["summary"] == line
    assert manifest["initialized"]["embeddings"]["found_words"] > 1000
