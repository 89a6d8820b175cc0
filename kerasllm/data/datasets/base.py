"""Shared machinery of the real-dataset loaders: finding the files, downloading, strict reading.

A loader reads `data_dir/<task name>/` with the dataset's standard file names. Without a data_dir it
downloads the published files into a cache folder and checks their sha256 (`kerasllm.data.download`).
Readers are strict: a missing, empty, undecodable or malformed file raises one `DataError` that names
the file (and the line) and says how to fix it.
"""

import dataclasses
import pathlib

import numpy as np

from kerasllm.data import download
from kerasllm.data.base import Split, Task
from kerasllm.errors import DataError


class RealTask(Task):
    """A task read from files on disk, or downloaded into a cache when no data_dir is given.

    Subclasses set `info`, `files` (the standard file names the loader needs), `source` (how to
    name the dataset in messages), `remotes` (the `RemoteFile`s that produce `files` in a cache
    folder) and implement `_read(folder) -> {split name: Split}`, called once.

    Args:
        data_dir: the parent folder; the task reads `data_dir/<name>/`. Defaults to None: download.
        seed: seed of any split carved out of another (e.g. validation from train). Defaults to 0.
        cache_dir: where downloads go when data_dir is None. Defaults to
            `~/.cache/kerasllm/datasets/<name>`.

    Example:
    >>> import kerasllm as kl
    >>> class Lines(RealTask):  # a one-file corpus read from data_dir/lines/lines.txt
    ...     info = kl.data.TaskInfo("lines", "lm", "perplexity")
    ...     files = ("lines.txt",)
    ...     source = "a lines.txt file"
    ...     def _read(self, folder):
    ...         docs = read_text(folder / "lines.txt", self.info.name).splitlines()
    ...         return {name: kl.data.Split(docs) for name in ("train", "validation", "test")}
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "lines").mkdir()
    >>> _ = (root / "lines" / "lines.txt").write_text("a b\\nc d\\n")
    >>> Lines(data_dir=root).split("train").texts
    ['a b', 'c d']
    """

    files = ()
    source = ""
    remotes = ()

    def __init__(self, data_dir=None, seed=0, cache_dir=None):
        super().__init__()
        self.seed = seed
        self.data_dir = data_dir
        name = self.info.name
        if data_dir is None:
            folder = pathlib.Path(cache_dir) if cache_dir is not None else download.default_cache_dir(name)
            download.fetch_all(name, self.remotes, folder)
            self.folder = folder
            missing = self._missing(folder)
            if missing:
                raise DataError(
                    f"{name}: the download cache {folder} lacks {', '.join(missing)}. Delete that folder "
                    f"and run again, or pass --data-dir DIR with the files in DIR/{name}/."
                )
        else:
            self.folder = pathlib.Path(data_dir) / name
            missing = self._missing(self.folder)
            if missing:
                raise DataError(
                    f"{name}: expected {', '.join(missing)} in {self.folder} (from --data-dir {data_dir}). "
                    f"Download {self.source} there, or run without --data-dir to download it."
                )
        self._all = None
        self.info = self._instance_info()

    def _missing(self, folder):
        """Standard file names the loader needs that `folder` lacks (all of them if it is absent)."""
        return [name for name in self.files if not (folder / name).is_file()]

    def _instance_info(self):
        """TaskInfo of this instance (subclasses add notes that depend on the files found)."""
        return self.info

    def _read(self, folder):
        raise NotImplementedError

    def _load_split(self, name):
        if self._all is None:
            self._all = self._read(self.folder)
        return self._all[name]


def read_bytes(path, task_name):
    """Bytes of `path`; a DataError if the file is empty."""
    data = pathlib.Path(path).read_bytes()
    if not data.strip():
        raise DataError(f"{task_name}: {path} is empty. Download the file again.")
    return data


def decode(data, where, task_name):
    """UTF-8 text of `data`; a DataError naming `where` if the bytes are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{task_name}: {where} is not valid UTF-8 (byte 0x{data[error.start]:02x} at offset "
            f"{error.start}, line {line}). Download the file again."
        ) from None


def read_text(path, task_name):
    """UTF-8 text of a non-empty file, with strict errors."""
    return decode(read_bytes(path, task_name), path, task_name)


def read_lines(path, task_name):
    """Lines of a non-empty UTF-8 file, without line endings."""
    return read_text(path, task_name).splitlines()


def read_line_documents(path, task_name):
    """One document per non-blank line, surrounding whitespace stripped; a DataError if there is none (a file
    of Unicode spaces or separators only is not empty as bytes)."""
    documents = [line.strip() for line in read_lines(path, task_name) if line.strip()]
    if not documents:
        raise DataError(f"{task_name}: {path} has only blank lines. Download the file again.")
    return documents


class LineDocumentsTask(RealTask):
    """A language-modelling corpus with one file per split and one document per non-blank line.

    Subclasses set `split_files` ({"train": file name, "validation": ..., "test": ...}) besides
    what `RealTask` needs.
    """

    split_files = {}

    def _read(self, folder):
        return {
            split: Split(texts=read_line_documents(folder / name, self.info.name))
            for split, name in self.split_files.items()
        }


def parse_label(text, num_classes, where, task_name, offset=0):
    """`int(text) - offset` checked to lie in [0, num_classes); `where` is 'file line N' for errors."""
    try:
        label = int(text) - offset
    except ValueError:
        label = None
    if label is None or not 0 <= label < num_classes:
        allowed = f"{offset}..{offset + num_classes - 1}"
        raise DataError(
            f"{task_name}: {where}: label '{text}' is not an integer in {allowed}. "
            "Fix or re-download the file."
        )
    return label


def carve_validation(texts, labels, fraction, seed):
    """Splits (texts, labels) into train and validation parts, stratified by label.

    Each class gives `round(fraction * count)` examples to validation, chosen with
    `np.random.default_rng(seed)`; both parts keep the original order.

    Returns:
        ((train_texts, train_labels), (validation_texts, validation_labels))
    """
    rng = np.random.default_rng(seed)
    labels_array = np.asarray(labels)
    chosen = np.zeros(len(labels_array), dtype=bool)
    for label in np.unique(labels_array):
        members = np.flatnonzero(labels_array == label)
        count = int(round(fraction * len(members)))
        chosen[rng.permutation(members)[:count]] = True
    train = [i for i in range(len(texts)) if not chosen[i]]
    validation = np.flatnonzero(chosen).tolist()
    return (
        ([texts[i] for i in train], [labels[i] for i in train]),
        ([texts[i] for i in validation], [labels[i] for i in validation]),
    )


def with_notes(info, notes):
    """A copy of `info` with `notes` replaced."""
    return dataclasses.replace(info, notes=notes)
