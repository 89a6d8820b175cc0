"""AG News topic classification (Zhang, Zhao & LeCun 2015, https://arxiv.org/abs/1509.01626)."""

import csv
import io

from kerasllm.data.base import Split, TaskInfo, register_task
from kerasllm.data.datasets.base import RealTask, carve_validation, parse_label, read_text, with_notes
from kerasllm.data.download import RemoteFile
from kerasllm.errors import DataError

VALIDATION_FRACTION = 0.1
CLASS_NAMES = ("World", "Sports", "Business", "Sci/Tech")
_BASE = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv"

# sha256 as listed by Hugging Face datasets (datasets/ag_news/dataset_infos.json, download_checksums).
AG_NEWS_FILES = (
    RemoteFile(
        f"{_BASE}/train.csv", "76a0a2d2f92b286371fe4d4044640910a04a803fdd2538e0f3f29a5c6f6b672e", "train.csv"
    ),
    RemoteFile(
        f"{_BASE}/test.csv", "521465c2428ed7f02f8d6db6ffdd4b5447c1c701962353eb2c40d548c3c85699", "test.csv"
    ),
)


def read_ag_news_csv(path, task_name):
    """Reads an AG News CSV (no header; class index 1-4, title, description); returns (texts, labels).

    The text is `title + " " + description`; the originals escape newlines as a backslash followed by
    "n", which become spaces. Labels are shifted to 0-3.
    """
    reader = csv.reader(io.StringIO(read_text(path, task_name), newline=""))
    texts, labels = [], []
    try:
        for row in reader:
            where = f"{path.name} line {reader.line_num}"
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != 3:
                raise DataError(
                    f"{task_name}: {where}: expected 3 comma-separated fields (class index, title, "
                    f"description), found {len(row)}. Fix or re-download the file."
                )
            labels.append(parse_label(row[0].strip(), len(CLASS_NAMES), where, task_name, offset=1))
            text = f"{row[1].strip()} {row[2].strip()}".replace("\\n", " ")
            texts.append(" ".join(text.split()))
    except csv.Error as error:
        raise DataError(
            f"{task_name}: {path.name} line {reader.line_num}: malformed CSV ({error}). "
            "Fix or re-download the file."
        ) from None
    if not texts:
        raise DataError(f"{task_name}: {path} has no rows. Download the file again.")
    return texts, labels


@register_task("ag_news")
class AGNews(RealTask):
    """AG News: 120,000 training and 7,600 test news articles in 4 topics.

    Reads `data_dir/ag_news/train.csv` and `test.csv` (the standard CSVs: no header, class index 1-4,
    title, description; quoted as CSV). Validation is 10% of train, stratified by label, drawn with
    `np.random.default_rng(seed)`. Labels are 0-3 (World, Sports, Business, Sci/Tech).

    Args:
        data_dir: parent folder holding `ag_news/`. Defaults to None (download into the cache).
        seed: seed of the validation carve. Defaults to 0.
        cache_dir: download folder. Defaults to `~/.cache/kerasllm/datasets/ag_news`.

    Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "ag_news"; folder.mkdir()
    >>> rows = "".join(f'"{c}","Title {c}","Body, with a comma"\\n' for c in (1, 2, 3, 4) * 10)
    >>> for name in ("train.csv", "test.csv"):
    ...     _ = (folder / name).write_text(rows)
    >>> task = AGNews(data_dir=folder.parent)
    >>> len(task.split("train")), len(task.split("validation")), task.split("test").texts[0]
    (36, 4, 'Title 1 Body, with a comma')
    """

    info = TaskInfo(
        name="ag_news",
        kind="classification",
        metric="accuracy",
        num_classes=4,
        tokenizer="word",
        tokenizer_options={"split": "punctuation", "lowercase": True},
        max_length=128,
        class_names=CLASS_NAMES,
        notes="AG News (Zhang et al. 2015). Text = title + ' ' + description. Validation = 10% of train, "
        "stratified by label, default_rng(seed). Test = test.csv.",
    )
    files = ("train.csv", "test.csv")
    source = "AG News (train.csv, test.csv from ag_news_csv)"
    remotes = AG_NEWS_FILES

    def _instance_info(self):
        return with_notes(self.info, f"{self.info.notes} seed={self.seed}.")

    def _read(self, folder):
        name = self.info.name
        train = read_ag_news_csv(folder / "train.csv", name)
        test_texts, test_labels = read_ag_news_csv(folder / "test.csv", name)
        (train_texts, train_labels), (val_texts, val_labels) = carve_validation(
            *train, VALIDATION_FRACTION, self.seed
        )
        return {
            "train": Split(texts=train_texts, labels=train_labels),
            "validation": Split(texts=val_texts, labels=val_labels),
            "test": Split(texts=test_texts, labels=test_labels),
        }
