"""Downloads: sha256 checks, one re-fetch of a corrupted file, offline errors, archives, and tasks
that download when no data_dir is given. Every test is offline: a fake server stands in for urllib."""

import hashlib
import io
import re
import tarfile
import urllib.error
import zipfile

import pytest

from kerasllm.data import download, get_task
from kerasllm.data.base import TASKS
from kerasllm.data.datasets import SST2
from kerasllm.data.download import RemoteFile, default_cache_dir, extract, fetch, fetch_all, sha256_of
from kerasllm.errors import DataError

GOOD = b"the published file\n"
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
REAL = ("sst2", "imdb", "ag_news", "tiny_shakespeare", "ptb", "wikitext2")


class FakeServer:
    """Serves `responses` (bytes, or an exception to raise) in turn, remembering each URL asked for."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.urls = []

    def __call__(self, request, timeout=None):
        self.urls.append(request.full_url)
        response = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(response, Exception):
            raise response
        return io.BytesIO(response)


def _leftovers(folder):
    return [path.name for path in folder.iterdir() if path.name.endswith(".part")]


# --- fetch ----------------------------------------------------------------------------------------------

def test_fetch_downloads_verifies_and_caches(tmp_path):
    remote = RemoteFile("https://example.org/data.txt", GOOD_SHA, "data.txt")
    server = FakeServer(GOOD)
    path = fetch(remote, tmp_path / "cache", opener=server)
    assert path == tmp_path / "cache" / "data.txt" and path.read_bytes() == GOOD
    assert fetch(remote, tmp_path / "cache", opener=server) == path
    assert server.urls == ["https://example.org/data.txt"]  # the second call used the cache
    assert _leftovers(path.parent) == []


def test_sha256_mismatch_refetches_once_then_errors(tmp_path):
    remote = RemoteFile("https://example.org/data.txt", GOOD_SHA, "data.txt")
    server = FakeServer(b"tampered")
    with pytest.raises(DataError) as caught:
        fetch(remote, tmp_path, task_name="demo", opener=server)
    assert len(server.urls) == 2
    message = str(caught.value)
    assert hashlib.sha256(b"tampered").hexdigest() in message and GOOD_SHA in message
    assert "--data-dir" in message and message.startswith("demo: ")
    assert list(tmp_path.iterdir()) == []  # nothing kept, no half-written file


def test_bad_first_download_is_fetched_again(tmp_path):
    remote = RemoteFile("https://example.org/data.txt", GOOD_SHA, "data.txt")
    server = FakeServer(b"truncat", GOOD)
    assert fetch(remote, tmp_path, opener=server).read_bytes() == GOOD
    assert len(server.urls) == 2


def test_corrupted_cached_file_is_fetched_again_once(tmp_path):
    remote = RemoteFile("https://example.org/data.txt", GOOD_SHA, "data.txt")
    (tmp_path / "data.txt").write_bytes(b"corrupted on disk")
    server = FakeServer(GOOD)
    assert fetch(remote, tmp_path, opener=server).read_bytes() == GOOD
    assert len(server.urls) == 1

    (tmp_path / "data.txt").write_bytes(b"corrupted again")
    server = FakeServer(b"still wrong", GOOD)
    with pytest.raises(DataError, match="sha256"):
        fetch(remote, tmp_path, opener=server)
    assert len(server.urls) == 1  # the corrupted cache counted as the first bad copy
    assert not (tmp_path / "data.txt").exists() and _leftovers(tmp_path) == []


def test_offline_error_says_to_pass_data_dir(tmp_path):
    remote = RemoteFile("https://example.org/data.txt", GOOD_SHA, "data.txt")
    server = FakeServer(urllib.error.URLError("Name or service not known"))
    with pytest.raises(DataError) as caught:
        fetch(remote, tmp_path, task_name="demo", opener=server)
    message = str(caught.value)
    assert "could not download data.txt" in message and "Name or service not known" in message
    assert "offline" in message and "--data-dir DIR" in message and "DIR/demo/" in message
    assert _leftovers(tmp_path) == []


def test_mirrors_are_tried_in_order(tmp_path):
    urls = ("https://down.example.org/a.txt", "https://mirror.example.org/a.txt")
    remote = RemoteFile(urls, GOOD_SHA, "a.txt")
    server = FakeServer(urllib.error.HTTPError(urls[0], 403, "Forbidden", {}, None), GOOD)
    assert fetch(remote, tmp_path, opener=server).read_bytes() == GOOD
    assert server.urls == list(remote.urls)


def test_failed_transfer_leaves_no_partial_file(tmp_path):
    class Broken(io.RawIOBase):
        def readinto(self, buffer):
            raise ConnectionResetError("connection reset")

    remote = RemoteFile("https://example.org/data.txt", GOOD_SHA, "data.txt")
    with pytest.raises(DataError, match="connection reset"):
        fetch(remote, tmp_path, opener=lambda request, timeout: Broken())
    assert list(tmp_path.iterdir()) == []


def test_default_opener_is_the_module_urlopen(tmp_path, monkeypatch):
    server = FakeServer(GOOD)
    monkeypatch.setattr(download, "urlopen", server)
    fetch(RemoteFile("https://example.org/x.txt", GOOD_SHA, "x.txt"), tmp_path)
    assert server.urls == ["https://example.org/x.txt"]


def test_default_cache_dir():
    folder = default_cache_dir("ptb")
    assert folder.parts[-4:] == (".cache", "kerasllm", "datasets", "ptb")


# --- archives -------------------------------------------------------------------------------------------

def _zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def _tar_bytes(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("pack, filename", [(_zip_bytes, "bundle.zip"), (_tar_bytes, "bundle.tar.gz")])
def test_fetch_all_unpacks_selected_members_once(tmp_path, pack, filename):
    archive = pack({"inner/train.txt": b"train", "inner/test.txt": b"test", "inner/README": b"skip"})
    remote = RemoteFile(
        "https://example.org/" + filename,
        hashlib.sha256(archive).hexdigest(),
        filename,
        extract={"inner/train.txt": "train.txt", "inner/test.txt": "sub/test.txt"}.get,
    )
    server = FakeServer(archive)
    folder = fetch_all("demo", [remote], tmp_path, opener=server)
    assert (folder / "train.txt").read_bytes() == b"train"
    assert (folder / "sub" / "test.txt").read_bytes() == b"test"
    assert not (folder / "README").exists()
    (folder / "train.txt").write_bytes(b"edited")  # a second call neither downloads nor unpacks again
    fetch_all("demo", [remote], tmp_path, opener=server)
    assert (folder / "train.txt").read_bytes() == b"edited" and len(server.urls) == 1


def test_extract_refuses_paths_outside_the_folder(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip_bytes({"a.txt": b"x"}))
    with pytest.raises(DataError, match="outside"):
        extract(archive, tmp_path / "out", lambda name: "../escaped.txt")
    assert not (tmp_path / "escaped.txt").exists()


def test_extract_errors(tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08 not an archive")
    with pytest.raises(DataError, match="cannot unpack"):
        extract(broken, tmp_path / "out", lambda name: name)
    empty = tmp_path / "empty.zip"
    empty.write_bytes(_zip_bytes({"other.txt": b"x"}))
    with pytest.raises(DataError, match="none of the expected files"):
        extract(empty, tmp_path / "out", lambda name: None)


# --- the tasks' published files -------------------------------------------------------------------------

@pytest.mark.parametrize("name", REAL)
def test_every_remote_has_a_real_sha256(name):
    remotes = TASKS.get(name).remotes
    assert remotes
    for remote in remotes:
        assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
        assert all(re.match(r"https?://[\w.-]+/", url) for url in remote.urls)


def test_pinned_checksums_match_the_shared_files(shared_data):
    """The raw files pinned for tiny_shakespeare and ptb are byte-identical to the shared copies."""
    for name in ("tiny_shakespeare", "ptb"):
        for remote in TASKS.get(name).remotes:
            assert sha256_of(shared_data / name / remote.filename) == remote.sha256


def test_task_downloads_into_cache_when_no_data_dir(tmp_path, monkeypatch, shared_data):
    text = (shared_data / "tiny_shakespeare" / "input.txt").read_bytes()
    server = FakeServer(text)
    monkeypatch.setattr(download, "urlopen", server)
    task = get_task("tiny_shakespeare", cache_dir=tmp_path / "cache")
    assert [len(task.split(split).texts[0]) for split in ("train", "validation")] == [1003854, 111540]
    assert server.urls == [TASKS.get("tiny_shakespeare").remotes[0].url]
    assert server.urls[0].startswith("https://raw.githubusercontent.com/karpathy/char-rnn/")
    get_task("tiny_shakespeare", cache_dir=tmp_path / "cache")  # cached: no second download
    assert len(server.urls) == 1


@pytest.mark.parametrize("name", REAL)
def test_task_offline_without_data_dir(tmp_path, name):
    # conftest makes every download fail as it would offline.
    with pytest.raises(DataError, match=rf"^{name}: could not download .*offline.*--data-dir DIR"):
        get_task(name, cache_dir=tmp_path)


def test_task_with_corrupted_download_reports_sha256(tmp_path, monkeypatch):
    server = FakeServer(b"<html>rate limited</html>")
    monkeypatch.setattr(download, "urlopen", server)
    with pytest.raises(DataError, match=r"^ptb: the file downloaded from .*ptb.train.txt has sha256"):
        get_task("ptb", cache_dir=tmp_path)
    assert len(server.urls) == 2


def test_sst2_archive_is_unpacked_to_the_standard_layout(tmp_path, monkeypatch):
    archive = _zip_bytes({
        "SST-2/train.tsv": b"sentence\tlabel\na gem \t1\na mess \t0\n",
        "SST-2/dev.tsv": b"sentence\tlabel\nfine \t1\n",
        "SST-2/test.tsv": b"index\tsentence\n0\tunlabelled\n",
        "SST-2/original/README.txt": b"not needed",
    })
    fixture = RemoteFile(SST2.remotes[0].url, hashlib.sha256(archive).hexdigest(), "SST-2.zip",
                         extract=SST2.remotes[0].extract)
    monkeypatch.setattr(SST2, "remotes", (fixture,))
    monkeypatch.setattr(download, "urlopen", FakeServer(archive))
    task = get_task("sst2", cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.tsv")) == ["dev.tsv", "test.tsv", "train.tsv"]
    assert task.split("train").labels == [1, 0]
    assert task.split("test").texts == ["fine"]  # GLUE's test.tsv has no labels: test = dev
    assert "test split is dev.tsv" in task.info.notes


def test_mirror_with_a_bad_copy_is_followed_by_the_next(tmp_path):
    remote = RemoteFile(("https://one.example.org/a.txt", "https://two.example.org/a.txt"), GOOD_SHA, "a.txt")
    server = FakeServer(b"stale copy", GOOD)
    assert fetch(remote, tmp_path, opener=server).read_bytes() == GOOD
    assert server.urls == list(remote.urls)


def test_imdb_archive_is_unpacked_with_its_unlabelled_reviews(tmp_path, monkeypatch):
    from kerasllm.data.datasets import IMDB

    members = {f"aclImdb/{split}/{polarity}/{i}_{8 if polarity == 'pos' else 3}.txt": f"{polarity} {i}".encode()
               for split in ("train", "test") for polarity in ("pos", "neg") for i in range(10)}
    members["aclImdb/train/unsup/0_0.txt"] = b"unlabelled"
    members["aclImdb/imdb.vocab"] = b"the\nand\n"
    archive = _tar_bytes(members)
    fixture = RemoteFile(IMDB.remotes[0].url, hashlib.sha256(archive).hexdigest(), "aclImdb_v1.tar.gz",
                         extract=IMDB.remotes[0].extract)
    monkeypatch.setattr(IMDB, "remotes", (fixture,))
    monkeypatch.setattr(download, "urlopen", FakeServer(archive))
    task = get_task("imdb", cache_dir=tmp_path)
    assert sorted(path.name for path in (tmp_path / "aclImdb").iterdir()) == ["test", "train"]
    assert sorted(path.name for path in (tmp_path / "aclImdb" / "train").iterdir()) == ["neg", "pos", "unsup"]
    assert [len(task.split(split)) for split in ("train", "validation", "test")] == [18, 2, 20]
    assert task.unlabelled_texts() == ["unlabelled"]  # train/unsup, for --objective lm / mlm
    assert "aclImdb/ folder" in task.info.notes
