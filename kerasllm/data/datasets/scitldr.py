"""SciTLDR (Cachola et al. 2020, https://arxiv.org/abs/2004.15011): one-sentence summaries of paper abstracts."""

import json

from kerasllm.data.base import Split, TaskInfo, register_task
from kerasllm.data.datasets.base import RealTask, read_text
from kerasllm.data.download import RemoteFile
from kerasllm.errors import DataError

SUBFOLDER = "SciTLDR-A"
SPLIT_FILES = {"train": "train.jsonl", "validation": "dev.jsonl", "test": "test.jsonl"}

_COMMIT = "5ccad9c00a60ad75c9e04abf7f27d0f53f983b20"
_BASES = tuple(
    f"https://raw.githubusercontent.com/allenai/scitldr/{ref}/SciTLDR-Data/SciTLDR-A" for ref in (_COMMIT, "master")
)
# sha256 of the published SciTLDR-Data/SciTLDR-A/*.jsonl (byte-identical to the shared copies, see their SOURCE.md).
_SHA256 = {
    "train.jsonl": "b222771d387be585cfdf5ae957b36757138415a352e0a3e3b23f73f87c3b1119",
    "dev.jsonl": "3191fa98ccc09521332b7a1cd63b1930be4e8df125a235ccd31e40329709525e",
    "test.jsonl": "fb42dd6cd4f4a1928ae8a01a189456fbfe994a07e938bd49f68653933f6503c9",
}
SCITLDR_FILES = tuple(
    RemoteFile(tuple(f"{base}/{name}" for base in _BASES), sha256, name) for name, sha256 in _SHA256.items()
)


def _strings(record, field, where, task_name):
    """`record[field]` as a list of stripped, non-blank strings; a DataError unless it is a non-empty list of them."""
    value = record.get(field) if isinstance(record, dict) else None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DataError(
            f"{task_name}: {where}: expected a field '{field}' holding a list of strings. "
            "Fix or re-download the file."
        )
    items = [item.strip() for item in value if item.strip()]
    if not items:
        raise DataError(f"{task_name}: {where}: '{field}' has no text. Fix or re-download the file.")
    return items


def read_scitldr_jsonl(path, task_name):
    """Reads a SciTLDR JSON-lines file; returns (per record: source sentences, per record: TLDRs).

    Blank lines are skipped; surrounding whitespace of each sentence and TLDR is stripped and blank ones dropped
    (one train abstract holds a blank "sentence").
    """
    sentences, tldrs = [], []
    for number, line in enumerate(read_text(path, task_name).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                f"{task_name}: {where}: not valid JSON ({error.msg} at column {error.colno}). "
                "Fix or re-download the file."
            ) from None
        sentences.append(_strings(record, "source", where, task_name))
        tldrs.append(_strings(record, "target", where, task_name))
    return sentences, tldrs


@register_task("scitldr")
class SciTLDR(RealTask):
    """SciTLDR-A summarization: abstract to one-sentence TLDR; 1,992 train, 619 validation, 618 test papers.

    Reads `data_dir/scitldr/SciTLDR-A/{train,dev,test}.jsonl` (one JSON record per line). The source is the
    abstract: the record's `source` sentences joined with single spaces. The target is the first TLDR of
    `target` (the author's); `Split.references` holds every TLDR of the record, which is what the metric scores
    against: one per train paper, 1-4 per validation paper and 2-4 per test paper. Validation = dev.jsonl.
    `source_sentences(split)` gives each abstract as its list of sentences, so a lead baseline can take the first
    (`first_sentences(split)`). Without a data_dir, the three files are downloaded from github.com/allenai/scitldr
    into the cache folder (directly, no `SciTLDR-A/` inside it) and their sha256 checked.

    Abstracts are long: with the default bpe tokenizer (8,000 tokens fitted on train sources and targets) they
    have a median of 199 tokens, p90 292, p95 322, p99 391 (train; dev and test alike); `max_length` 400 covers
    99.2% and truncates the rest. TLDRs are short (median 23 tokens, p99 about 50).

    Args:
        data_dir: parent folder holding `scitldr/`. Defaults to None (download into the cache).
        seed: unused (the splits are fixed); kept for a uniform signature. Defaults to 0.
        cache_dir: download folder. Defaults to `~/.cache/kerasllm/datasets/scitldr`.

    Example:
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "scitldr" / "SciTLDR-A"; folder.mkdir(parents=True)
    >>> record = {"source": ["We study X.", "X is hard."], "target": ["X is hard.", "A study of X."]}
    >>> for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):
    ...     _ = (folder / name).write_text(json.dumps(record) + "\\n")
    >>> task = SciTLDR(data_dir=folder.parent.parent)
    >>> test = task.split("test")
    >>> test.texts, test.targets, test.references, task.first_sentences("test")
    (['We study X. X is hard.'], ['X is hard.'], [['X is hard.', 'A study of X.']], ['We study X.'])
    """

    info = TaskInfo(
        name="scitldr",
        kind="seq2seq",
        metric="rouge1",
        tokenizer="bpe",
        tokenizer_options={"vocabulary_size": 8000},
        max_length=400,
        notes="SciTLDR-A (abstract only). Source = the abstract's sentences joined by spaces; target = the first "
        "(author) TLDR; references = all TLDRs (1 per train paper, 1-4 dev, 2-4 test). Validation = dev.jsonl. "
        "max_length 400 covers 99.2% of train abstracts with bpe-8000 (p50 199, p95 322, p99 391 tokens).",
    )
    files = tuple(f"{SUBFOLDER}/{name}" for name in SPLIT_FILES.values())
    source = "SciTLDR (SciTLDR-Data/SciTLDR-A/{train,dev,test}.jsonl from allenai/scitldr)"
    remotes = SCITLDR_FILES

    def _files_folder(self, folder):
        """Where the .jsonl files are: `SciTLDR-A/` in a data folder, the download cache itself otherwise."""
        return folder / SUBFOLDER if self.data_dir is not None else folder

    def _missing(self, folder):
        inside = self._files_folder(folder)
        return [f"{SUBFOLDER}/{name}" if self.data_dir is not None else name
                for name in SPLIT_FILES.values() if not (inside / name).is_file()]

    def _read(self, folder):
        splits, self._sentences = {}, {}
        for split, name in SPLIT_FILES.items():
            sentences, tldrs = read_scitldr_jsonl(self._files_folder(folder) / name, self.info.name)
            self._sentences[split] = sentences
            splits[split] = Split(
                texts=[" ".join(abstract) for abstract in sentences],
                targets=[references[0] for references in tldrs],
                references=tldrs,
            )
        return splits

    def source_sentences(self, split):
        """Per example of `split`, the abstract as its list of sentences (stripped, blank ones dropped)."""
        self.split(split)
        return self._sentences[split]

    def first_sentences(self, split):
        """Per example of `split`, the abstract's first sentence: the lead-1 summary."""
        return [sentences[0] for sentences in self.source_sentences(split)]
