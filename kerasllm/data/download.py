"""Downloads dataset files into a cache folder, checks their sha256 and unpacks archives.

Only the standard library is used (urllib, hashlib, zipfile, tarfile). Every remote file carries the
sha256 of the published file; a file is written to a temporary name first and moved into place with
`os.replace`, so a cache folder never holds a half-written file under its real name. A cached copy
whose checksum is wrong is fetched again once; if the fresh copy is wrong too, a `DataError` says so.

Example:
>>> import hashlib, io, pathlib, tempfile
>>> from kerasllm.data.download import RemoteFile, fetch
>>> payload = b"hello world\\n"
>>> remote = RemoteFile("https://example.org/hello.txt", hashlib.sha256(payload).hexdigest(), "hello.txt")
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> fetch(remote, folder, opener=lambda request, timeout: io.BytesIO(payload)).read_bytes()
b'hello world\\n'
"""

import dataclasses
import hashlib
import http.client
import logging
import os
import pathlib
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from typing import Callable, Optional

from kerasllm.errors import DataError

logger = logging.getLogger(__name__)

# Looked up at call time, so tests can replace it (`monkeypatch.setattr(download, "urlopen", fake)`).
urlopen = urllib.request.urlopen

_CHUNK = 1 << 20
_TIMEOUT_S = 60
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError)


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One published file: where to get it, its sha256, and how to unpack it.

    Args:
        url: the address, or a tuple of mirror addresses tried in order.
        sha256: hex sha256 of the published file (from a public checksum list).
        filename: name of the file in the cache folder.
        extract: for archives, a function mapping an archive member name to the path (relative to the
            cache folder) it is written to, or None to skip that member. Defaults to None (not an
            archive).

    Example:
    >>> RemoteFile("https://example.org/a.zip", "0" * 64, "a.zip", extract=lambda name: name).urls
    ('https://example.org/a.zip',)
    """

    url: object
    sha256: str
    filename: str
    extract: Optional[Callable[[str], Optional[str]]] = None

    @property
    def urls(self):
        return (self.url,) if isinstance(self.url, str) else tuple(self.url)


def default_cache_dir(task_name):
    """`~/.cache/kerasllm/datasets/<task_name>`: where downloads go when no cache_dir is given."""
    return pathlib.Path.home() / ".cache" / "kerasllm" / "datasets" / task_name


def sha256_of(path):
    """Hex sha256 of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _temporary_beside(target):
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    return os.fdopen(fd, "wb"), pathlib.Path(name)


def _download(url, target, opener):
    """Streams `url` into a temporary file beside `target`; returns the temporary path."""
    request = urllib.request.Request(url, headers={"User-Agent": "kerasllm (dataset download)"})
    stream, part = _temporary_beside(target)
    try:
        with stream, opener(request, timeout=_TIMEOUT_S) as response:
            shutil.copyfileobj(response, stream, _CHUNK)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return part


def fetch(remote, folder, task_name="dataset", opener=None):
    """Returns the path of `remote` in `folder`, downloading it if it is missing or corrupted.

    Args:
        remote: a `RemoteFile`.
        folder: the cache folder (created if needed).
        task_name: used in error messages.
        opener: a function like `urllib.request.urlopen(request, timeout=...)`; defaults to urllib's.

    Raises:
        DataError: the file cannot be downloaded (offline, server error), or its sha256 is still wrong
            after one fresh download.
    """
    opener = opener or urlopen
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / remote.filename
    bad_copies = 0
    if target.exists():
        if sha256_of(target) == remote.sha256:
            return target
        logger.warning("%s: cached %s has the wrong sha256; downloading it again.", task_name, target)
        target.unlink()
        bad_copies = 1
    network_failures = []
    candidates = list(remote.urls)  # a mirror that fails on the network is not tried again
    last_mismatch = None
    turn = 0
    while bad_copies < 2 and candidates:
        url = candidates[turn % len(candidates)]
        logger.info("%s: downloading %s", task_name, url)
        try:
            part = _download(url, target, opener)
        except _NETWORK_ERRORS as error:
            network_failures.append(f"{url} ({getattr(error, 'reason', None) or error})")
            candidates.remove(url)
            continue
        actual = sha256_of(part)
        if actual == remote.sha256:
            os.replace(part, target)
            return target
        part.unlink()
        bad_copies += 1
        last_mismatch = (url, actual)
        turn += 1
    if bad_copies >= 2:
        url, actual = last_mismatch
        raise DataError(
            f"{task_name}: the file downloaded from {url} has sha256 {actual}, expected {remote.sha256}, "
            f"and a fresh download did not fix it, so it was not kept. The server may have changed the "
            f"file: download the dataset yourself and pass --data-dir DIR (the folder that holds "
            f"'{task_name}/')."
        )
    earlier = f" (a copy from {last_mismatch[0]} had the wrong sha256)" if last_mismatch else ""
    raise DataError(
        f"{task_name}: could not download {remote.filename}: {'; '.join(network_failures)}{earlier}. If you "
        f"are offline, copy the dataset into DIR/{task_name}/ yourself and pass --data-dir DIR."
    )


def _write_member(source, destination):
    destination.parent.mkdir(parents=True, exist_ok=True)
    stream, part = _temporary_beside(destination)
    try:
        with stream:
            shutil.copyfileobj(source, stream, _CHUNK)
        os.replace(part, destination)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _safe_destination(folder, relative):
    destination = (folder / relative).resolve()
    if folder.resolve() not in destination.parents:
        raise DataError(f"Archive member would be written outside {folder}: '{relative}'.")
    return destination


def extract(archive, folder, select, task_name="dataset"):
    """Writes the members of a .zip or .tar(.gz) `archive` chosen by `select` into `folder`.

    Args:
        archive: path of the archive.
        folder: where the members go.
        select: maps a member name to a path relative to `folder`, or None to skip the member.
        task_name: used in error messages.

    Returns:
        The number of files written.
    """
    archive, folder = pathlib.Path(archive), pathlib.Path(folder)
    written = 0
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                for info in bundle.infolist():
                    relative = None if info.is_dir() else select(info.filename)
                    if relative is not None:
                        with bundle.open(info) as source:
                            _write_member(source, _safe_destination(folder, relative))
                        written += 1
        else:
            with tarfile.open(archive, "r:*") as bundle:
                for member in bundle:
                    relative = select(member.name) if member.isfile() else None
                    if relative is not None:
                        with bundle.extractfile(member) as source:
                            _write_member(source, _safe_destination(folder, relative))
                        written += 1
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        raise DataError(
            f"{task_name}: cannot unpack {archive} ({error}). Delete it and run again to re-download."
        ) from error
    if written == 0:
        raise DataError(f"{task_name}: {archive} holds none of the expected files. Delete it and run again.")
    return written


def fetch_all(task_name, remotes, folder, opener=None):
    """Fetches (and unpacks) every `RemoteFile` of a task into `folder`; returns `folder`.

    An archive is unpacked once: a marker file `.<archive>.unpacked` holding the archive's sha256
    records that its members are in place.
    """
    folder = pathlib.Path(folder)
    for remote in remotes:
        path = fetch(remote, folder, task_name=task_name, opener=opener)
        if remote.extract is None:
            continue
        marker = folder / f".{remote.filename}.unpacked"
        if marker.exists() and marker.read_text().strip() == remote.sha256:
            continue
        count = extract(path, folder, remote.extract, task_name=task_name)
        logger.info("%s: unpacked %d files from %s", task_name, count, path.name)
        marker.write_text(remote.sha256 + "\n")
    return folder
