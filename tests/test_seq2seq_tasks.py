"""Seq2seq dataset loaders: multi30k and scitldr on the shared real data, pairs (the user's own files) on small
fixtures, and every bad-input error with its one-line message (and exit code 2 on the CLI)."""

import gzip
import io
import json

import pytest

from kerasllm.cli import main
from kerasllm.data import download, get_task, list_tasks
from kerasllm.data.base import TASKS
from kerasllm.data.datasets import Multi30k, Pairs, SciTLDR
from kerasllm.data.datasets.multi30k import EXTRA_TEST_SETS
from kerasllm.data.download import sha256_of
from kerasllm.errors import ConfigError, DataError

SPLITS = ("train", "validation", "test")


def _write(folder, name, content):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _sizes(task, splits=SPLITS):
    return [len(task.split(split)) for split in splits]


def _cli_error(argv, capsys):
    """Runs the CLI; asserts exit code 2 and exactly one stderr line, which it returns."""
    # TensorFlow imported first, as in tests/test_bad_input_catalogue.py: the CLI's quiet first import of it
    # re-enables pytest's faulthandler on sys.stderr, which capsys has replaced by an object without a fileno.
    import tensorflow  # noqa: F401

    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


class FakeServer:
    """Serves the shared files by the last part of the URL asked for, remembering the URLs."""

    def __init__(self, folder):
        self.folder, self.urls = folder, []

    def __call__(self, request, timeout=None):
        self.urls.append(request.full_url)
        return io.BytesIO((self.folder / request.full_url.rsplit("/", 1)[1]).read_bytes())


# --- metadata -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, metric, max_length", [("multi30k", "bleu", 40), ("scitldr", "rouge1", 400),
                                                      ("pairs", "bleu", 128)])
def test_registered_with_metadata(name, metric, max_length):
    assert name in list_tasks()
    info = TASKS.get(name).info
    assert (info.name, info.kind, info.metric, info.max_length) == (name, "seq2seq", metric, max_length)
    assert (info.tokenizer, info.tokenizer_options) == ("bpe", {"vocabulary_size": 8000})
    assert info.seq2seq_form == "encoder_decoder" and info.notes


def test_remotes_are_pinned_to_the_shared_files(shared_data):
    multi30k = Multi30k.remotes
    assert len(multi30k) == 12  # en-de: train, val, test_2016_flickr and the three extra test sets
    for remote in multi30k:
        assert remote.urls[0].startswith("https://raw.githubusercontent.com/multi30k/dataset/a3d2e0d")
        assert sha256_of(shared_data / "multi30k" / remote.filename) == remote.sha256
    for remote in SciTLDR.remotes:
        assert remote.urls[0].startswith("https://raw.githubusercontent.com/allenai/scitldr/5ccad9c")
        assert sha256_of(shared_data / "scitldr" / "SciTLDR-A" / remote.filename) == remote.sha256


# --- multi30k -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def en_de(shared_data):
    return get_task("multi30k", data_dir=shared_data)


def test_multi30k_en_de_counts(en_de):
    assert _sizes(en_de) == [29000, 1014, 1000]
    assert en_de.info.extra_test_splits == EXTRA_TEST_SETS
    assert _sizes(en_de, EXTRA_TEST_SETS) == [1000, 461, 1071]
    train = en_de.split("train")
    assert train.texts[0] == "Two young, White males are outside near many bushes."
    assert train.targets[0] == "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche."
    assert train.references is None and train.all_references()[0] == [train.targets[0]]
    assert en_de.train_texts()[29000] == train.targets[0]  # the tokenizer is fitted on both sides


def test_multi30k_keeps_lines_exactly(en_de, shared_data):
    raw = gzip.decompress((shared_data / "multi30k" / "val.de.gz").read_bytes()).decode("utf-8")
    assert en_de.split("validation").targets == raw.split("\n")[:-1]


def test_multi30k_other_pairs_and_their_extra_test_sets(shared_data, en_de):
    de_en = get_task("multi30k", data_dir=shared_data, src="de", tgt="en")
    assert de_en.split("test").texts == en_de.split("test").targets
    en_cs = get_task("multi30k", data_dir=shared_data, src="en", tgt="cs")
    assert en_cs.info.extra_test_splits == ("test_2018_flickr",) and len(en_cs.split("test_2018_flickr")) == 1071
    assert "en->cs" in en_cs.info.notes and "test_2017" not in en_cs.info.notes
    with pytest.raises(ConfigError, match=r"Unknown split 'test_2017_flickr'. Use one of: .*test_2018_flickr"):
        en_cs.split("test_2017_flickr")
    assert Multi30k.info.extra_test_splits == EXTRA_TEST_SETS  # the class keeps the default pair's


def _multi30k_folder(root, stems=("train", "val", "test_2016_flickr"), langs=("en", "de"), gz=False):
    for stem in stems:
        for lang in langs:
            text = f"{stem} {lang} one\n{stem} {lang} two\n"
            if gz:
                _write(root / "multi30k", f"{stem}.{lang}.gz", gzip.compress(text.encode()))
            else:
                _write(root / "multi30k", f"{stem}.{lang}", text)
    return root


def test_multi30k_plain_and_gzipped_files_read_alike(tmp_path):
    plain = get_task("multi30k", data_dir=_multi30k_folder(tmp_path / "plain"))
    gzipped = get_task("multi30k", data_dir=_multi30k_folder(tmp_path / "gz", gz=True))
    for split in SPLITS:
        assert plain.split(split) == gzipped.split(split)
    assert plain.split("validation").texts == ["val en one", "val en two"]
    assert plain.info.extra_test_splits == () and "no extra test sets" in plain.info.notes


def test_multi30k_extra_test_set_needs_both_languages(tmp_path):
    root = _multi30k_folder(tmp_path)
    _write(root / "multi30k", "test_2017_flickr.en", "a\n")  # no German file
    _write(root / "multi30k", "test_2018_flickr.en", "a\r\nb\r\n")
    _write(root / "multi30k", "test_2018_flickr.de.gz", gzip.compress(b"x \ny\n"))
    task = get_task("multi30k", data_dir=root)
    assert task.info.extra_test_splits == ("test_2018_flickr",)
    assert task.split("test_2018_flickr").texts == ["a", "b"] and task.split("test_2018_flickr").targets == ["x ", "y"]


def test_multi30k_line_counts_must_match(tmp_path):
    root = _multi30k_folder(tmp_path)
    _write(root / "multi30k", "val.de", "eins\nzwei\ndrei\n")
    task = get_task("multi30k", data_dir=root)
    assert len(task.split("train")) == 2
    with pytest.raises(DataError, match=r"^multi30k: val.en has 2 lines but val.de has 3; .*line-aligned"):
        task.split("validation")


@pytest.mark.parametrize("options, match", [
    ({"src": "xx"}, r"^multi30k: src='xx' is not a Multi30k language. Use one of: en, de, fr, cs.$"),
    ({"tgt": "EN"}, r"tgt='EN' is not a Multi30k language. Use one of: en, de, fr, cs"),
    ({"src": "de", "tgt": "de"}, r"src and tgt are both 'de'. Pick two different languages of: en, de, fr, cs"),
])
def test_multi30k_bad_languages(tmp_path, options, match):
    with pytest.raises(ConfigError, match=match):
        get_task("multi30k", data_dir=tmp_path, **options)


def test_multi30k_missing_and_broken_files(tmp_path):
    with pytest.raises(DataError, match=r"^multi30k: expected train.en\[.gz\], train.de\[.gz\], .*test_2016_flickr"
                                        r".de\[.gz\] in .*--data-dir"):
        get_task("multi30k", data_dir=tmp_path)
    root = _multi30k_folder(tmp_path / "b", gz=True)
    _write(root / "multi30k", "train.de.gz", b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match=r"^multi30k: cannot decompress .*train.de.gz .*Download the file again"):
        get_task("multi30k", data_dir=root).split("train")


def test_multi30k_downloads_the_pair_into_the_cache(tmp_path, monkeypatch, shared_data):
    server = FakeServer(shared_data / "multi30k")
    monkeypatch.setattr(download, "urlopen", server)
    task = get_task("multi30k", cache_dir=tmp_path, src="fr", tgt="en")
    assert len(server.urls) == 12 and all("/a3d2e0d" in url for url in server.urls)
    assert _sizes(task) == [29000, 1014, 1000] and task.info.extra_test_splits == EXTRA_TEST_SETS


def test_multi30k_offline_without_data_dir(tmp_path):
    with pytest.raises(DataError, match=r"^multi30k: could not download train.en.gz: .*--data-dir DIR"):
        get_task("multi30k", cache_dir=tmp_path)


# --- scitldr ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scitldr(shared_data):
    return get_task("scitldr", data_dir=shared_data)


def test_scitldr_counts_and_references(scitldr, shared_data):
    assert _sizes(scitldr) == [1992, 619, 618]
    counts = {split: [len(refs) for refs in scitldr.split(split).all_references()] for split in SPLITS}
    assert [sum(counts[split]) for split in SPLITS] == [1992, 1453, 1967]
    assert set(counts["train"]) == {1} and (min(counts["validation"]), max(counts["validation"])) == (1, 4)
    assert (min(counts["test"]), max(counts["test"])) == (2, 4)
    for split in SPLITS:
        data = scitldr.split(split)
        assert data.targets == [refs[0] for refs in data.references]
    first = json.loads((shared_data / "scitldr" / "SciTLDR-A" / "dev.jsonl").read_text().split("\n")[0])
    assert scitldr.split("validation").texts[0] == " ".join(s.strip() for s in first["source"])
    assert scitldr.split("validation").references[0] == first["target"]


def test_scitldr_sentences_for_the_lead_baseline(scitldr):
    for split in SPLITS:
        sentences = scitldr.source_sentences(split)
        assert len(sentences) == len(scitldr.split(split)) and all(sentences)
        assert scitldr.first_sentences(split) == [example[0] for example in sentences]
        assert all(text.startswith(lead) for text, lead in zip(scitldr.split(split).texts,
                                                                scitldr.first_sentences(split)))
    assert len(scitldr.source_sentences("train")[1537]) == 19  # train.jsonl line 1538: its blank "sentence" dropped
    with pytest.raises(ConfigError, match="Unknown split 'dev'"):
        scitldr.source_sentences("dev")


RECORD = {"source": ["We study X. ", "X is hard."], "target": ["X is hard."]}


def _scitldr_folder(root, train="", dev="", test=""):
    for name, extra in (("train.jsonl", train), ("dev.jsonl", dev), ("test.jsonl", test)):
        _write(root / "scitldr" / "SciTLDR-A", name, json.dumps(RECORD) + "\n" + extra)
    return root


@pytest.mark.parametrize("extra, match", [
    ('{"source": ["a"], "target": ["b"]\n', r"^scitldr: dev.jsonl line 2: not valid JSON \(.*\)\. Fix or re-download"),
    ("\n\n[1, 2]\n", r"dev.jsonl line 4: expected a field 'source' holding a list of strings"),
    ('{"source": ["a"], "target": "b"}\n', r"dev.jsonl line 2: expected a field 'target' holding a list of strings"),
    ('{"source": [" "], "target": ["b"]}\n', r"dev.jsonl line 2: 'source' has no text"),
])
def test_scitldr_malformed_lines(tmp_path, extra, match):
    task = get_task("scitldr", data_dir=_scitldr_folder(tmp_path, dev=extra))
    with pytest.raises(DataError, match=match):
        task.split("train")


def test_scitldr_missing_files(tmp_path):
    _write(tmp_path / "scitldr", "train.jsonl", json.dumps(RECORD))  # not inside SciTLDR-A/
    with pytest.raises(DataError, match=r"^scitldr: expected SciTLDR-A/train.jsonl, SciTLDR-A/dev.jsonl, "
                                        r"SciTLDR-A/test.jsonl in .*--data-dir"):
        get_task("scitldr", data_dir=tmp_path)


def test_scitldr_downloads_into_the_cache(tmp_path, monkeypatch, shared_data, scitldr):
    server = FakeServer(shared_data / "scitldr" / "SciTLDR-A")
    monkeypatch.setattr(download, "urlopen", server)
    task = get_task("scitldr", cache_dir=tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dev.jsonl", "test.jsonl", "train.jsonl"]
    assert task.split("test") == scitldr.split("test")


# --- pairs --------------------------------------------------------------------------------------------

PAIRS = [(f"source {i} .", f"target {i} !") for i in range(30)]


def _pairs_folder(root, files):
    for name, content in files.items():
        _write(root / "pairs", name, content)
    return root


def _tsv(pairs):
    return "".join(f"{s}\t{t}\n" for s, t in pairs)


def test_pairs_tsv_and_aligned_files_read_alike(tmp_path):
    tsv = get_task("pairs", data_dir=_pairs_folder(tmp_path / "a", {"train.tsv": _tsv(PAIRS)}), seed=3)
    aligned = get_task("pairs", data_dir=_pairs_folder(tmp_path / "b", {
        "train.src": "".join(f"{s}\n" for s, _ in PAIRS), "train.tgt": "".join(f"{t}\n" for _, t in PAIRS)}), seed=3)
    for split in SPLITS:
        assert tsv.split(split) == aligned.split(split)
    assert _sizes(tsv) == [24, 3, 3]
    assert "train.tsv" in tsv.info.notes and "train.src + train.tgt" in aligned.info.notes


def test_pairs_seeded_carve_is_deterministic(tmp_path):
    root = _pairs_folder(tmp_path, {"train.tsv": _tsv(PAIRS)})
    first, again, other = (get_task("pairs", data_dir=root, seed=seed) for seed in (0, 0, 1))
    for split in SPLITS:
        assert first.split(split) == again.split(split)
    assert first.split("validation") != other.split("validation")
    parts = [pair for split in SPLITS for pair in zip(first.split(split).texts, first.split(split).targets)]
    assert sorted(parts) == sorted(PAIRS)  # every example in exactly one split
    assert first.split("train").texts == sorted(first.split("train").texts, key=lambda s: int(s.split()[1]))
    assert "validation = 10% of train" in first.info.notes and "test = 10% of train" in first.info.notes
    assert "seed=0" in first.info.notes
    bigger = get_task("pairs", data_dir=root, validation_fraction=0.2)
    assert _sizes(bigger) == [21, 6, 3]


def test_pairs_given_splits_are_not_carved(tmp_path):
    root = _pairs_folder(tmp_path, {
        "train.tsv": _tsv(PAIRS[:10]) + "\n  \n",  # trailing blank lines are fine
        "validation.src": "v1\r\nv2\r\n", "validation.tgt": " w1 \r\nw2\r\n\r\n",  # a blank line at its end
        "test.tsv": _tsv(PAIRS[10:12]),
    })
    task = get_task("pairs", data_dir=root)
    assert _sizes(task) == [10, 2, 2]
    assert task.split("validation").texts == ["v1", "v2"] and task.split("validation").targets == ["w1", "w2"]
    assert "read from their own files" in task.info.notes
    only_test = get_task("pairs", data_dir=_pairs_folder(tmp_path / "t", {"train.tsv": _tsv(PAIRS),
                                                                         "test.tsv": _tsv(PAIRS[:2])}))
    assert _sizes(only_test) == [27, 3, 2] and "test =" not in only_test.info.notes


@pytest.mark.parametrize("files, match", [
    ({"train.src": "a\nb\nc\n", "train.tgt": "x\ny\n"},
     r"^pairs: train.src has 3 lines but train.tgt has 2; line i of one must be the pair of line i of the other"),
    ({"train.tsv": "a\tx\nno tab here\n"}, r"^pairs: train.tsv:2: no TAB; expected source<TAB>target"),
    ({"train.tsv": "a\tx\tz\n"}, r"^pairs: train.tsv:1: 2 TABs; expected source<TAB>target"),
    ({"train.tsv": "a\tx\n \ty\n"}, r"^pairs: train.tsv:2: empty source. Give every example a non-empty"),
    ({"train.tsv": "a\t  \n"}, r"^pairs: train.tsv:1: empty target."),
    ({"train.src": "a\nb\n", "train.tgt": "x\n\n"}, r"^pairs: train.tgt:2: empty target."),
    ({"train.tsv": _tsv(PAIRS), "test.tsv": " \n"}, r"^pairs: .*test.tsv is empty. Put one example per line"),
    ({"train.tsv": b"a\tx\ncaf\xe9\ty\n"}, r"^pairs: .*train.tsv is not valid UTF-8 \(byte 0xe9 on line 2\)"),
    ({"train.tsv": "a\tx\nb\ty\n"}, r"^pairs: train has 2 examples, too few to carve test and validation from"),
])
def test_pairs_bad_files(tmp_path, files, match):
    with pytest.raises(DataError, match=match):
        get_task("pairs", data_dir=_pairs_folder(tmp_path, files)).split("train")


@pytest.mark.parametrize("files, match", [
    ({}, r"^pairs: no training pairs in .*pairs \(from --data-dir .*\). Put train.tsv \(source<TAB>target per "
         r"line\) or train.src \+ train.tgt"),
    ({"validation.tsv": "a\tb\n"}, r"^pairs: no training pairs in"),
    ({"train.src": "a\n"}, r"^pairs: .*train.src has no partner train.tgt. Add train.tgt"),
    ({"train.tsv": "a\tb\n", "train.src": "a\n", "train.tgt": "b\n"}, r"holds both train.tsv and train.src \+ "
                                                                        r"train.tgt. Keep one form"),
])
def test_pairs_missing_files(tmp_path, files, match):
    (tmp_path / "pairs").mkdir()
    with pytest.raises(DataError, match=match):
        get_task("pairs", data_dir=_pairs_folder(tmp_path, files))


def test_pairs_needs_a_data_dir_and_sane_fractions(tmp_path):
    with pytest.raises(DataError, match=r"^pairs: this task reads your own files and has nothing to download. "
                                        r"Pass --data-dir DIR"):
        get_task("pairs")
    root = _pairs_folder(tmp_path, {"train.tsv": _tsv(PAIRS)})
    with pytest.raises(ConfigError, match=r"validation_fraction must be a number in \(0, 1\), got 1.5"):
        get_task("pairs", data_dir=root, validation_fraction=1.5)
    with pytest.raises(ConfigError, match=r"validation_fraction \+ test_fraction = 1.0 leaves no training data"):
        get_task("pairs", data_dir=root, validation_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConfigError, match=r"Unknown task_options key 'validation_fraktion'"):
        get_task("pairs", data_dir=root, validation_fraktion=0.2)
    assert isinstance(get_task("pairs", data_dir=root), Pairs)


# --- the CLI: one stderr line, exit code 2 ------------------------------------------------------------

@pytest.mark.parametrize("task, options, files, expected", [
    ("pairs", [], {"pairs/train.tsv": "a\tx\nno tab\n"}, "pairs: train.tsv:2: no TAB"),
    ("pairs", [], {"pairs/train.src": "a\nb\n", "pairs/train.tgt": "x\n"}, "train.src has 2 lines but train.tgt has 1"),
    ("pairs", [], {"pairs/train.tsv": "a\t \n"}, "pairs: train.tsv:1: empty target"),
    ("pairs", [], {}, "pairs: no training pairs in"),
    ("multi30k", ["task_options.src=xx"], {}, "src='xx' is not a Multi30k language. Use one of: en, de, fr, cs"),
    ("scitldr", [], {"scitldr/SciTLDR-A/train.jsonl": "{broken\n", "scitldr/SciTLDR-A/dev.jsonl": "{}",
                     "scitldr/SciTLDR-A/test.jsonl": "{}"}, "scitldr: train.jsonl line 1: not valid JSON"),
])
def test_cli_says_it_in_one_line(tmp_path, monkeypatch, capsys, task, options, files, expected):
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        _write(tmp_path / "data", name, content)
    (tmp_path / "data").mkdir(exist_ok=True)
    line = _cli_error(["train", "--task", task, "--arch", "gru", "--data-dir", str(tmp_path / "data"), *options,
                       "--out", str(tmp_path / "run")], capsys)
    assert expected in line
    assert not (tmp_path / "run").exists()
