"""IMDB Large Movie Review Dataset v1.0 (Maas et al. 2011), https://ai.stanford.edu/~amaas/data/sentiment/"""

import logging
import re
import tarfile

from kerasllm.data.base import Split, TaskInfo, register_task
from kerasllm.data.datasets.base import RealTask, carve_validation, decode, with_notes
from kerasllm.data.download import RemoteFile
from kerasllm.errors import DataError

logger = logging.getLogger(__name__)

ARCHIVE = "aclImdb_v1.tar.gz"
FOLDER = "aclImdb"
VALIDATION_FRACTION = 0.1
UNLABELLED = "train/unsup"
_REVIEW = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_UNLABELLED_REVIEW = re.compile(r"^(?:\./)?aclImdb/train/unsup/(\d+)_(\d+)\.txt$")
_GROUPS = [(split, polarity) for split in ("train", "test") for polarity in ("neg", "pos")]


def _review(member_name):
    """Keeps the reviews of the Stanford archive, labelled and unlabelled (train/unsup); drops .feat, urls."""
    match = _REVIEW.match(member_name)
    if match:
        return f"{FOLDER}/{match[1]}/{match[2]}/{match[3]}_{match[4]}.txt"
    match = _UNLABELLED_REVIEW.match(member_name)
    return f"{FOLDER}/{UNLABELLED}/{match[1]}_{match[2]}.txt" if match else None


# sha256 as listed by tensorflow_datasets (url_checksums/imdb_reviews.txt) for the 84,125,825-byte archive.
IMDB_ARCHIVE = RemoteFile(
    url="http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
    sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    filename=ARCHIVE,
    extract=_review,
)


def _clean(text):
    return text.replace("<br />", " ").strip()


@register_task("imdb")
class IMDB(RealTask):
    """IMDB movie-review sentiment: 25,000 labelled train and 25,000 test reviews, 2 classes.

    Reads `data_dir/imdb/aclImdb/{train,test}/{pos,neg}/*.txt`, or, if that folder is absent, the
    archive `data_dir/imdb/aclImdb_v1.tar.gz` directly (nothing is extracted into the data folder).
    HTML line breaks `<br />` become spaces. Reviews are ordered by (label, review id), so the folder
    and the archive give identical splits. Validation is 10% of train, stratified by label, drawn with
    `np.random.default_rng(seed)`. The 50,000 unlabelled reviews of `aclImdb/train/unsup/` (from the
    folder, else from the archive) are in no split: `unlabelled_texts()` reads them, in review-id
    order, for the language-modelling objectives (`kerasllm train --task imdb --objective lm`); a copy
    without them (labelled reviews only) gives none, with a logged warning.

    Args:
        data_dir: parent folder holding `imdb/`. Defaults to None (download into the cache).
        seed: seed of the validation carve. Defaults to 0.
        cache_dir: download folder. Defaults to `~/.cache/kerasllm/datasets/imdb`.

    Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for split in ("train", "test"):
    ...     for polarity, text in (("pos", "Loved it.<br />Great."), ("neg", "Dull.")):
    ...         for i in range(10):
    ...             path = root / "imdb" / "aclImdb" / split / polarity / f"{i}_5.txt"
    ...             path.parent.mkdir(parents=True, exist_ok=True)
    ...             _ = path.write_text(text)
    >>> task = IMDB(data_dir=root)
    >>> len(task.split("train")), len(task.split("validation")), task.split("test").texts[-1]
    (18, 2, 'Loved it. Great.')
    >>> unsup = root / "imdb" / "aclImdb" / "train" / "unsup"; unsup.mkdir()
    >>> for i in (10, 2):
    ...     _ = (unsup / f"{i}_0.txt").write_text(f"Review {i}.<br />No label.")
    >>> task.unlabelled_texts()
    ['Review 2. No label.', 'Review 10. No label.']
    """

    info = TaskInfo(
        name="imdb",
        kind="classification",
        metric="accuracy",
        num_classes=2,
        tokenizer="word",
        tokenizer_options={"split": "punctuation", "lowercase": True},
        max_length=256,
        class_names=("negative", "positive"),
        notes="aclImdb v1. Validation = 10% of train, stratified by label, default_rng(seed). "
        "Test = the 25,000 test reviews. '<br />' replaced by a space.",
    )
    source = "the IMDB reviews (aclImdb/ or aclImdb_v1.tar.gz)"
    remotes = (IMDB_ARCHIVE,)

    def _folder_complete(self, folder):
        return all((folder / FOLDER / split / polarity).is_dir() for split, polarity in _GROUPS)

    def _missing(self, folder):
        if self._folder_complete(folder) or (folder / ARCHIVE).is_file():
            return []
        return [f"{FOLDER}/{{train,test}}/{{pos,neg}}/*.txt or {ARCHIVE}"]

    def _instance_info(self):
        origin = f"{FOLDER}/ folder" if self._folder_complete(self.folder) else ARCHIVE
        return with_notes(self.info, f"{self.info.notes} Read from the {origin}; seed={self.seed}.")

    def unlabelled_texts(self):
        """The unlabelled reviews of `aclImdb/train/unsup/`, ordered by review id (read once, then cached)."""
        if getattr(self, "_unlabelled", None) is None:
            self._unlabelled = self._read_unlabelled(self.folder)
        return list(self._unlabelled)

    def _read_unlabelled(self, folder):
        name = self.info.name
        unsup = folder / FOLDER / UNLABELLED
        if unsup.is_dir():
            reviews = [(f"{FOLDER}/{UNLABELLED}/{path.name}", path.read_bytes()) for path in unsup.iterdir()
                       if path.is_file() and _UNLABELLED_REVIEW.match(f"{FOLDER}/{UNLABELLED}/{path.name}")]
        elif (folder / ARCHIVE).is_file():
            reviews = list(self._archive_members(folder / ARCHIVE, _UNLABELLED_REVIEW))
        else:
            reviews = []
        if not reviews:  # a copy of the labelled reviews only (as ../shared/data has): train on those
            logger.warning("%s: no unlabelled reviews (%s/%s/) under %s, so the text objectives read the labelled "
                           "training reviews only; put the full %s there to add the 50,000 unlabelled ones.",
                           name, FOLDER, UNLABELLED, folder, ARCHIVE)
        ordered = sorted((int(_UNLABELLED_REVIEW.match(member)[1]), member, data) for member, data in reviews)
        return [_clean(decode(data, f"{folder / member}", name)) for _, member, data in ordered]

    def _archive_members(self, archive, pattern):
        """Yields (member name, raw bytes) of the archive's files whose name matches `pattern`."""
        try:
            with tarfile.open(archive, "r:gz") as bundle:
                for member in bundle:
                    if member.isfile() and pattern.match(member.name):
                        yield member.name, bundle.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError) as error:
            raise DataError(f"{self.info.name}: cannot read {archive} ({error}). Download the archive again.") from None

    def _reviews(self, folder):
        """Yields (member name, raw bytes) of every labelled review."""
        if self._folder_complete(folder):
            for split, polarity in _GROUPS:
                for path in (folder / FOLDER / split / polarity).iterdir():
                    if not path.is_file():  # a folder among the reviews is not a review (the archive skips them too)
                        continue
                    yield f"{FOLDER}/{split}/{polarity}/{path.name}", path.read_bytes()
            return
        yield from self._archive_members(folder / ARCHIVE, _REVIEW)

    def _read(self, folder):
        name = self.info.name
        groups = {group: [] for group in _GROUPS}
        for member, data in self._reviews(folder):
            match = _REVIEW.match(member)
            if not match:
                continue
            text = _clean(decode(data, f"{folder / member}", name))
            groups[(match[1], match[2])].append((int(match[3]), text))
        for (split, polarity), reviews in groups.items():
            if not reviews:
                raise DataError(
                    f"{name}: no reviews in {FOLDER}/{split}/{polarity}/ under {folder}. "
                    f"Download the IMDB dataset again."
                )
        splits = {}
        for split in ("train", "test"):
            texts, labels = [], []
            for label, polarity in enumerate(("neg", "pos")):
                for _, text in sorted(groups[(split, polarity)]):
                    texts.append(text)
                    labels.append(label)
            splits[split] = (texts, labels)
        (train_texts, train_labels), (val_texts, val_labels) = carve_validation(
            *splits["train"], VALIDATION_FRACTION, self.seed
        )
        return {
            "train": Split(texts=train_texts, labels=train_labels),
            "validation": Split(texts=val_texts, labels=val_labels),
            "test": Split(texts=splits["test"][0], labels=splits["test"][1]),
        }
