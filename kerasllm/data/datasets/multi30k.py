"""Multi30k translation (Elliott et al. 2016, https://aclanthology.org/W16-3210/): WMT multimodal Task 1, text only."""

import dataclasses
import gzip
import zlib

from kerasllm.data.base import Split, TaskInfo, register_task
from kerasllm.data.datasets.base import RealTask, decode, read_bytes
from kerasllm.data.download import RemoteFile
from kerasllm.errors import ConfigError, DataError

LANGUAGES = ("en", "de", "fr", "cs")
SPLIT_STEMS = {"train": "train", "validation": "val", "test": "test_2016_flickr"}
EXTRA_TEST_SETS = ("test_2017_flickr", "test_2017_mscoco", "test_2018_flickr")

# The official repository's raw files; the first address is pinned to the commit the checksums were taken at.
_COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
_BASES = tuple(
    f"https://raw.githubusercontent.com/multi30k/dataset/{ref}/data/task1/raw" for ref in (_COMMIT, "master")
)
# sha256 of the published data/task1/raw/*.gz (byte-identical to the shared copies, see their SOURCE.md).
_SHA256 = {
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "train.cs.gz": "a65adb8b32e3bc664f21ecba7a6e7f6950fd1f405e135f7c312faabdb6255077",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
    "val.cs.gz": "b63226e05c4bd5dd6a42897d74b86a1b9d2c31498252c572b1ea7f7996927fcc",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
    "test_2016_flickr.cs.gz": "200a4a74cc9560f051924abb9803be008d1908d77f747e9141aeb86dfd2797f1",
    "test_2017_flickr.en.gz": "76a444ee25172e72695cddb13ae4a3bda59430617be88e0bb46b60504f054074",
    "test_2017_flickr.de.gz": "a2c89666db00c495cd8513b9d708d5a3acc205d7de312ef2bf5fb7ebc1540aee",
    "test_2017_flickr.fr.gz": "3ba671ceb2299f3304ffafefea7a833d08632fbaf0ba18546f8a2ec2391af496",
    "test_2017_mscoco.en.gz": "aab300bfb4427697987e02cd0aacd44bfe8aa50456231b6474c08038bbed2b58",
    "test_2017_mscoco.de.gz": "799e4854c25d601cb6cb6be29eabe5667734c61ace2f495e03e429031a0bc338",
    "test_2017_mscoco.fr.gz": "754f3072ba9f124569ba5258b32730fc1d214bbf8e0c6dfb2b74401676220db0",
    "test_2018_flickr.en.gz": "ef4f4844037d4c5dea75c9a8ed5fd78905967a26f67c255e230cc9780032654d",
    "test_2018_flickr.de.gz": "ddd0130c7d97482dc5197a02141dae8dd79f20f03586c480d675c09a32daf608",
    "test_2018_flickr.fr.gz": "fb2b83fcceb937a4f7e3e93c1c51c22aba92f1e342391e6b5ba392b16a920501",
    "test_2018_flickr.cs.gz": "7d0a9db904f94c554a8c58049a9f3a5357c27f46cc3d710d70cb0b4a2585b8c2",
}


def multi30k_remotes(src, tgt):
    """The published files of the `src`-`tgt` pair: train, val, test_2016_flickr and the extra test sets
    published in both languages."""
    stems = list(SPLIT_STEMS.values()) + [
        stem for stem in EXTRA_TEST_SETS if all(f"{stem}.{lang}.gz" in _SHA256 for lang in (src, tgt))
    ]
    return tuple(
        RemoteFile(tuple(f"{base}/{stem}.{lang}.gz" for base in _BASES), _SHA256[f"{stem}.{lang}.gz"],
                   f"{stem}.{lang}.gz")
        for stem in stems for lang in (src, tgt)
    )


def _check_language(option, code):
    if code not in LANGUAGES:
        raise ConfigError(
            f"multi30k: {option}={code!r} is not a Multi30k language. Use one of: {', '.join(LANGUAGES)}."
        )


def read_sentences(path, task_name):
    """The lines of a plain or gzipped (`.gz`) UTF-8 file, without their line endings (nothing else is changed)."""
    data = read_bytes(path, task_name)
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"{task_name}: cannot decompress {path} ({error}). Download the file again.") from None
    text = decode(data, path, task_name)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@register_task("multi30k")
class Multi30k(RealTask):
    """Multi30k translation (Flickr30k captions): 29,000 train, 1,014 validation, 1,000 test sentence pairs.

    Reads `data_dir/multi30k/{train,val,test_2016_flickr}.<lang>`, each file plain or gzipped (`.gz`; a plain
    file is preferred when both exist), line i of the source file aligned with line i of the target file.
    Lines are kept exactly as published (raw, true-cased, untokenised); only the line ending is removed.
    Validation = `val`, test = `test_2016_flickr`. The later WMT test sets `test_2017_flickr`,
    `test_2017_mscoco` (en, de, fr only) and `test_2018_flickr` are further test splits (`split(name)`) when
    both of their files are there: `info.extra_test_splits` of an instance lists the ones found (the class's
    `info` lists the three published for the default en-de pair). Without a data_dir, the pair's files are
    downloaded from github.com/multi30k/dataset (`data/task1/raw`) and their sha256 checked.

    `max_length` (40) applies to each side: it covers 99.6% or more of the train and validation sentences of
    every language, as `<bos> target <eos>` too, with the default bpe tokenizer (8,000 tokens fitted on both
    sides of train; p99 28-29 source and 29-34 target tokens). A decoder-only (`prefix_lm`) run needs both sides
    in one sequence: `--max-length 64` covers about 99% of pairs.

    Args:
        data_dir: parent folder holding `multi30k/`. Defaults to None (download into the cache).
        src: source language, one of "en", "de", "fr", "cs". Defaults to "en".
        tgt: target language, one of the same, not `src`. Defaults to "de".
        seed: unused (the splits are fixed); kept for a uniform signature. Defaults to 0.
        cache_dir: download folder. Defaults to `~/.cache/kerasllm/datasets/multi30k`.

    Example:
    >>> import gzip, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "multi30k"; folder.mkdir()
    >>> german = gzip.compress("Zwei Hunde spielen.\\nEin Mann schläft.\\n".encode())
    >>> for stem in ("train", "val", "test_2016_flickr", "test_2018_flickr"):
    ...     _ = (folder / f"{stem}.en").write_text("Two dogs play.\\nA man sleeps.\\n")
    ...     _ = (folder / f"{stem}.de.gz").write_bytes(german)
    >>> task = Multi30k(data_dir=folder.parent, src="de", tgt="en")
    >>> task.split("test").texts[1], task.split("test").targets[1], task.info.extra_test_splits
    ('Ein Mann schläft.', 'A man sleeps.', ('test_2018_flickr',))
    """

    info = TaskInfo(
        name="multi30k",
        kind="seq2seq",
        metric="bleu",
        tokenizer="bpe",
        tokenizer_options={"vocabulary_size": 8000},
        max_length=40,
        notes="Multi30k Task 1 (raw, true-cased), en->de. Validation = val (1,014), test = test_2016_flickr "
        "(1,000); extra test splits test_2017_flickr, test_2017_mscoco, test_2018_flickr. max_length 40 per "
        "side (>= 99.6% of sentences with bpe-8000).",
        extra_test_splits=EXTRA_TEST_SETS,
    )
    source = "Multi30k (data/task1/raw/*.gz from github.com/multi30k/dataset)"
    remotes = multi30k_remotes("en", "de")

    def __init__(self, data_dir=None, src="en", tgt="de", seed=0, cache_dir=None):
        _check_language("src", src)
        _check_language("tgt", tgt)
        if src == tgt:
            raise ConfigError(
                f"multi30k: src and tgt are both {src!r}. Pick two different languages of: "
                f"{', '.join(LANGUAGES)}."
            )
        self.src, self.tgt = src, tgt
        self.remotes = multi30k_remotes(src, tgt)
        super().__init__(data_dir=data_dir, seed=seed, cache_dir=cache_dir)

    def _path(self, folder, stem, lang):
        """The file of `stem` in `lang` (plain, else `.gz`), or None."""
        for name in (f"{stem}.{lang}", f"{stem}.{lang}.gz"):
            if (folder / name).is_file():
                return folder / name
        return None

    def _missing(self, folder):
        return [f"{stem}.{lang}[.gz]" for stem in SPLIT_STEMS.values() for lang in (self.src, self.tgt)
                if self._path(folder, stem, lang) is None]

    def _extra_test_sets(self):
        return tuple(stem for stem in EXTRA_TEST_SETS
                     if all(self._path(self.folder, stem, lang) is not None for lang in (self.src, self.tgt)))

    def _instance_info(self):
        extra = self._extra_test_sets()
        also = f"; extra test splits: {', '.join(extra)}" if extra else "; no extra test sets found"
        notes = (f"Multi30k Task 1 (raw, true-cased), {self.src}->{self.tgt}. Validation = val, test = "
                 f"test_2016_flickr{also}. max_length 40 per side (>= 99.6% of sentences with bpe-8000).")
        return dataclasses.replace(self.info, notes=notes, extra_test_splits=extra)

    def _read_pair(self, stem):
        name = self.info.name
        source_path, target_path = (self._path(self.folder, stem, lang) for lang in (self.src, self.tgt))
        sources, targets = read_sentences(source_path, name), read_sentences(target_path, name)
        if len(sources) != len(targets):
            raise DataError(
                f"{name}: {source_path.name} has {len(sources)} lines but {target_path.name} has {len(targets)}; "
                "the two files must be line-aligned. Download both files again."
            )
        return Split(texts=sources, targets=targets)

    def _load_split(self, name):  # each split is read when first asked for
        return self._read_pair(SPLIT_STEMS.get(name, name))
