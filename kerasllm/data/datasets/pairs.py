"""Your own source -> target pairs (translation, summarization, any text-to-text data) from plain text files."""

import pathlib

import numpy as np

from kerasllm.data.base import SPLITS, Split, TaskInfo, register_task
from kerasllm.data.datasets.base import RealTask, with_notes
from kerasllm.errors import ConfigError, DataError

NAME = "pairs"
LAYOUT = "train.tsv (source<TAB>target per line) or train.src + train.tgt (line-aligned)"


def _text(path):
    """UTF-8 text of a user's file, with one-line errors that say how to fix it."""
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{NAME}: {path} is empty. Put one example per line in it, or remove it.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{NAME}: {path} is not valid UTF-8 (byte 0x{data[error.start]:02x} on line {line}). Save it as UTF-8."
        ) from None


def _lines(path):
    """Lines of a user's file, line endings removed."""
    return _text(path).splitlines()


def _without_trailing_blanks(lines):
    lines = list(lines)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _pair(source, target, source_where, target_where):
    """(source, target) stripped, or None if both are blank (skipped); a DataError naming the file:line of an
    empty side."""
    source, target = source.strip(), target.strip()
    if not source and not target:
        return None
    if not source or not target:
        side, where = ("source", source_where) if not source else ("target", target_where)
        raise DataError(f"{NAME}: {where}: empty {side}. Give every example a non-empty source and target.")
    return source, target


def read_tsv_pairs(path):
    """Reads `source<TAB>target` lines (no header; blank lines skipped); returns (sources, targets)."""
    sources, targets = [], []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            found = "no TAB" if len(fields) == 1 else f"{len(fields) - 1} TABs"
            raise DataError(
                f"{NAME}: {path.name}:{number}: {found}; expected source<TAB>target. Put exactly one TAB between "
                "the source and the target (and none inside them)."
            )
        pair = _pair(*fields, f"{path.name}:{number}", f"{path.name}:{number}")
        if pair is not None:
            sources.append(pair[0])
            targets.append(pair[1])
    return sources, targets


def read_aligned_pairs(source_path, target_path):
    """Reads line-aligned `.src` / `.tgt` files (line i of one pairs with line i of the other); returns
    (sources, targets). Lines blank in both files are skipped, and blank lines at the end of one file do not
    count against the other."""
    source_lines, target_lines = _lines(source_path), _lines(target_path)
    if len(source_lines) != len(target_lines):
        source_lines, target_lines = _without_trailing_blanks(source_lines), _without_trailing_blanks(target_lines)
    if len(source_lines) != len(target_lines):
        raise DataError(
            f"{NAME}: {source_path.name} has {len(source_lines)} lines but {target_path.name} has "
            f"{len(target_lines)}; line i of one must be the pair of line i of the other. Make both files hold one "
            "line per example."
        )
    sources, targets = [], []
    for number, (source, target) in enumerate(zip(source_lines, target_lines), start=1):
        pair = _pair(source, target, f"{source_path.name}:{number}", f"{target_path.name}:{number}")
        if pair is not None:
            sources.append(pair[0])
            targets.append(pair[1])
    return sources, targets


def _check_fraction(name, value):
    """A ConfigError unless `value` is a number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"{NAME}: {name} must be a number in (0, 1), got {value!r}. Use e.g. {name}=0.1.")


@register_task(NAME)
class Pairs(RealTask):
    """Your own seq2seq data: source -> target pairs read from `data_dir/pairs/`.

    Each split is either `<split>.tsv`, one example per line as `source<TAB>target` (no header), or two
    line-aligned files `<split>.src` and `<split>.tgt`; the splits are `train`, `validation` and `test`, and only
    train is required. Sides are stripped of surrounding whitespace; blank lines are skipped. A split without a
    file is carved from train with `np.random.default_rng(seed)`: `test_fraction` of it for test, then
    `validation_fraction` of it for validation (each at least one example; order kept); `info.notes` says which
    splits were carved. There is nothing to download: pass `--data-dir DIR` with the files in `DIR/pairs/`.

    The defaults (BLEU, with chrF beside it; bpe with 8,000 tokens, fitted on train sources and targets; max_length
    128 per side) suit sentence-length pairs; for long inputs raise `--max-length`.

    Args:
        data_dir: parent folder holding `pairs/`. Required.
        seed: seed of the carved splits. Defaults to 0.
        validation_fraction: share of train carved out as validation when there is no validation file.
            Defaults to 0.1.
        test_fraction: share of train carved out as test when there is no test file. Defaults to 0.1.

    Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "pairs"; folder.mkdir()
    >>> _ = (folder / "train.tsv").write_text("".join(f"{i} plus one\\t{i + 1}\\n" for i in range(20)))
    >>> task = Pairs(data_dir=folder.parent)
    >>> [len(task.split(name)) for name in ("train", "validation", "test")], task.split("test").targets[:2]
    ([16, 2, 2], ['5', '20'])
    """

    info = TaskInfo(
        name=NAME,
        kind="seq2seq",
        metric="bleu",
        tokenizer="bpe",
        tokenizer_options={"vocabulary_size": 8000},
        max_length=128,
        notes="Your own pairs: <split>.tsv (source<TAB>target) or <split>.src + <split>.tgt in DIR/pairs/. A "
        "missing validation or test split is carved from train with default_rng(seed).",
    )
    source = LAYOUT

    def __init__(self, data_dir=None, seed=0, validation_fraction=0.1, test_fraction=0.1):
        if data_dir is None:
            raise DataError(
                f"{NAME}: this task reads your own files and has nothing to download. Pass --data-dir DIR with "
                f"{LAYOUT} in DIR/{NAME}/."
            )
        _check_fraction("validation_fraction", validation_fraction)
        _check_fraction("test_fraction", test_fraction)
        if validation_fraction + test_fraction >= 1:
            raise ConfigError(
                f"{NAME}: validation_fraction + test_fraction = {validation_fraction + test_fraction} leaves no "
                "training data. Make their sum less than 1."
            )
        self.validation_fraction, self.test_fraction = validation_fraction, test_fraction
        folder = pathlib.Path(data_dir) / NAME
        if self._split_files(folder, "train") is None:
            raise DataError(
                f"{NAME}: no training pairs in {folder} (from --data-dir {data_dir}). Put {LAYOUT} there; "
                "validation.* and test.* are optional."
            )
        super().__init__(data_dir=data_dir, seed=seed)

    def _split_files(self, folder, split):
        """("tsv", path) or ("aligned", source path, target path) for `split`, or None if it has no file."""
        tsv, src, tgt = (folder / f"{split}{suffix}" for suffix in (".tsv", ".src", ".tgt"))
        if src.is_file() != tgt.is_file():
            have, lack = (src, tgt) if src.is_file() else (tgt, src)
            raise DataError(
                f"{NAME}: {have} has no partner {lack.name}. Add {lack.name} (line-aligned with {have.name}), or "
                f"use {split}.tsv instead."
            )
        if tsv.is_file() and src.is_file():
            raise DataError(
                f"{NAME}: {folder} holds both {tsv.name} and {src.name} + {tgt.name}. Keep one form of the "
                f"{split} split."
            )
        if tsv.is_file():
            return ("tsv", tsv)
        if src.is_file():
            return ("aligned", src, tgt)
        return None

    def _instance_info(self):
        given = {split: self._split_files(self.folder, split) for split in SPLITS}
        form = "train.tsv" if given["train"][0] == "tsv" else "train.src + train.tgt"
        carved = [split for split in ("test", "validation") if given[split] is None]
        fractions = {"test": self.test_fraction, "validation": self.validation_fraction}
        if carved:
            how = ", ".join(f"{split} = {fractions[split]:.0%} of train" for split in carved)
            carve = f" Carved ({how}) with default_rng(seed={self.seed}); the rest is train."
        else:
            carve = " Validation and test read from their own files."
        return with_notes(self.info, f"Your own pairs from {pathlib.Path(self.folder)} ({form}).{carve}")

    def _read_split(self, files):
        if files[0] == "tsv":
            return read_tsv_pairs(files[1])
        return read_aligned_pairs(files[1], files[2])

    def _read(self, folder):
        given = {split: self._split_files(folder, split) for split in SPLITS}
        # Each file read holds an example: a file that is not blank has a line with a side, hence a pair or an error.
        data = {split: self._read_split(files) for split, files in given.items() if files is not None}
        sources, targets = data["train"]
        carved = [split for split in ("test", "validation") if split not in data]
        counts = {"test": self.test_fraction, "validation": self.validation_fraction}
        counts = {split: max(1, int(round(counts[split] * len(sources)))) for split in carved}
        if sum(counts.values()) >= len(sources):
            raise DataError(
                f"{NAME}: train has {len(sources)} examples, too few to carve {' and '.join(carved)} from. Add more "
                f"examples, or give {' and '.join(f'{split}.tsv' for split in carved)}."
            )
        order = np.random.default_rng(self.seed).permutation(len(sources))
        start, taken = 0, np.zeros(len(sources), dtype=bool)
        for split in carved:
            chosen = np.sort(order[start : start + counts[split]])
            start += counts[split]
            taken[chosen] = True
            data[split] = ([sources[i] for i in chosen], [targets[i] for i in chosen])
        rest = np.flatnonzero(~taken)
        data["train"] = ([sources[i] for i in rest], [targets[i] for i in rest])
        return {split: Split(texts=data[split][0], targets=data[split][1]) for split in SPLITS}
