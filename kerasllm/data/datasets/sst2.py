"""SST-2 (Stanford Sentiment Treebank, binary) in the GLUE layout.

Socher et al. 2013, https://nlp.stanford.edu/sentiment/ ; GLUE: Wang et al. 2018, https://gluebenchmark.com
"""

from kerasllm.data.base import Split, TaskInfo, register_task
from kerasllm.data.datasets.base import RealTask, decode, parse_label, read_bytes, with_notes
from kerasllm.data.download import RemoteFile
from kerasllm.errors import DataError

# sha256 as listed by tensorflow_datasets (url_checksums/glue.txt) and Hugging Face datasets
# (datasets/glue/dataset_infos.json) for this 7,439,277-byte archive.
SST2_ZIP = RemoteFile(
    url="https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
    sha256="d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa",
    filename="SST-2.zip",
    extract={"SST-2/train.tsv": "train.tsv", "SST-2/dev.tsv": "dev.tsv", "SST-2/test.tsv": "test.tsv"}.get,
)


def read_sentence_label_tsv(path, task_name, num_classes=2):
    """Reads a GLUE-style `sentence<TAB>label` file with a header row; returns (texts, labels).

    Lines are split on the tab (no CSV quoting: sentences hold quote-like tokens such as `''`).
    Surrounding whitespace of the sentence is stripped; blank lines are skipped.
    """
    text = decode(read_bytes(path, task_name), path, task_name)
    lines = text.split("\n")
    header = lines[0].rstrip("\r").split("\t")
    if [field.strip() for field in header] != ["sentence", "label"]:
        raise DataError(
            f"{task_name}: {path.name} line 1: expected the header 'sentence<TAB>label', found "
            f"'{lines[0][:60]}'. Use the GLUE SST-2 file."
        )
    texts, labels = [], []
    for number, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataError(
                f"{task_name}: {path.name} line {number}: expected 2 tab-separated fields (sentence, label), "
                f"found {len(fields)}. Fix or re-download the file."
            )
        texts.append(fields[0].strip())
        labels.append(parse_label(fields[1].strip(), num_classes, f"{path.name} line {number}", task_name))
    if not texts:
        raise DataError(f"{task_name}: {path} has a header but no rows. Download the file again.")
    return texts, labels


@register_task("sst2")
class SST2(RealTask):
    """SST-2 sentence sentiment (GLUE): 67,349 train phrases, 872 dev sentences, 2 classes.

    Reads `data_dir/sst2/train.tsv` and `dev.tsv` (header `sentence<TAB>label`). `dev.tsv` is the
    validation split. The test split is `test_labeled.tsv` when present (GLUE keeps its test labels
    private; a labelled copy of the GLUE test sentences can be placed there), otherwise dev again.
    Without a data_dir, GLUE's SST-2.zip is downloaded, its sha256 checked, and unpacked.

    Args:
        data_dir: parent folder holding `sst2/`. Defaults to None (download into the cache).
        seed: unused (no split is carved); kept for a uniform signature. Defaults to 0.
        cache_dir: download folder. Defaults to `~/.cache/kerasllm/datasets/sst2`.

    Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "sst2"; folder.mkdir()
    >>> for name in ("train.tsv", "dev.tsv"):
    ...     _ = (folder / name).write_text("sentence\\tlabel\\na gem . \\t1\\na mess . \\t0\\n")
    >>> task = SST2(data_dir=folder.parent)
    >>> task.split("train").labels, task.split("test").texts
    ([1, 0], ['a gem .', 'a mess .'])
    """

    info = TaskInfo(
        name="sst2",
        kind="classification",
        metric="accuracy",
        num_classes=2,
        tokenizer="word",
        tokenizer_options={"split": "whitespace", "lowercase": True},
        max_length=64,
        class_names=("negative", "positive"),
        notes="GLUE SST-2. Validation = dev.tsv. Test = test_labeled.tsv when present, otherwise dev.tsv.",
    )
    files = ("train.tsv", "dev.tsv")
    source = "GLUE SST-2 (train.tsv, dev.tsv; optionally test_labeled.tsv)"
    remotes = (SST2_ZIP,)

    def _has_labelled_test(self):
        return (self.folder / "test_labeled.tsv").is_file()

    def _instance_info(self):
        if self._has_labelled_test():
            notes = ("GLUE SST-2. Validation = dev.tsv (872 sentences). Test = test_labeled.tsv, the GLUE "
                     "test sentences with SST sentence-level labels (not an official GLUE release).")
        else:
            notes = ("GLUE SST-2. Validation = dev.tsv (872 sentences). GLUE test labels are private and no "
                     "test_labeled.tsv was found, so the test split is dev.tsv again.")
        return with_notes(self.info, notes)

    def _read(self, folder):
        name = self.info.name
        train = read_sentence_label_tsv(folder / "train.tsv", name)
        dev = read_sentence_label_tsv(folder / "dev.tsv", name)
        test = dev
        if self._has_labelled_test():
            test = read_sentence_label_tsv(folder / "test_labeled.tsv", name)
        return {
            "train": Split(texts=train[0], labels=train[1]),
            "validation": Split(texts=dev[0], labels=dev[1]),
            "test": Split(texts=test[0], labels=test[1]),
        }
