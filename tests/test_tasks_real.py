"""Real-dataset loaders: counts on the shared data, formats on small fixtures, and every error path.

The shared data (`shared_data` fixture) holds sst2, imdb, ptb and tiny_shakespeare as laid out for
`--data-dir`; ag_news and wikitext2 are tested on small files written here in their standard formats.
"""

import collections
import io
import tarfile

import pytest

from kerasllm.data import get_task, list_tasks
from kerasllm.data.datasets import AGNews
from kerasllm.errors import DataError

REAL = ("sst2", "imdb", "ag_news", "tiny_shakespeare", "ptb", "wikitext2")
SPLITS = ("train", "validation", "test")


def _write(folder, name, content):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def _sizes(task):
    return [len(task.split(split)) for split in SPLITS]


@pytest.fixture(scope="module")
def imdb(shared_data):
    """IMDB is the slowest to read (a 27 MB archive of 50,000 reviews): read it once for the module."""
    task = get_task("imdb", data_dir=shared_data)
    for split in SPLITS:
        task.split(split)
    return task


# --- metadata -----------------------------------------------------------------------------------------

EXPECTED_INFO = {
    "sst2": ("classification", "accuracy", 2, "word", 64),
    "imdb": ("classification", "accuracy", 2, "word", 256),
    "ag_news": ("classification", "accuracy", 4, "word", 128),
    "tiny_shakespeare": ("lm", "bits_per_char", None, "char", 64),
    "ptb": ("lm", "perplexity", None, "word", 35),
    "wikitext2": ("lm", "perplexity", None, "word", 64),
}


@pytest.mark.parametrize("name", REAL)
def test_registered_with_metadata(name):
    assert name in list_tasks()
    from kerasllm.data.base import TASKS

    info = TASKS.get(name).info
    assert (info.kind, info.metric, info.num_classes, info.tokenizer, info.max_length) == EXPECTED_INFO[name]
    assert info.name == name and info.notes
    if info.kind == "classification":
        assert len(info.class_names) == info.num_classes


# --- shared real data ---------------------------------------------------------------------------------

def test_sst2_counts(shared_data):
    task = get_task("sst2", data_dir=shared_data)
    assert _sizes(task) == [67349, 872, 1821]
    assert collections.Counter(task.split("train").labels) == {0: 29780, 1: 37569}
    assert collections.Counter(task.split("validation").labels) == {0: 428, 1: 444}
    assert collections.Counter(task.split("test").labels) == {0: 912, 1: 909}
    assert task.split("train").texts[0] == "hide new secretions from the parental units"
    assert task.split("validation").texts[0] == "it 's a charming and often affecting journey ."
    assert "test_labeled.tsv" in task.info.notes


def test_imdb_counts(imdb):
    assert _sizes(imdb) == [22500, 2500, 25000]
    for split in SPLITS:  # balanced, and the validation carve is stratified
        counts = collections.Counter(imdb.split(split).labels)
        assert counts[0] == counts[1]
    train_and_validation = set(imdb.split("train").texts) | set(imdb.split("validation").texts)
    assert 24800 < len(train_and_validation) < 25000  # about 96 texts occur more than once (SOURCE.md)
    assert not any("<br />" in text for text in imdb.split("test").texts)
    assert "10% of train" in imdb.info.notes


def test_imdb_first_review(imdb):
    # train/pos/0_9.txt, the well-known first training review; ids are sorted numerically.
    assert any(text.startswith("Bromwell High is a cartoon comedy.") for text in imdb.split("train").texts
               + imdb.split("validation").texts)


def test_ptb_counts(shared_data):
    task = get_task("ptb", data_dir=shared_data)
    assert _sizes(task) == [42068, 3370, 3761]
    test = task.split("test").texts
    assert test[0] == "no it was n't black monday"
    tokens_with_eos = [sum(len(line.split()) + 1 for line in task.split(split).texts) for split in SPLITS]
    assert tokens_with_eos == [929589, 73760, 82430]
    vocabulary = {word for line in task.split("train").texts for word in line.split()}
    assert len(vocabulary) == 9999 and "<unk>" in vocabulary


def test_tiny_shakespeare_split(shared_data):
    task = get_task("tiny_shakespeare", data_dir=shared_data)
    train, validation, test = (task.split(split).texts for split in SPLITS)
    assert len(train) == len(validation) == 1
    n = 1115394
    assert len(train[0]) == int(n * 0.9) == 1003854
    assert len(validation[0]) == n - int(n * 0.9) == 111540
    assert test == validation
    assert train[0].startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert len(set(train[0] + validation[0])) == 65


# --- fixtures in the standard formats -----------------------------------------------------------------

def test_sst2_without_labelled_test_uses_dev(tmp_path):
    folder = tmp_path / "sst2"
    _write(folder, "train.tsv", "sentence\tlabel\na gem . \t1\na mess . \t0\n\n")
    _write(folder, "dev.tsv", "sentence\tlabel\nit 's `` fine '' . \t1\n")
    task = get_task("sst2", data_dir=tmp_path)
    assert task.split("train").texts == ["a gem .", "a mess ."]
    assert task.split("test") == task.split("validation")
    assert task.split("test").texts == ["it 's `` fine '' ."]  # quote-like tokens kept (no CSV quoting)
    assert "test split is dev.tsv" in task.info.notes


def _imdb_reviews():
    reviews = {}
    for split in ("train", "test"):
        for polarity in ("pos", "neg"):
            for i in range(10):
                reviews[f"aclImdb/{split}/{polarity}/{i}_{7 if polarity == 'pos' else 2}.txt"] = (
                    f"{split} {polarity} review {i}.<br /><br />Second line."
                )
    reviews["aclImdb/train/unsup/0_0.txt"] = "unlabelled, must be ignored"
    return reviews


def test_imdb_folder_and_archive_give_the_same_splits(tmp_path):
    reviews = _imdb_reviews()
    for name, text in reviews.items():
        _write(tmp_path / "folder" / "imdb", name, text)
    archive_folder = tmp_path / "archive" / "imdb"
    archive_folder.mkdir(parents=True)
    with tarfile.open(archive_folder / "aclImdb_v1.tar.gz", "w:gz") as bundle:
        for name, text in sorted(reviews.items(), reverse=True):  # order must not matter
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size = len(data)
            bundle.addfile(member, io.BytesIO(data))
    from_folder = get_task("imdb", data_dir=tmp_path / "folder", seed=3)
    from_archive = get_task("imdb", data_dir=tmp_path / "archive", seed=3)
    for split in SPLITS:
        assert from_folder.split(split) == from_archive.split(split)
    assert _sizes(from_folder) == [18, 2, 20]
    assert from_folder.split("test").texts[0] == "test neg review 0.  Second line."
    assert from_folder.split("test").labels == [0] * 10 + [1] * 10
    assert collections.Counter(from_folder.split("validation").labels) == {0: 1, 1: 1}
    assert all("unlabelled" not in text for split in SPLITS for text in from_folder.split(split).texts)
    assert "aclImdb/ folder" in from_folder.info.notes and "aclImdb_v1.tar.gz" in from_archive.info.notes
    other_seed = get_task("imdb", data_dir=tmp_path / "folder", seed=4)
    assert other_seed.split("validation") != from_folder.split("validation")
    assert sorted(other_seed.split("train").texts + other_seed.split("validation").texts) == sorted(
        from_folder.split("train").texts + from_folder.split("validation").texts
    )


AG_ROWS = (
    '"3","Wall St. Bears Claw Back Into the Black (Reuters)","Reuters - Short-sellers, Wall Street\'s '
    'dwindling\\band of ultra-cynics, are seeing green again."\n'
    '"2","Title with ""quotes""","Line one\\nline two"\n'
    '"1","World title","World, news"\n'
    '"4","Tech","A multi-line\ndescription inside quotes"\n'
)


def test_ag_news_csv(tmp_path):
    folder = tmp_path / "ag_news"
    _write(folder, "train.csv", AG_ROWS * 10)
    _write(folder, "test.csv", AG_ROWS)
    task = get_task("ag_news", data_dir=tmp_path)
    assert _sizes(task) == [36, 4, 4]
    test = task.split("test")
    assert test.labels == [2, 1, 0, 3]
    assert test.texts[0].startswith("Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers")
    assert test.texts[1] == 'Title with "quotes" Line one line two'
    assert test.texts[3] == "Tech A multi-line description inside quotes"
    assert collections.Counter(task.split("validation").labels) == {0: 1, 1: 1, 2: 1, 3: 1}
    assert task.info.class_names == ("World", "Sports", "Business", "Sci/Tech")
    assert isinstance(task, AGNews)


def test_wikitext2_documents(tmp_path):
    folder = tmp_path / "wikitext2"
    text = (" \n = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 : <unk> Chronicles . \n \n"
            " = = Gameplay = = \n")
    for name in ("wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"):
        _write(folder, name, text)
    task = get_task("wikitext2", data_dir=tmp_path)
    assert task.split("validation").texts == [
        "= Valkyria Chronicles III =",
        "Senjō no Valkyria 3 : <unk> Chronicles .",
        "= = Gameplay = =",
    ]
    assert task.info.tokenizer_options == {"split": "whitespace", "lowercase": False}


# --- errors -------------------------------------------------------------------------------------------

MISSING = {
    "sst2": ["train.tsv", "dev.tsv"],
    "imdb": ["aclImdb_v1.tar.gz"],
    "ag_news": ["train.csv", "test.csv"],
    "tiny_shakespeare": ["input.txt"],
    "ptb": ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"],
    "wikitext2": ["wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"],
}


@pytest.mark.parametrize("name", REAL)
def test_missing_data_names_files_folder_and_flag(tmp_path, name):
    with pytest.raises(DataError) as caught:
        get_task(name, data_dir=tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{name}: expected ")
    assert all(expected in message for expected in MISSING[name])
    assert str(tmp_path / name) in message and f"--data-dir {tmp_path}" in message
    assert "run without --data-dir to download it" in message


def test_missing_only_some_files(tmp_path):
    _write(tmp_path / "sst2", "train.tsv", "sentence\tlabel\na\t1\n")
    with pytest.raises(DataError, match=r"sst2: expected dev.tsv in"):
        get_task("sst2", data_dir=tmp_path)


@pytest.mark.parametrize(
    "content, match",
    [
        ("sentence\tlabel\ngood\t1\nbad\t0\textra\n", r"train.tsv line 3: expected 2 tab-separated .* found 3"),
        ("sentence\tlabel\ngood\t1\nno label here\n", r"train.tsv line 3: expected 2 tab-separated .* found 1"),
        ("sentence\tlabel\ngood\t1\n\nbad\tnegative\n", r"train.tsv line 4: label 'negative' is not an integer"),
        ("sentence\tlabel\ngood\t2\n", r"train.tsv line 2: label '2' is not an integer in 0..1"),
        ("index\tsentence\n0\tgood\n", r"train.tsv line 1: expected the header 'sentence<TAB>label'"),
        ("sentence\tlabel\n", r"has a header but no rows"),
        ("", r"train.tsv is empty"),
    ],
)
def test_sst2_malformed(tmp_path, content, match):
    _write(tmp_path / "sst2", "train.tsv", content)
    _write(tmp_path / "sst2", "dev.tsv", "sentence\tlabel\nfine\t1\n")
    with pytest.raises(DataError, match=match):
        get_task("sst2", data_dir=tmp_path).split("train")


@pytest.mark.parametrize(
    "content, match",
    [
        ('"1","a","b"\n"2","only two"\n', r"train.csv line 2: expected 3 comma-separated fields .* found 2"),
        ('"1","a","b"\n"5","t","d"\n', r"train.csv line 2: label '5' is not an integer in 1..4"),
        ('"1","a","b"\n"x","t","d"\n', r"train.csv line 2: label 'x' is not an integer in 1..4"),
        ('"1","a","b"\n"2","unterminated,"d\n', r"train.csv line \d+: "),
        ("\n\n", r"train.csv is empty"),
    ],
)
def test_ag_news_malformed(tmp_path, content, match):
    _write(tmp_path / "ag_news", "train.csv", content)
    _write(tmp_path / "ag_news", "test.csv", '"1","a","b"\n')
    with pytest.raises(DataError, match=match):
        get_task("ag_news", data_dir=tmp_path).split("train")


def test_undecodable_bytes_name_the_file(tmp_path):
    _write(tmp_path / "ptb", "ptb.train.txt", b" a b \n \xff\xfe broken \n")
    _write(tmp_path / "ptb", "ptb.valid.txt", " a \n")
    _write(tmp_path / "ptb", "ptb.test.txt", " a \n")
    expected = r"ptb: .*ptb.train.txt is not valid UTF-8 \(byte 0xff at offset 7, line 2\)"
    with pytest.raises(DataError, match=expected):
        get_task("ptb", data_dir=tmp_path).split("test")


def test_imdb_undecodable_review(tmp_path):
    for name, text in _imdb_reviews().items():
        _write(tmp_path / "imdb", name, text)
    _write(tmp_path / "imdb", "aclImdb/test/pos/3_7.txt", b"caf\xe9")
    with pytest.raises(DataError, match=r"imdb: .*aclImdb/test/pos/3_7.txt is not valid UTF-8"):
        get_task("imdb", data_dir=tmp_path).split("test")


def test_imdb_empty_group_and_broken_archive(tmp_path):
    for name, text in _imdb_reviews().items():
        if "/test/neg/" not in name:
            _write(tmp_path / "a" / "imdb", name, text)
    (tmp_path / "a" / "imdb" / "aclImdb" / "test" / "neg").mkdir()
    with pytest.raises(DataError, match=r"no reviews in aclImdb/test/neg/"):
        get_task("imdb", data_dir=tmp_path / "a").split("train")
    _write(tmp_path / "b" / "imdb", "aclImdb_v1.tar.gz", b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match=r"imdb: cannot read .*aclImdb_v1.tar.gz"):
        get_task("imdb", data_dir=tmp_path / "b").split("train")


@pytest.mark.parametrize(
    "name, files",
    [
        ("tiny_shakespeare", ["input.txt"]),
        ("wikitext2", ["wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"]),
    ],
)
def test_empty_corpus_file(tmp_path, name, files):
    for file in files:
        _write(tmp_path / name, file, " \n \n")
    with pytest.raises(DataError, match=rf"{name}: .*{files[0]} is empty"):
        get_task(name, data_dir=tmp_path).split("train")
