"""Fuzzing (hypothesis): tokenizers, data loaders, settings files and the command line, on hostile input.

Every test asserts a property that a broken implementation fails. Most areas have three halves:

- accepted: inputs well-formed by construction (a dataset in its standard layout, a saved tokenizer, a
  config within range, a valid command line) give exactly what they encode, so a reader that rejects
  everything fails;
- rejected cleanly: the same inputs with one known corruption raise the documented error (`DataError`,
  `ConfigError`, `CorruptFileError`), naming the file where the code promises to;
- random: any input (random bytes, random text shaped like the format) gives a well-formed result or the
  documented error, never anything else.

Covered: every tokenizer kind encodes any text (any code point, NUL, lone surrogates, very long strings)
inside its vocabulary and decodes it exactly (lossless kinds) or to the known canonical form; fitting
succeeds or raises `DataError` exactly when the text allows; every real-dataset loader, `Tokenizer.load`,
`read_json`, `TrainConfig.from_file` and `with_overrides`; the command line exits 0 or 2 with a
one-line message, never a traceback, and does what a valid command line asks.

Bugs that fuzzing found are pinned at the bottom, each by the input that found it. One not yet fixed is a
strict xfail there, and the strategies above steer clear of its inputs until it is (an xfail that starts
passing fails the run: then drop the mark and widen the strategy).

How many examples each test runs comes from the hypothesis profile that tests/conftest.py loads:
few by default (`python -m pytest`), many in CI (`HYPOTHESIS_PROFILE=ci python -m pytest -m fuzz`).
"""

import argparse
import contextlib
import csv
import dataclasses
import io
import itertools
import json
import os
import pathlib
import tarfile
import tempfile
import types
import typing

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kerasllm.cli import build_parser, main
from kerasllm.config import TrainConfig
from kerasllm.data.base import SPLITS, Split, get_task
from kerasllm.errors import ConfigError, DataError, KerasLLMError
from kerasllm.tokenizers import Tokenizer, get_tokenizer
from kerasllm.tokenizers.base import UNK_ID
from kerasllm.training.run_dir import CorruptFileError, read_json, write_json_atomic

pytestmark = pytest.mark.fuzz

EXAMPLES = settings.default.max_examples  # from the loaded profile
_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
FEW = settings(max_examples=max(5, EXAMPLES // 10), suppress_health_check=_SLOW)
SOME = settings(max_examples=max(10, EXAMPLES // 4), suppress_health_check=_SLOW)
MANY = settings(suppress_health_check=_SLOW)


def outcome(call, errors):
    """`call()`'s result, or the exception if it raised one of `errors`; any other exception fails the test."""
    try:
        return call()
    except errors as error:
        return error


# --------------------------------------------------------------------------------------------- text
ANY_CHAR = st.characters(exclude_categories=())  # every code point, lone surrogates included
UTF8_CHAR = st.characters(exclude_categories=("Cs",))  # every code point a UTF-8 file can hold
TRICKY = st.sampled_from(["\x00", "\ud800", "\udfff", "\ufffd", "\t", "\n", "\r", " ", "\u200b", "é", "e\u0301",
                          "🐈", "<unk>", "<eos>", "##", "Ġ", "'s", "the", "fox", "!", "\x7f", "\U0010ffff"])
LONG = st.builds(lambda piece, times: piece * times, st.text(ANY_CHAR, min_size=1, max_size=8),
                 st.integers(1_000, 20_000))
MIXED = st.lists(TRICKY | st.text(ANY_CHAR, max_size=3)).map("".join)
SHORT_TEXT = st.one_of(st.text(ANY_CHAR), st.lists(TRICKY).map("".join), MIXED)
TEXT = SHORT_TEXT | LONG

CORPUS = ["The quick brown fox jumps over the lazy dog.", "A lazy dog sleeps; the quick fox runs away!",
          "Foxes and dogs: friends or foes? Nobody knows. 🐈 é"] * 10
KINDS = {"char": ("char", {}), "char_fallback": ("char", {"byte_fallback": True}), "byte": ("byte", {}),
         "word": ("word", {}), "wordpiece": ("wordpiece", {"vocabulary_size": 80}),
         "bpe": ("bpe", {"vocabulary_size": 300})}
LOSSLESS = {"char_fallback", "byte", "bpe"}
PROBE = "The quick fox, é 🐈\x00 <unk>"  # what a loaded tokenizer must encode inside its vocabulary


@pytest.fixture(scope="module")
def fitted():
    return {kind: get_tokenizer(name, **options).fit(CORPUS) for kind, (name, options) in KINDS.items()}


def expected_decode(kind, tokenizer, text):
    """What decode(encode(text)) must give: the text itself for lossless kinds, else the canonical form."""
    if kind in LOSSLESS:
        return text
    if kind == "char":
        return "".join(c if c in tokenizer._char_to_id else "\ufffd" for c in text)
    if kind == "word":
        return " ".join(w if w in tokenizer._word_to_id else "<unk>" for w in tokenizer.split_words(text))
    return None  # wordpiece: lowercases, splits and normalizes (checked for not crashing and range)


def assert_encodes_in_range(tokenizer, text):
    ids = tokenizer.encode(text)
    assert all(type(i) is int and 0 <= i < tokenizer.vocabulary_size for i in ids), ids
    assert isinstance(tokenizer.decode(ids), str)
    return ids


@pytest.mark.parametrize("kind", KINDS)
@MANY
@given(text=TEXT)
def test_tokenizers_encode_and_decode_any_text(fitted, kind, text):
    tokenizer = fitted[kind]
    ids = assert_encodes_in_range(tokenizer, text)
    expected = expected_decode(kind, tokenizer, text)
    if expected is not None:
        assert tokenizer.decode(ids) == expected
    if kind in LOSSLESS:
        assert UNK_ID not in ids


@pytest.mark.parametrize("kind", KINDS)
@MANY
@given(texts=st.lists(SHORT_TEXT, max_size=4))
def test_encode_batch_matches_encode(fitted, kind, texts):
    tokenizer = fitted[kind]
    assert tokenizer.encode_batch(texts) == [tokenizer.encode(t) for t in texts]


def fit_outcome(kind, texts):
    """What fitting `kind` on `texts` must do: "fit", "data_error", or None where either is fine.

    Documented: `fit` raises DataError on no text at all; wordpiece when the text has no words (only
    whitespace or control characters); bpe when no two adjacent bytes can merge. Anything with a word
    (an ASCII letter or digit) or, for bpe, a pair of bytes inside one piece must fit.
    """
    if not any(texts):
        return "data_error"
    joined = "".join(texts)
    if kind == "wordpiece":
        if any(c.isascii() and c.isalnum() for c in joined):
            return "fit"
        if all(ord(c) <= 32 or c == "\x7f" for c in joined):  # ASCII whitespace and control characters
            return "data_error"
        return None  # e.g. "\u3000" and "\xa0": normalized to " ", which wordpiece then learns as a word
    if kind == "bpe":  # a non-ASCII character is 2+ bytes of one piece; so are two adjacent letters
        if any(not c.isascii() for c in joined) or any(
                a.isascii() and a.isalpha() and b.isascii() and b.isalpha() for t in texts for a, b in zip(t, t[1:])):
            return "fit"
        if all(len(t) <= 1 for t in texts):  # ASCII texts of one byte each: nothing to merge
            return "data_error"
        return None
    return "fit"  # char, byte, word: any non-empty text


FIT_TEXTS = st.one_of(
    st.lists(MIXED.filter(lambda t: len(t) <= 60), max_size=6),
    st.lists(st.text(st.sampled_from(" \t\n\r\x0b\x0c\x00\x01\x1f\x7f\u3000"), max_size=4), max_size=4),  # no words
    st.lists(st.characters(max_codepoint=127) | st.just(""), max_size=5),  # one ASCII byte per text
)


@pytest.mark.parametrize("kind", KINDS)
@FEW
@given(texts=FIT_TEXTS)
@example(texts=["The quick fox", "é\x00 \ud800"])  # must fit, every kind
@example(texts=["", " \t", "\x00"])  # must raise DataError where the kind documents it
@example(texts=[])
def test_fitting_succeeds_or_raises_data_error_exactly_when_the_text_allows(kind, texts):
    name, options = KINDS[kind]
    expected = fit_outcome(kind, texts)
    result = outcome(lambda: get_tokenizer(name, **options).fit(texts), DataError)
    if expected == "data_error":
        assert isinstance(result, DataError), f"{kind} fitted on {texts!r}"
        return
    if expected == "fit":
        assert not isinstance(result, DataError), f"{kind} refused {texts!r}: {result}"
    if isinstance(result, Tokenizer):  # what it was fitted on encodes inside the vocabulary and decodes
        for text in texts:
            ids = assert_encodes_in_range(result, text)
            if kind in LOSSLESS or kind == "char":  # every character of the text is in a char vocabulary
                assert result.decode(ids) == text
            if kind == "word":
                assert result.decode(ids) == expected_decode(kind, result, text)


@MANY
@given(text=st.text(ANY_CHAR, min_size=1))
def test_char_tokenizer_fitted_on_the_text_round_trips(text):
    tokenizer = get_tokenizer("char").fit([text])
    assert tokenizer.decode(tokenizer.encode(text)) == text


# ------------------------------------------------------------------------------------------ loaders
NEWLINE = st.sampled_from(["\n", "\r\n"])
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines() ends a line
PAD = st.text(st.sampled_from(" \t\xa0\u3000"), max_size=2)  # surrounding whitespace that str.strip() drops
LABEL_PAD = st.sampled_from(["", " ", "\xa0"])  # no tab: a tab is a field separator in a TSV
BLANK_LINES = st.lists(st.text(st.sampled_from(" \t\r\xa0\u3000"), max_size=2), max_size=1)
INVALID_UTF8 = st.sampled_from([b"\xff", b"\xfe", b"\xc0", b"\xc1", b"\xf8"])  # bytes UTF-8 never uses


@dataclasses.dataclass
class Dataset:
    """A task's folder, made by construction: each file as chunks (lines or CSV records), and what it gives.

    `records[name]` are the indices of the chunks of file `name` that are data rows. `expected[split]` is
    (texts, labels); with `carved`, validation is carved from train, and `expected["train"]` holds every row
    of the train file.
    """

    files: dict
    records: dict
    expected: dict
    carved: bool = False

    def render(self):
        return {name: "".join(chunks).encode("utf-8") for name, chunks in self.files.items()}


def sst2_datasets():
    sentence = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\t\n"), max_size=16)
    header = st.sampled_from(["sentence\tlabel", " sentence \t label", "sentence\tlabel\r"])

    @st.composite
    def build(draw):
        files, records, read = {}, {}, {}
        names = ["train.tsv", "dev.tsv"] + (["test_labeled.tsv"] if draw(st.booleans()) else [])
        for name in names:
            newline = draw(NEWLINE)
            rows = draw(st.lists(st.tuples(sentence, st.integers(0, 1)), min_size=1, max_size=5), label=name)
            chunks, indices = [draw(header) + newline], []
            for text, label in rows:
                chunks += [blank + newline for blank in draw(BLANK_LINES)]
                indices.append(len(chunks))
                chunks.append(f"{text}\t{draw(LABEL_PAD)}{label}{draw(LABEL_PAD)}{newline}")
            if draw(st.booleans()):
                chunks[-1] = chunks[-1].removesuffix(newline)  # no line break at the end of the file
            files[name], records[name] = chunks, indices
            read[name] = ([text.strip() for text, _ in rows], [label for _, label in rows])
        test = read.get("test_labeled.tsv", read["dev.tsv"])
        return Dataset(files, records, {"train": read["train.tsv"], "validation": read["dev.tsv"], "test": test})

    return build()


def csv_record(row, quoting, newline):
    buffer = io.StringIO()
    csv.writer(buffer, quoting=quoting, lineterminator=newline).writerow(row)
    return buffer.getvalue()


def ag_news_text(title, description):
    """The documented AG News text: title + " " + description, escaped newlines as spaces, whitespace folded."""
    return " ".join(f"{title.strip()} {description.strip()}".replace("\\n", " ").split())


def ag_news_datasets():
    field = st.lists(st.text(UTF8_CHAR, max_size=3) | st.sampled_from(["\\n", '"', ",", "\n", "\r"]),
                     max_size=5).map("".join)
    # QUOTE_MINIMAL leaves a lone "\r" unquoted when the line ends in "\n" (a csv writer quirk): pair it with "\r\n".
    style = st.sampled_from([(csv.QUOTE_ALL, "\n"), (csv.QUOTE_ALL, "\r\n"), (csv.QUOTE_MINIMAL, "\r\n")])

    @st.composite
    def build(draw):
        files, records, read = {}, {}, {}
        for name in ("train.csv", "test.csv"):
            quoting, newline = draw(style)
            rows = draw(st.lists(st.tuples(st.integers(1, 4), field, field), min_size=1, max_size=12), label=name)
            chunks, indices = [], []
            for label, title, description in rows:
                chunks += [blank + newline for blank in draw(BLANK_LINES)]
                indices.append(len(chunks))
                chunks.append(csv_record([f"{draw(LABEL_PAD)}{label}", title, description], quoting, newline))
            files[name], records[name] = chunks, indices
            read[name] = ([ag_news_text(t, d) for _, t, d in rows], [label - 1 for label, _, _ in rows])
        return Dataset(files, records, {"train": read["train.csv"], "test": read["test.csv"]}, carved=True)

    return build()


def tiny_shakespeare_datasets():
    # At least 2 characters: a 1-character file is a DataError (tested at the bottom).
    text = st.text(UTF8_CHAR, min_size=2, max_size=80).filter(lambda t: t.encode("utf-8").strip())

    def build(text):
        cut = int(len(text) * 0.9)  # the documented nanoGPT split
        validation = ([text[cut:]], None)
        return Dataset({"input.txt": [text]}, {}, {"train": ([text[:cut]], None), "validation": validation,
                                                   "test": validation})

    return text.map(build)


def line_document_datasets(split_files):
    document = st.text(st.characters(exclude_categories=("Cs",), exclude_characters=LINE_BREAKS),
                       min_size=1, max_size=16).map(str.strip).filter(bool)

    @st.composite
    def build(draw):
        files, expected = {}, {}
        for split, name in split_files.items():
            newline = draw(NEWLINE)
            docs = draw(st.lists(document, min_size=1, max_size=6), label=name)
            chunks = []
            for doc in docs:
                chunks += [blank + newline for blank in draw(BLANK_LINES)]
                chunks.append(f"{draw(PAD)}{doc}{draw(PAD)}{newline}")
            files[name], expected[split] = chunks, (docs, None)
        return Dataset(files, {}, expected)

    return build()


PTB_FILES = {"train": "ptb.train.txt", "validation": "ptb.valid.txt", "test": "ptb.test.txt"}
WIKITEXT_FILES = {"train": "wiki.train.tokens", "validation": "wiki.valid.tokens", "test": "wiki.test.tokens"}
DATASETS = {"sst2": sst2_datasets(), "ag_news": ag_news_datasets(), "tiny_shakespeare": tiny_shakespeare_datasets(),
            "ptb": line_document_datasets(PTB_FILES), "wikitext2": line_document_datasets(WIKITEXT_FILES)}
LAYOUT = {"sst2": ["train.tsv", "dev.tsv", "test_labeled.tsv"], "ag_news": ["train.csv", "test.csv"],
          "tiny_shakespeare": ["input.txt"], "ptb": list(PTB_FILES.values()),
          "wikitext2": list(WIKITEXT_FILES.values())}
REQUIRED = {**LAYOUT, "sst2": ["train.tsv", "dev.tsv"]}  # test_labeled.tsv is optional


def load_splits(task_name, root):
    """Every split of the task read from `root` (errors propagate), and the task's info."""
    task = get_task(task_name, data_dir=str(root))
    return {split: task.split(split) for split in SPLITS}, task.info


def load_files(task_name, files):
    """`load_splits` on a temporary data folder holding `files` ({relative path: bytes}), or its DataError."""
    with tempfile.TemporaryDirectory() as root:
        folder = pathlib.Path(root) / task_name
        folder.mkdir()
        for name, content in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
        return outcome(lambda: load_splits(task_name, root), DataError)


def is_subsequence(part, whole):
    remaining = iter(whole)
    return all(any(item == other for other in remaining) for item in part)


def assert_carved(train, validation, texts, labels, fraction=0.1):
    """train + validation is the train file, each in file order; validation holds round(fraction * n) per class."""
    rows = list(zip(texts, labels))
    train_rows, validation_rows = list(zip(train.texts, train.labels)), list(zip(validation.texts, validation.labels))
    assert sorted(train_rows + validation_rows) == sorted(rows)
    assert is_subsequence(train_rows, rows) and is_subsequence(validation_rows, rows)
    for label in set(labels):
        assert validation.labels.count(label) == round(fraction * labels.count(label))


def assert_gives(dataset, splits):
    for split, (texts, labels) in dataset.expected.items():
        if not (dataset.carved and split == "train"):
            assert splits[split] == Split(texts=texts, labels=labels), split
    if dataset.carved:
        assert_carved(splits["train"], splits["validation"], *dataset.expected["train"])


def assert_well_formed(info, splits):
    """What any accepted dataset gives: three splits of strings; classes in range and a non-empty train and test."""
    assert set(splits) == set(SPLITS)
    for split in splits.values():
        assert isinstance(split, Split) and isinstance(split.texts, list)
        assert all(isinstance(text, str) for text in split.texts)
        if info.kind == "classification":
            assert isinstance(split.labels, list) and len(split.labels) == len(split.texts)
            assert all(type(label) is int and 0 <= label < info.num_classes for label in split.labels)
        else:
            assert split.labels is None
    if info.kind == "classification":
        assert splits["train"].texts and splits["test"].texts


@pytest.mark.parametrize("task_name", DATASETS)
@SOME
@given(data=st.data())
def test_loaders_read_a_well_formed_dataset_exactly(task_name, data):
    dataset = data.draw(DATASETS[task_name], label="dataset")
    result = load_files(task_name, dataset.render())
    assert not isinstance(result, DataError), f"refused a well-formed dataset: {result}"
    splits, info = result
    assert_well_formed(info, splits)
    assert_gives(dataset, splits)


SST2_BAD_HEADERS = ["", "sentence", "label\tsentence", "sentence,label", "sentence\tlabel\textra",
                    "\ufeffsentence\tlabel"]
BAD_ROWS = {  # a data row that the loader documents as a DataError, by what is wrong with it
    ("sst2", "bad label"): ["bad\t2", "bad\t-1", "bad\tx", "bad\t", "bad\t1.0"],
    ("sst2", "bad field count"): ["bad", "bad\t1\t0", "bad\t\t1"],
    ("ag_news", "bad label"): ['"5","t","d"', '"0","t","d"', '"x","t","d"', '"","t","d"', '"1.0","t","d"'],
    ("ag_news", "bad field count"): ['"1","t"', '"1","t","d","e"', "1"],
}
CORRUPTIONS = [(task_name, corruption) for task_name in DATASETS for corruption in
               ["missing", "empty", "not utf-8"]
               + (["bad label", "bad field count", "no rows"] if task_name in ("sst2", "ag_news") else [])
               + (["bad header"] if task_name == "sst2" else [])]


def corrupt(data, task_name, dataset, corruption):
    """`dataset`'s files with one corruption the loader documents as a DataError; returns (files, culprit)."""
    files = dataset.render()
    culprit = data.draw(st.sampled_from(REQUIRED[task_name] if corruption == "missing" else sorted(files)),
                        label="file")
    if corruption == "missing":
        del files[culprit]
    elif corruption == "empty":
        files[culprit] = data.draw(st.sampled_from([b"", b" ", b"\n\n", b"\r\n\t"]))
    elif corruption == "not utf-8":
        at = data.draw(st.integers(0, len(files[culprit])))
        files[culprit] = files[culprit][:at] + data.draw(INVALID_UTF8) + files[culprit][at:]
    else:
        chunks = list(dataset.files[culprit])
        if corruption in ("bad label", "bad field count"):
            chunks[data.draw(st.sampled_from(dataset.records[culprit]))] = data.draw(
                st.sampled_from(BAD_ROWS[(task_name, corruption)])) + "\n"
        elif corruption == "no rows":
            chunks = [chunk for i, chunk in enumerate(chunks) if i not in dataset.records[culprit]]
        else:
            chunks[0] = data.draw(st.sampled_from(SST2_BAD_HEADERS)) + "\n"
        files[culprit] = "".join(chunks).encode("utf-8")
    return files, culprit


@pytest.mark.parametrize("task_name, corruption", CORRUPTIONS)
@FEW
@given(data=st.data())
def test_loaders_reject_a_corrupted_dataset_with_a_data_error_naming_the_file(task_name, corruption, data):
    files, culprit = corrupt(data, task_name, data.draw(DATASETS[task_name], label="dataset"), corruption)
    error = load_files(task_name, files)
    assert isinstance(error, DataError), f"accepted with {culprit} corrupted"
    assert culprit in str(error)


def _rows(fields, separator):
    field = st.text(st.sampled_from(list("ab 1\t,\"'\\\r\n")) | ANY_CHAR, max_size=12)
    row = st.lists(field, min_size=0, max_size=fields + 1).map(separator.join)
    return st.lists(row, max_size=8).map("\n".join)


def _encoded(text_strategy):
    return text_strategy.map(lambda text: text.encode("utf-8", "surrogatepass"))


SST2_ROWS = _rows(2, "\t").map(lambda body: "sentence\tlabel\n" + body)
FILE_BYTES = {
    "sst2": st.one_of(st.binary(), _encoded(SST2_ROWS), _encoded(_rows(2, "\t"))),
    "ag_news": st.one_of(st.binary(), _encoded(_rows(3, ",")), _encoded(_rows(3, '","').map(lambda t: f'"{t}"'))),
    "tiny_shakespeare": st.one_of(st.binary(), _encoded(st.text(ANY_CHAR))),
    "ptb": st.one_of(st.binary(), _encoded(_rows(1, " "))),
    "wikitext2": st.one_of(st.binary(), _encoded(_rows(1, " "))),
}


def utf8_text(content):
    """The text of a file the loaders accept as UTF-8 and not empty, or None."""
    if not content.strip():
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def assert_random_files_read_as_documented(task_name, files, splits, info):
    """Per format, what an accepted file must have given (the rest of the file format is checked above)."""
    assert_well_formed(info, splits)
    texts = {name: utf8_text(content) for name, content in files.items()}
    assert all(text is not None for text in texts.values()), "accepted an empty or non-UTF-8 file"
    if task_name == "sst2":
        test_file = "test_labeled.tsv" if "test_labeled.tsv" in files else "dev.tsv"
        for split, name in (("train", "train.tsv"), ("validation", "dev.tsv"), ("test", test_file)):
            rows = [line for line in texts[name].split("\n")[1:] if line.strip()]  # blank lines are skipped
            assert len(splits[split].texts) == len(rows), split
            assert all(text == text.strip() and "\t" not in text and text in texts[name]
                       for text in splits[split].texts)
    elif task_name == "ag_news":
        assert all(text == " ".join(text.split()) and "\\n" not in text
                   for split in splits.values() for text in split.texts)
    elif task_name == "tiny_shakespeare":
        text = texts["input.txt"]
        cut = int(len(text) * 0.9)
        assert splits["train"].texts == [text[:cut]] and splits["validation"].texts == [text[cut:]]
        assert splits["test"] == splits["validation"]
    else:
        for split, name in zip(SPLITS, LAYOUT[task_name]):
            documents = [line.strip() for line in texts[name].splitlines() if line.strip()]
            assert splits[split].texts == documents, split


@pytest.mark.parametrize("task_name", LAYOUT)
@MANY
@given(data=st.data())
def test_loaders_fed_random_bytes_read_them_as_documented_or_raise_data_error(task_name, data):
    files = {name: data.draw(FILE_BYTES[task_name], label=name) for name in LAYOUT[task_name]}
    result = load_files(task_name, files)
    if isinstance(result, DataError):
        return  # a DataError (and nothing else) is the documented answer to a malformed file
    assert_random_files_read_as_documented(task_name, files, *result)


# --------------------------------------------------------------------------------------------- IMDB
IMDB_GROUPS = [(split, polarity) for split in ("train", "test") for polarity in ("neg", "pos")]
ARCHIVE = "aclImdb_v1.tar.gz"
REVIEW = st.lists(st.just("<br />") | st.text(UTF8_CHAR, max_size=4), max_size=5).map("".join)
# {(split, polarity): [(review id, rating, text)]}, ids unique within a group
IMDB_REVIEWS = st.fixed_dictionaries({
    group: st.lists(st.tuples(st.integers(0, 12_499), st.integers(1, 10), REVIEW), min_size=1, max_size=3,
                    unique_by=lambda review: review[0])
    for group in IMDB_GROUPS})
# Files the loader must skip: unlabelled reviews, names that are no review (even when not UTF-8).
IMDB_DISTRACTORS = {"aclImdb/train/unsup/0_0.txt": b"\xff", "aclImdb/train/pos/x.txt": b"\xff",
                    "aclImdb/imdb.vocab": b"the\n"}


def imdb_files(reviews):
    """{member path: bytes} of the labelled reviews plus the distractors."""
    files = dict(IMDB_DISTRACTORS)
    for (split, polarity), group in reviews.items():
        for review_id, rating, text in group:
            files[f"aclImdb/{split}/{polarity}/{review_id}_{rating}.txt"] = text.encode("utf-8")
    return files


def imdb_archive(files, prefix=""):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, content in files.items():
            member = tarfile.TarInfo(prefix + name)
            member.size = len(content)
            bundle.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


def imdb_expected(reviews):
    """The documented IMDB splits: neg (0) then pos (1), by review id; `<br />` as a space; stripped."""
    expected = {}
    for split in ("train", "test"):
        texts, labels = [], []
        for label, polarity in enumerate(("neg", "pos")):
            for _, _, text in sorted(reviews[(split, polarity)]):
                texts.append(text.replace("<br />", " ").strip())
                labels.append(label)
        expected[split] = (texts, labels)
    return Dataset({}, {}, expected, carved=True)


@SOME
@given(reviews=IMDB_REVIEWS, prefix=st.sampled_from(["", "./"]))
def test_imdb_reads_the_folder_and_the_archive_as_the_same_splits(reviews, prefix):
    files = imdb_files(reviews)
    from_folder = load_files("imdb", files)
    assert not isinstance(from_folder, DataError), f"refused a well-formed folder: {from_folder}"
    assert_well_formed(from_folder[1], from_folder[0])
    assert_gives(imdb_expected(reviews), from_folder[0])
    from_archive = load_files("imdb", {ARCHIVE: imdb_archive(files, prefix)})
    assert not isinstance(from_archive, DataError), f"refused a well-formed archive: {from_archive}"
    assert from_archive[0] == from_folder[0]  # the splits; the notes say which one was read


@pytest.mark.parametrize("corruption, in_archive", [
    ("review not utf-8", False), ("review not utf-8", True), ("group empty", False), ("group empty", True),
    ("group missing", False), ("archive garbage", True)])
@FEW
@given(reviews=IMDB_REVIEWS, data=st.data())
def test_imdb_rejects_a_corrupted_dataset_with_a_data_error_naming_the_file(corruption, in_archive, reviews, data):
    files = imdb_files(reviews)
    split, polarity = group = data.draw(st.sampled_from(IMDB_GROUPS))
    if corruption == "review not utf-8":
        review_id, rating, text = data.draw(st.sampled_from(reviews[group]))
        culprit = f"{review_id}_{rating}.txt"
        files[f"aclImdb/{split}/{polarity}/{culprit}"] = text.encode("utf-8") + data.draw(INVALID_UTF8)
    elif corruption in ("group empty", "group missing"):
        files = {name: content for name, content in files.items()
                 if not name.startswith(f"aclImdb/{split}/{polarity}/") or name.endswith("x.txt")}
        culprit = f"aclImdb/{split}/{polarity}" if corruption == "group empty" or in_archive else "aclImdb"
        if corruption == "group empty":
            files[f"aclImdb/{split}/{polarity}/notes.txt"] = b"not a review"  # keeps the folder
    if corruption == "archive garbage":
        files, culprit = {ARCHIVE: data.draw(st.binary(), label="archive")}, ARCHIVE
    else:
        files = {ARCHIVE: imdb_archive(files)} if in_archive else files
    error = load_files("imdb", files)
    assert isinstance(error, DataError), f"accepted with {corruption}"
    assert culprit in str(error)


@SOME
@given(reviews=IMDB_REVIEWS, data=st.data())
def test_imdb_reads_a_truncated_archive_completely_or_raises_data_error(reviews, data):
    archive = imdb_archive(imdb_files(reviews))
    cut = data.draw(st.integers(0, len(archive) - 1), label="cut")
    result = load_files("imdb", {ARCHIVE: archive[:cut]})
    if cut < 10:  # not even a gzip header
        assert isinstance(result, DataError) and ARCHIVE in str(result)
    if not isinstance(result, DataError):  # a cut in the tar padding loses nothing: then it must give everything
        assert result[0] == load_files("imdb", {ARCHIVE: archive})[0]


@MANY
@given(data=st.data())
def test_imdb_fed_random_bytes_gives_both_classes_or_raises_data_error(data):
    files = {}
    if data.draw(st.booleans(), label="archive instead of folders"):
        files[ARCHIVE] = data.draw(st.binary(), label="archive")
    else:
        for split, polarity in IMDB_GROUPS:
            files[f"aclImdb/{split}/{polarity}/.keep"] = b""
            names = data.draw(st.lists(st.sampled_from(["0_1.txt", "1_10.txt", "x.txt", "2_3.txt"]),
                                       unique=True, max_size=3), label="files")
            for name in names:
                files[f"aclImdb/{split}/{polarity}/{name}"] = data.draw(_encoded(TEXT) | st.binary(), label=name)
    result = load_files("imdb", files)
    if isinstance(result, DataError):
        return  # the documented answer to a malformed dataset
    splits, info = result
    assert_well_formed(info, splits)
    assert set(splits["train"].labels) == {0, 1} and set(splits["test"].labels) == {0, 1}
    assert all(text == text.strip() for split in splits.values() for text in split.texts)


def test_loaders_accept_a_prefix_of_the_real_files(shared_data):
    """The by-construction datasets above match the real formats: a prefix of each real file loads."""
    prefixes = {"sst2": {name: 40 for name in ("train.tsv", "dev.tsv", "test_labeled.tsv")},
                "ptb": {name: 40 for name in PTB_FILES.values()}, "tiny_shakespeare": {"input.txt": 200}}
    for task_name, lines in prefixes.items():
        files = {}
        for name, count in lines.items():
            with open(shared_data / task_name / name, "rb") as f:
                files[name] = b"".join(itertools.islice(f, count))
        result = load_files(task_name, files)
        assert not isinstance(result, DataError), f"refused a prefix of the real {task_name} files: {result}"
        assert_well_formed(result[1], result[0])
        assert all(result[0][split].texts for split in SPLITS), task_name


# ------------------------------------------------------------------------------- files we read back
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-2, 2**70) | st.text(ANY_CHAR, max_size=4)
                | st.floats(allow_nan=False, allow_infinity=False))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(ANY_CHAR, max_size=3), inner, max_size=3), max_leaves=8)
JSON_CONTAINERS = st.lists(JSON_VALUES, max_size=3) | st.dictionaries(st.text(ANY_CHAR, max_size=3), JSON_VALUES,
                                                                      max_size=3)


def json_or_none(content):
    """What `json.load` gives for the UTF-8 text of `content`, or None if it is not UTF-8 JSON."""
    try:
        return {"value": json.loads(content.decode("utf-8"))}
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None


def same_json(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@SOME
@given(value=JSON_VALUES)
def test_read_json_reads_back_what_write_json_atomic_wrote(value):
    with tempfile.TemporaryDirectory() as root:
        path = pathlib.Path(root) / "state.json"
        write_json_atomic(path, value)
        assert same_json(read_json(path), value)


@SOME
@given(value=JSON_CONTAINERS, data=st.data())
def test_read_json_rejects_a_truncated_or_non_utf8_file_with_corrupt_file_error(value, data):
    content = json.dumps(value).encode("utf-8")
    if data.draw(st.booleans(), label="truncate"):  # no strict prefix of an array or object is valid JSON
        content = content[:data.draw(st.integers(0, len(content) - 1))]
    else:
        at = data.draw(st.integers(0, len(content)))
        content = content[:at] + data.draw(INVALID_UTF8) + content[at:]
    with tempfile.TemporaryDirectory() as root:
        path = pathlib.Path(root) / "state.json"
        path.write_bytes(content)
        with pytest.raises(CorruptFileError, match="state.json"):
            read_json(path)


TOKENIZER_NAMES = ["char", "byte", "word", "wordpiece", "bpe"]
TOKENIZER_KEYS = ["byte_fallback", "vocabulary", "lowercase", "min_frequency", "max_vocab", "split",
                  "vocabulary_size", "merges"]
TOKENIZER_VALUES = (JSON_SCALARS | st.lists(st.text(ANY_CHAR, min_size=1, max_size=2), max_size=8)
                    | st.lists(st.sampled_from(["a b", "Ġ t", "x y", "a", "a  b", "", "ab", "Ġt"]), max_size=4))
TOKENIZER_PAYLOADS = st.fixed_dictionaries(
    {"name": st.sampled_from(TOKENIZER_NAMES) | JSON_SCALARS},
    optional={"config": st.dictionaries(st.sampled_from(TOKENIZER_KEYS) | st.text(max_size=3), TOKENIZER_VALUES,
                                        max_size=4) | JSON_VALUES})
CONFIG_BYTES = [b'{"name": "word", "config": {}}', b'{"name": "bpe", "config": {"merges": 1}}',
                b'{"name": "char", "config": {"vocabulary": ["ab"]}}', b"[]", b"null",
                b'{"name": "nope", "config": {}}', b'{"name": "word", "config": []}',
                b'{"task": "mqar", "arch": "gru"}', b"task: mqar\narch: gru\nepochs: 2\n", b"task: [mqar\n"]
RANDOM_FILES = st.one_of(st.binary(), _encoded(st.text(ANY_CHAR)), st.sampled_from(CONFIG_BYTES),
                         TOKENIZER_PAYLOADS.map(lambda payload: json.dumps(payload).encode("utf-8")))


def assert_loaded_tokenizer(result, content):
    """`Tokenizer.load` gave the tokenizer the file names, or DataError / ConfigError as documented."""
    parsed = json_or_none(content)
    payload = parsed and parsed["value"]
    if parsed is None or not isinstance(payload, dict) or "name" not in payload:
        assert isinstance(result, DataError), result  # not JSON, or no tokenizer in it
        return
    if isinstance(result, (DataError, ConfigError)):
        return  # a config the tokenizer refuses: documented
    assert isinstance(result, Tokenizer) and result.registered_name == payload["name"]
    if result.is_fitted:
        assert_encodes_in_range(result, PROBE)
    else:
        with pytest.raises(ConfigError, match="not fitted"):
            result.encode(PROBE)


@SOME
@given(content=RANDOM_FILES)
def test_files_fed_random_bytes_are_read_or_give_the_documented_error(content):
    with tempfile.TemporaryDirectory() as root:
        paths = {name: pathlib.Path(root) / name for name in ("tokenizer.json", "state.json", "c.json", "c.yaml")}
        for path in paths.values():
            path.write_bytes(content)
        assert_loaded_tokenizer(outcome(lambda: Tokenizer.load(paths["tokenizer.json"]), (DataError, ConfigError)),
                                content)
        state, parsed = outcome(lambda: read_json(paths["state.json"]), CorruptFileError), json_or_none(content)
        assert isinstance(state, CorruptFileError) if parsed is None else same_json(state, parsed["value"])
        for name in ("c.json", "c.yaml"):
            config = outcome(lambda: TrainConfig.from_file(paths[name]), ConfigError)
            if not isinstance(config, ConfigError):
                assert_typed_config(config)


# Texts a tokenizer is fitted on before saving: any code point, lone surrogates included.
SAVABLE_TEXTS = st.lists(st.text(ANY_CHAR, max_size=12), max_size=4).map(lambda texts: texts + ["the fox é"])


def assert_saves_and_loads_back(tokenizer, texts):
    with tempfile.TemporaryDirectory() as root:
        path = pathlib.Path(root) / "tokenizer.json"
        tokenizer.save(path)
        loaded = Tokenizer.load(path)
    assert type(loaded) is type(tokenizer) and loaded.get_config() == tokenizer.get_config()
    assert loaded.vocabulary_size == tokenizer.vocabulary_size
    for text in texts + [PROBE]:
        assert loaded.encode(text) == tokenizer.encode(text)


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "wordpiece"])
@FEW
@given(texts=SAVABLE_TEXTS)
def test_a_saved_tokenizer_loads_back_the_same(kind, texts):
    name, options = KINDS[kind]
    assert_saves_and_loads_back(get_tokenizer(name, **options).fit(texts), texts)


def test_a_saved_wordpiece_tokenizer_loads_back_the_same(fitted):
    """Once, not fuzzed: a wordpiece tokenizer takes a good part of a second to fit or load."""
    assert_saves_and_loads_back(fitted["wordpiece"], CORPUS[:3])


TOKENIZER_CORRUPTIONS = {
    "truncated": DataError, "not utf-8": DataError, "unknown name": ConfigError, "config not a mapping": DataError,
    "no name": DataError, "no config": DataError, "unknown option": DataError, "not an object": DataError,
}


@pytest.mark.parametrize("corruption", TOKENIZER_CORRUPTIONS)
@FEW
@given(data=st.data())
def test_a_corrupted_tokenizer_file_gives_the_documented_error(fitted, corruption, data):
    kind = data.draw(st.sampled_from(["char", "char_fallback", "byte", "word", "bpe"]), label="kind")
    payload = {"name": fitted[kind].registered_name, "config": fitted[kind].get_config()}
    if corruption == "unknown name":
        payload["name"] = data.draw(st.text(max_size=6).filter(lambda name: name not in TOKENIZER_NAMES))
    elif corruption == "config not a mapping":
        payload["config"] = data.draw(st.none() | st.lists(JSON_SCALARS, max_size=2) | st.text(max_size=3))
    elif corruption in ("no name", "no config"):
        del payload[corruption.split()[1]]
    elif corruption == "unknown option":
        payload["config"][data.draw(st.text(min_size=1, max_size=4).filter(lambda k: k not in TOKENIZER_KEYS))] = 1
    elif corruption == "not an object":
        payload = data.draw(st.lists(JSON_SCALARS, max_size=2) | JSON_SCALARS.filter(lambda v: not isinstance(v, dict)))
    content = json.dumps(payload).encode("utf-8")
    if corruption == "truncated":
        content = content[:data.draw(st.integers(0, len(content) - 1))]
    elif corruption == "not utf-8":
        at = data.draw(st.integers(0, len(content)))
        content = content[:at] + data.draw(INVALID_UTF8) + content[at:]
    with tempfile.TemporaryDirectory() as root:
        path = pathlib.Path(root) / "tokenizer.json"
        path.write_bytes(content)
        with pytest.raises(TOKENIZER_CORRUPTIONS[corruption]):
            Tokenizer.load(path)


# ------------------------------------------------------------------------------------------- configs
FIELDS = TrainConfig.fields()


def field_type(name):
    """(base type, optional) of a TrainConfig field: Optional[int] -> (int, True)."""
    annotation = FIELDS[name].type
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)][0], True
    return annotation, False


def assert_typed_config(config):
    """A config holds the declared type in every field, and builds the same config again from its dict."""
    assert isinstance(config, TrainConfig)
    for name in FIELDS:
        value, (base, optional) = getattr(config, name), field_type(name)
        if value is None:
            assert optional, name
        else:
            assert type(value) is base or (base is dict and isinstance(value, dict)), (name, value)
    assert config.task and config.arch
    assert TrainConfig.from_dict(config.to_dict()) == config


NAME = st.text(st.characters(exclude_categories=("Cs",), exclude_characters=":"), min_size=1, max_size=8)
AT_LEAST_ONE = ["hidden_dim", "num_layers", "batch_size", "steps_per_execution", "max_length", "eval_every",
                "early_stopping_patience", "validation_batches"]
UNIT_INTERVAL = ["dropout", "label_smoothing", "warmup_ratio", "min_lr_ratio"]
POSITIVE = ["learning_rate", "clipnorm"]
BOOLEANS = ["tie_weights", "shared_vocabulary", "mixed_precision", "jit_compile"]
STRINGS = ["data_dir", "tokenizer", "position", "pooling", "lm_metric", "optimizer", "cross_attention", "init_from",
           "embeddings"]
DICTS = ["tokenizer_options", "task_options", "arch_options"]
BUDGETS = ("epochs", "steps", "tokens")  # a config takes one of them
OPTION_KEY = st.text(st.sampled_from("xyz_"), min_size=1, max_size=3)  # never a plugin option (cell, block, ...)
VALID_VALUES = {
    **{name: st.integers(1, 10**6) for name in AT_LEAST_ONE + list(BUDGETS)},
    "seed": st.integers(-2**40, 2**40),
    **{name: st.floats(0, 1, exclude_max=True) for name in UNIT_INTERVAL},
    **{name: st.floats(1e-9, 1e3) for name in POSITIVE},
    "weight_decay": st.floats(0, 10),
    "seq2seq_form": st.sampled_from(["encoder_decoder", "prefix_lm"]),
    "objective": st.sampled_from(["lm", "mlm"]),
    "distribution": st.just("data_parallel"),
    "softmax": st.sampled_from(["full", "adaptive"]),
    "softmax_options": st.just({}),  # options need softmax=adaptive (a cross-field rule)
    "backbone_lr_scale": st.floats(1e-6, 1),
    # Freezing needs init_from or embeddings (a cross-field rule): these draw the value valid on its own.
    "freeze_embedding_epochs": st.just(0), "freeze_backbone_epochs": st.just(0), "freeze_embeddings": st.just(False),
    **{name: st.booleans() for name in BOOLEANS},
    **{name: NAME for name in STRINGS + ["task", "arch"]},
    **{name: st.dictionaries(OPTION_KEY, JSON_SCALARS.filter(lambda v: not isinstance(v, str) or ":" not in v),
                             max_size=2) for name in DICTS},
}
assert set(VALID_VALUES) == set(FIELDS), "a new TrainConfig field needs a valid-value strategy here"


@st.composite
def valid_config_values(draw):
    """A dict of settings, each within its documented range (at most one of epochs, steps and tokens)."""
    optional = {name: strategy for name, strategy in VALID_VALUES.items() if name not in ("task", "arch")}
    values = draw(st.fixed_dictionaries({"task": NAME, "arch": NAME}, optional=optional))
    given = [name for name in BUDGETS if name in values]
    if len(given) > 1:
        kept = draw(st.sampled_from(given))
        values = {name: value for name, value in values.items() if name not in given or name == kept}
    return values


def write_settings(path, values):
    text = yaml.safe_dump(values) if path.suffix == ".yaml" else json.dumps(values)
    path.write_text(text, encoding="utf-8")


@SOME
@given(values=valid_config_values(), suffix=st.sampled_from([".json", ".yaml"]))
def test_a_valid_config_file_gives_its_settings(values, suffix):
    with tempfile.TemporaryDirectory() as root:
        path = pathlib.Path(root) / f"config{suffix}"
        write_settings(path, values)
        config = TrainConfig.from_file(path)
    assert_typed_config(config)
    assert {name: getattr(config, name) for name in values} == values


NOT_OPTIONAL = ["hidden_dim", "num_layers", "batch_size", "steps_per_execution", "seed", "dropout",
                "label_smoothing"]
BAD_VALUES = {
    **{name: st.sampled_from([0, -1, "abc", 1.5, True, [], "", "1.5", "true"]
                             + ([None, "none"] if name in NOT_OPTIONAL else [])) for name in AT_LEAST_ONE},
    "seed": st.sampled_from([None, "none", 1.5, "abc", {}, True, "1.5"]),
    # dropout and label_smoothing cannot be None; the recipe settings can (None takes the architecture's recipe).
    **{name: st.sampled_from([1.0, 1, -0.1, 2, "abc", True, []] + ([None] if name in NOT_OPTIONAL else []))
       for name in UNIT_INTERVAL},
    **{name: st.sampled_from([0, 0.0, -1, "abc", False]) for name in POSITIVE},
    "weight_decay": st.sampled_from([-0.5, -1, "abc", True]),
    **{name: st.sampled_from(["yes", 1, 0, "abc", None, 2.5]) for name in BOOLEANS},
    **{name: st.sampled_from([[], 5, "abc", None, True]) for name in DICTS},
    "tokens": st.sampled_from([0, -1, "abc", 1.5, True, [], "", "1.5", "true"]),
    "task": st.sampled_from(["", None]), "arch": st.sampled_from(["", None]),
}


@pytest.mark.parametrize("corruption", ["bad value", "unknown key", "no task or arch", "epochs and steps",
                                        "untrusted code", "not a mapping", "not utf-8", "truncated"])
@FEW
@given(values=valid_config_values(), suffix=st.sampled_from([".json", ".yaml"]), data=st.data())
def test_an_invalid_config_file_gives_a_config_error(corruption, values, suffix, data):
    if corruption == "bad value":
        name = data.draw(st.sampled_from(sorted(BAD_VALUES)))
        values[name] = data.draw(BAD_VALUES[name], label=name)
    elif corruption == "unknown key":
        values[data.draw(NAME.filter(lambda key: key not in FIELDS), label="key")] = 1
    elif corruption == "no task or arch":
        del values[data.draw(st.sampled_from(["task", "arch"]))]
    elif corruption == "epochs and steps":
        values.update(epochs=1, steps=1)
    elif corruption == "untrusted code":  # a file that names code is refused unless trust_code
        values["arch"] = "my_model.py:MyBackbone"
    elif corruption == "not a mapping":
        values = data.draw(st.lists(JSON_SCALARS, max_size=2) | JSON_SCALARS)
    with tempfile.TemporaryDirectory() as root:
        path = pathlib.Path(root) / f"config{suffix}"
        write_settings(path, values)
        content = path.read_bytes()
        if corruption == "not utf-8":
            at = data.draw(st.integers(0, len(content)))
            path.write_bytes(content[:at] + data.draw(INVALID_UTF8) + content[at:])
        elif corruption == "truncated" and suffix == ".json":  # no strict prefix of a JSON object is valid
            path.write_bytes(content[:data.draw(st.integers(0, len(content) - 1))])
        elif corruption == "truncated":
            path.write_bytes(content + b"\n: [\n")  # and a YAML file with a dangling flow sequence is not YAML
        with pytest.raises(ConfigError):
            TrainConfig.from_file(path)


# Settings given as key=value on the command line (`kerasllm train ... key=value`).
BASE = TrainConfig(task="mqar", arch="gru")
LETTERS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=1, max_size=6).filter(
    lambda s: s not in ("none", "null", "true", "false", "nan"))  # parsed as JSON-ish scalars otherwise


def render_scalar(value, draw):
    """A string that `key.sub=...` parses back to `value` (see TrainConfig.with_overrides)."""
    if value is None:
        return draw(st.sampled_from(["none", "null", "None", "NULL"]))
    if isinstance(value, bool):
        return draw(st.sampled_from([str(value).lower(), str(value), str(value).upper()]))
    return value if isinstance(value, str) else json.dumps(value)


@st.composite
def valid_assignments(draw, exclude=()):
    """([key=value strings], {field: value it must end with}); each value within range; later ones win."""
    names = [name for name in FIELDS if name not in exclude]
    length = [name for name in BUDGETS if name in names]
    if len(length) > 1:
        kept = draw(st.sampled_from(length))
        names = [name for name in names if name not in length or name == kept]
    assignments, expected = [], {}
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.sampled_from(names))
        if name in DICTS:  # key.sub=value sets one key of a dict setting
            sub, value = draw(OPTION_KEY), draw(st.none() | st.booleans() | st.integers() | LETTERS
                                               | st.floats(allow_nan=False, allow_infinity=False))
            assignments.append(f"{name}.{sub}={render_scalar(value, draw)}")
            expected[name] = {**expected.get(name, getattr(BASE, name)), sub: value}
            continue
        value = draw(VALID_VALUES[name])
        if name in STRINGS + ["task", "arch"]:
            raw = value  # string settings are taken as typed
        elif isinstance(value, int) and not isinstance(value, bool) and draw(st.booleans()):
            raw = f"{value}.0"  # an integral float is an integer
        else:
            raw = render_scalar(value, draw)
        assignments.append(f"{name}={raw}")
        expected[name] = value
    return assignments, expected


@SOME
@given(case=valid_assignments())
def test_valid_settings_on_the_command_line_give_those_settings(case):
    assignments, expected = case
    config = BASE.with_overrides(assignments)
    assert_typed_config(config)
    for name in FIELDS:
        assert getattr(config, name) == expected.get(name, getattr(BASE, name)), name


def bad_assignments():
    """{what is wrong: (key=value string, field it spoils or None)}: each gives a ConfigError whatever else is set."""
    no_equals = st.text(ANY_CHAR, max_size=8).filter(lambda s: "=" not in s).map(lambda s: (s, None))
    unknown = NAME.filter(lambda key: key not in FIELDS and "." not in key and "=" not in key).map(
        lambda key: (f"{key}=1", None))
    not_a_dict = st.sampled_from([name for name in FIELDS if name not in DICTS] + ["nope"]).map(
        lambda name: (f"{name}.x=1", None))
    out_of_range = st.sampled_from(sorted(BAD_VALUES)).flatmap(lambda name: BAD_VALUES[name].filter(
        lambda v: v is not None and (isinstance(v, str) or name not in STRINGS + ["task", "arch"])).map(
        lambda v: (f"{name}={v if isinstance(v, str) else json.dumps(v)}", name)))
    return {"no equals sign": no_equals, "unknown key": unknown, "not a dict setting": not_a_dict,
            "out of range or wrong type": out_of_range, "epochs and steps": st.just(("epochs=1", "steps"))}


@pytest.mark.parametrize("wrong", bad_assignments())
@FEW
@given(data=st.data())
def test_an_invalid_setting_on_the_command_line_gives_a_config_error(wrong, data):
    assignment, spoiled = data.draw(bad_assignments()[wrong], label="bad assignment")
    if spoiled == "steps":  # epochs and steps together
        assignments = ["steps=2"]
        others = data.draw(valid_assignments(exclude=("epochs", "steps")))[0]
    else:
        others = data.draw(valid_assignments(exclude=(spoiled, assignment.split("=")[0])))[0]
        assignments = []
    at = data.draw(st.integers(0, len(others)))
    assignments = others[:at] + [assignment] + others[at:] + assignments
    with pytest.raises(ConfigError):
        BASE.with_overrides(assignments)


COMMANDS = ["train", "evaluate", "bench", "report", "archs", "tasks"]
FLAGS = ["--task", "--arch", "--epochs", "--steps", "--batch-size", "--max-length", "--hidden-dim", "--num-layers",
         "--seed", "--tokenizer", "--config", "--data-dir", "--out", "--split", "--archs", "--tasks", "--seeds",
         "--time-budget", "--dry-run", "--help", "-h", "--", "-"]
VALUES = ["0", "-1", "3", "1e9", "nan", "gru", "lstm", "mqar", "sst2", "quick", "x", "", "=", "a=b", "hidden_dim=0",
          "epochs=-1", "task_options.num_train=0", "arch_options.x=1", "dropout=2", "learning_rate=abc",
          "\x00", "\ud800", "é", "--x", "-5", "test", "validation"]
TOKEN = st.sampled_from(FLAGS) | st.sampled_from(VALUES) | st.text(ANY_CHAR, max_size=6)
ARGV = st.lists(TOKEN, max_size=7).flatmap(lambda rest: st.sampled_from(COMMANDS + [""]).map(lambda c: [c, *rest]))


@MANY
@given(overrides=st.lists(st.sampled_from(VALUES) | st.builds(
    "{}={}".format, st.sampled_from(list(FIELDS) + ["task_options.num_train", "arch_options.num_heads",
                                                    "nope", "a.b.c"]),
    st.sampled_from(VALUES) | st.text(ANY_CHAR, max_size=5)), max_size=4))
def test_random_settings_give_a_typed_config_or_a_config_error(overrides):
    """The key=value part of `kerasllm train`: any list of strings gives a typed config or a ConfigError."""
    config = outcome(lambda: BASE.with_overrides(overrides), ConfigError)
    if not isinstance(config, ConfigError):
        assert_typed_config(config)


# ---------------------------------------------------------------------------------------------- CLI
def run_parser(argv):
    """`build_parser().parse_args(argv)`: returns (namespace or exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = build_parser().parse_args(argv)
        except SystemExit as exit:
            result = exit.code
    return result, out.getvalue(), err.getvalue()


def assert_one_line_error(err):
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "error:" in err, err


@MANY
@given(argv=ARGV)
def test_argument_parser_exits_0_or_2_with_one_line(argv):
    result, out, err = run_parser(argv)
    assert isinstance(result, argparse.Namespace) or result in (0, 2), result
    assert "Traceback" not in err + out
    if result == 2:
        assert_one_line_error(err)
    if result == 0:
        assert "usage:" in out


VALUE = st.text(ANY_CHAR, min_size=1, max_size=6).filter(lambda s: not s.startswith("-"))  # not taken for a flag
TEXT_OPTIONS = {"--task": "task", "--arch": "arch", "--data-dir": "data_dir", "--out": "out",
                "--tokenizer": "tokenizer", "--config": "config"}
INT_OPTIONS = {"--batch-size": "batch_size", "--max-length": "max_length", "--hidden-dim": "hidden_dim",
               "--num-layers": "num_layers", "--seed": "seed", "--epochs": "epochs", "--steps": "steps",
               "--tokens": "tokens"}


@st.composite
def train_command_lines(draw):
    """(argv of a valid `kerasllm train`, {namespace attribute: value it must hold})."""
    options = {flag: draw(VALUE) for flag in draw(st.lists(st.sampled_from(sorted(TEXT_OPTIONS)), unique=True))}
    kept = draw(st.sampled_from(["--epochs", "--steps", "--tokens"]))  # the three are mutually exclusive
    numbers = [flag for flag in INT_OPTIONS if flag == kept or flag not in ("--epochs", "--steps", "--tokens")]
    options.update({flag: draw(st.integers(-10**6, 10**9)) for flag in draw(st.lists(st.sampled_from(numbers),
                                                                                     unique=True))})
    overrides = draw(st.lists(st.builds("{}={}".format, VALUE.filter(lambda s: "=" not in s), VALUE), max_size=3))
    argv = ["train", *overrides]
    for flag, value in options.items():
        argv += [flag, str(value)]
    expected = {dest: options.get(flag) for flag, dest in {**TEXT_OPTIONS, **INT_OPTIONS}.items()}
    return argv, {**expected, "command": "train", "overrides": overrides}


@SOME
@given(case=train_command_lines())
def test_a_valid_train_command_line_parses_to_its_values(case):
    argv, expected = case
    args, out, err = run_parser(argv)
    assert not isinstance(args, int), (argv, err)
    assert {name: getattr(args, name) for name in expected} == expected


@SOME
@given(case=train_command_lines(), bad=st.sampled_from([["--epochs", "x"], ["--hidden-dim", "1.5"], ["--nope"],
                                                        ["--epochs", "1", "--steps", "1"], ["--seed"],
                                                        ["--tokens", "1", "--steps", "1"]]))
def test_an_invalid_train_command_line_exits_2_with_one_line(case, bad):
    code, out, err = run_parser(case[0] + bad)
    assert code == 2 and not out
    assert_one_line_error(err)


CHEAP = st.one_of(
    st.tuples(st.just("evaluate"), TOKEN).map(list),
    st.lists(TOKEN, max_size=3).map(lambda rest: ["report", *rest]),
    st.lists(st.sampled_from(["--archs", "--tasks", "--seeds", "--epochs", "--steps", "gru,lstm", "mqar", "quick",
                              "lm", "0", "2", "x,", ","]) | TOKEN, max_size=4).map(
        lambda rest: ["bench", *rest, "--dry-run"]),
    st.sampled_from([["archs"], ["tasks"]]),
)


def run_main(argv):
    """`main(argv)` in a fresh folder (a bench --out or runs/ folder lands there): (exit code, stdout, stderr)."""
    with tempfile.TemporaryDirectory() as root:
        out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
        os.chdir(root)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
        except SystemExit as exit:
            code = exit.code
        except KerasLLMError as error:  # main must have caught it
            code = f"uncaught {error!r}"
        finally:
            os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


@FEW
@given(argv=CHEAP)
def test_cli_commands_that_train_nothing_exit_0_or_2_with_one_line(argv):
    """`main` on random argv for the commands that do not train: exit 0, or 2 with one line on stderr."""
    assume("--help" not in argv and "-h" not in argv)
    code, out, err = run_main(argv)
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert_one_line_error(err)


ARCHS = ["bow", "rnn", "gru", "lstm", "cnn", "transformer"]  # the built-in backbones (README)
SUITES = ["quick", "classification", "lm", "diagnostics"]


@FEW
@given(suite=st.sampled_from(SUITES), archs=st.lists(st.sampled_from(ARCHS), min_size=1, max_size=3, unique=True),
       seeds=st.integers(1, 3), length=st.sampled_from([[], ["--epochs", "2"], ["--steps", "7"]]))
def test_a_valid_bench_dry_run_lists_every_run_it_asks_for(suite, archs, seeds, length):
    code, out, err = run_main(["bench", suite, "--archs", ",".join(archs), "--seeds", str(seeds), *length,
                               "--dry-run"])
    assert code == 0 and not err, err
    header, *lines = out.splitlines()
    runs = [line.split()[0].rsplit("/", 2) for line in lines if "/seed" in line]
    assert header.startswith(f"bench '{suite}': {len(runs)} runs")
    tasks = {task for task, _, _ in runs}
    assert tasks and sorted(runs) == sorted([task, arch, f"seed{seed}"] for task in tasks for arch in archs
                                            for seed in range(seeds))
    if length:
        assert all(f"{length[0][2:]}={length[1]}" in line for line in lines if "/seed" in line)


def test_cli_list_commands_exit_0_and_list_the_registries():
    for argv, names in ((["archs"], ARCHS), (["tasks"], ["mqar", "sst2", "imdb", "ag_news", "ptb", "wikitext2"])):
        code, out, err = run_main(argv)
        assert code == 0 and not err
        assert set(names) <= {line.split()[0] for line in out.splitlines() if line.strip()}


# --------------------------------------------------------------------------- known bugs, found by fuzzing
# Found by fuzzing, fixed: non-finite numbers and settings of the wrong type are ConfigErrors, not tracebacks.
@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_integer_setting_is_a_config_error(raw):
    with pytest.raises(ConfigError):
        BASE.with_overrides([f"hidden_dim={raw}"])


@pytest.mark.parametrize("assignment", ["learning_rate=NaN", "learning_rate=Infinity", "clipnorm=NaN",
                                        "weight_decay=NaN"])
def test_a_non_finite_float_setting_is_a_config_error(assignment):
    with pytest.raises(ConfigError):
        BASE.with_overrides([assignment])


@pytest.mark.parametrize("values", [{"task": ["x"], "arch": "gru"}, {"task": "mqar", "arch": 5},
                                    {"task": "mqar", "arch": "gru", "pooling": {"a": 1}}])
def test_a_str_setting_of_another_type_is_a_config_error(values):
    with pytest.raises(ConfigError):
        TrainConfig.from_dict(values)


# Found by fuzzing: a PTB or WikiText file of non-ASCII whitespace or separators was read as a split with no documents.
@pytest.mark.parametrize("content", [b"\xc2\xa0\n", b"\x1c", b"\xe2\x80\xa8 \n\xe3\x80\x80"])
def test_a_corpus_with_no_documents_is_a_data_error(content):
    result = load_files("ptb", {name: content for name in PTB_FILES.values()})
    assert isinstance(result, DataError)


def test_tiny_shakespeare_never_gives_an_empty_train_text():  # found by fuzzing: 1 character gave train [""]
    result = load_files("tiny_shakespeare", {"input.txt": b"T"})
    assert isinstance(result, DataError) or result[0]["train"].texts[0]


def test_imdb_skips_a_subfolder_among_the_reviews():  # found by fuzzing: it raised IsADirectoryError
    files = imdb_files({group: [(1, 7, "Fine.")] for group in IMDB_GROUPS})
    files["aclImdb/train/pos/2_8.txt/inside"] = b"a folder named like a review"
    result = outcome(lambda: load_files("imdb", files), IsADirectoryError)
    assert isinstance(result, (tuple, DataError)), result


# Found by fuzzing: the wordpiece tokenizer (through tf-text) dropped everything after the first NUL of a text,
# when fitting and when encoding: encode('\x00the fox') == [].
def test_wordpiece_reads_the_text_after_a_nul(fitted):
    tokenizer = fitted["wordpiece"]
    assert tokenizer.encode("\x00the fox") == tokenizer.encode("the fox")
    assert get_tokenizer("wordpiece", vocabulary_size=80).fit(["\x00the fox"]).encode("fox")


# Found by fuzzing: read_json and Tokenizer.load let the RecursionError of deeply nested JSON through.
@pytest.mark.parametrize("read, error", [(read_json, CorruptFileError), (Tokenizer.load, DataError)])
def test_deeply_nested_json_is_a_documented_error(read, error):
    with tempfile.TemporaryDirectory() as root:
        path = pathlib.Path(root) / "file.json"
        path.write_bytes(b"[" * 100_000)
        result = outcome(lambda: read(path), (error, RecursionError))
    assert isinstance(result, error)


# Found by fuzzing: a char or word tokenizer fitted on text with a lone surrogate (which they encode fine) raised
# UnicodeEncodeError when saved as UTF-8 JSON.
@pytest.mark.parametrize("kind", ["char", "word"])
def test_a_tokenizer_fitted_on_a_lone_surrogate_saves(kind):
    tokenizer = get_tokenizer(kind).fit(["a \ud800 b"])
    with tempfile.TemporaryDirectory() as root:
        path = pathlib.Path(root) / "tokenizer.json"
        result = outcome(lambda: tokenizer.save(path), UnicodeEncodeError)
        assert not isinstance(result, UnicodeEncodeError)
        assert Tokenizer.load(path).get_config() == tokenizer.get_config()
