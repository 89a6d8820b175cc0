"""WikiText-2 (Merity et al. 2016, https://arxiv.org/abs/1609.07843), tokenized version."""

from kerasllm.data.base import TaskInfo, register_task
from kerasllm.data.datasets.base import LineDocumentsTask
from kerasllm.data.download import RemoteFile

_FILES = {"train": "wiki.train.tokens", "validation": "wiki.valid.tokens", "test": "wiki.test.tokens"}

# sha256 as listed by Hugging Face datasets (datasets/wikitext/dataset_infos.json) and ml-explore/mlx-data
# for the 4,475,746-byte archive. The original S3 bucket is the first address; the second is the
# author's mirror that Hugging Face now uses. Both are checked against the same sha256.
WIKITEXT2_ZIP = RemoteFile(
    url=(
        "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
        "https://wikitext.smerity.com/wikitext-2-v1.zip",
    ),
    sha256="92675f1d63015c1c8b51f1656a52d5bdbc33aafa60cc47a218a66e7ee817488c",
    filename="wikitext-2-v1.zip",
    extract={f"wikitext-2/{name}": name for name in _FILES.values()}.get,
)


@register_task("wikitext2")
class WikiText2(LineDocumentsTask):
    """WikiText-2 word-level language modelling (about 2M training tokens, 33,278-word vocabulary).

    Reads `data_dir/wikitext2/wiki.{train,valid,test}.tokens`. Each non-blank line (a paragraph or a
    `= heading =` line, surrounding spaces stripped) is one document; blank lines are dropped; the
    pipeline appends `<eos>` after each document. Rare words are the literal token `<unk>`.

    Args:
        data_dir: parent folder holding `wikitext2/`. Defaults to None (download into the cache).
        seed: unused (the splits are fixed); kept for a uniform signature. Defaults to 0.
        cache_dir: download folder. Defaults to `~/.cache/kerasllm/datasets/wikitext2`.

    Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "wikitext2"; folder.mkdir()
    >>> for name in ("wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"):
    ...     _ = (folder / name).write_text(" \\n = Robert <unk> = \\n \\n Robert <unk> is an actor . \\n")
    >>> WikiText2(data_dir=folder.parent).split("train").texts
    ['= Robert <unk> =', 'Robert <unk> is an actor .']
    """

    info = TaskInfo(
        name="wikitext2",
        kind="lm",
        metric="perplexity",
        tokenizer="word",
        tokenizer_options={"split": "whitespace", "lowercase": False},
        max_length=64,
        notes="WikiText-2 (tokenized, wiki.{train,valid,test}.tokens). Each non-blank line is one document "
        "(headings included), blank lines dropped, <eos> appended by the pipeline.",
    )
    split_files = _FILES
    files = tuple(_FILES.values())
    source = "WikiText-2 (wiki.train.tokens, wiki.valid.tokens, wiki.test.tokens from wikitext-2-v1.zip)"
    remotes = (WIKITEXT2_ZIP,)

