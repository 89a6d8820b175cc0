"""Tiny Shakespeare, Karpathy's char-rnn corpus (https://github.com/karpathy/char-rnn)."""

from kerasllm.data.base import Split, TaskInfo, register_task
from kerasllm.data.datasets.base import RealTask, read_text
from kerasllm.data.download import RemoteFile
from kerasllm.errors import DataError

TRAIN_FRACTION = 0.9

# sha256 of data/tinyshakespeare/input.txt at karpathy/char-rnn (git blob 7dcb3a2d...), 1,115,394 bytes.
INPUT_TXT = RemoteFile(
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    filename="input.txt",
)


@register_task("tiny_shakespeare")
class TinyShakespeare(RealTask):
    """Character-level language modelling on Tiny Shakespeare (1,115,394 characters).

    Reads `data_dir/tiny_shakespeare/input.txt` and splits it exactly as nanoGPT does:
    `n = len(text)`, train = `text[:int(n * 0.9)]`, validation = the rest. There is no official test
    split, so test is the validation text again. Each split is one document.

    Args:
        data_dir: parent folder holding `tiny_shakespeare/`. Defaults to None (download into the cache).
        seed: unused (the split is fixed); kept for a uniform signature. Defaults to 0.
        cache_dir: download folder. Defaults to `~/.cache/kerasllm/datasets/tiny_shakespeare`.

    Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "tiny_shakespeare"; folder.mkdir()
    >>> _ = (folder / "input.txt").write_text("To be, or not to be: that is the question.\\n")
    >>> task = TinyShakespeare(data_dir=folder.parent)
    >>> task.split("train").texts, task.split("validation").texts
    (['To be, or not to be: that is the quest'], ['ion.\\n'])
    """

    info = TaskInfo(
        name="tiny_shakespeare",
        kind="lm",
        metric="bits_per_char",
        tokenizer="char",
        tokenizer_options={},
        max_length=64,
        notes="nanoGPT split: train = first int(0.9 * n) characters, validation = the last 10%. No official "
        "test split: test = validation. Each split is one document.",
    )
    files = ("input.txt",)
    source = "Tiny Shakespeare (input.txt from karpathy/char-rnn)"
    remotes = (INPUT_TXT,)

    def _read(self, folder):
        text = read_text(folder / "input.txt", self.info.name)
        cut = int(len(text) * TRAIN_FRACTION)
        if cut == 0:  # 1 character: nothing to train on
            raise DataError(f"{self.info.name}: {folder / 'input.txt'} holds {len(text)} character(s), too few to "
                            "split into training and validation text. Use the full input.txt.")
        validation = Split(texts=[text[cut:]])
        return {"train": Split(texts=[text[:cut]]), "validation": validation, "test": validation}
