"""Fuzzing (hypothesis): tokenizers, data loaders and the command line never crash on hostile input.

- every tokenizer kind encodes any text (any code point, NUL, lone surrogates, very long strings) to ids
  inside its vocabulary and decodes them back: exactly for the lossless kinds, and to the known
  canonical form for the others; fitting on any text succeeds or raises `DataError`;
- every real-dataset loader, fed random bytes (or random text shaped like its rows), succeeds or raises
  `DataError`, never anything else; so do `Tokenizer.load`, `read_json` and `TrainConfig.from_file`;
- the command line, given random argv, exits 0 or 2 with a one-line message, never a traceback.

How many examples each test runs comes from the hypothesis profile that tests/conftest.py loads:
few by default (`python -m pytest`), many in CI (`HYPOTHESIS_PROFILE=ci python -m pytest -m fuzz`).
"""

import contextlib
import io
import os
import pathlib
import tempfile

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kerasllm.cli import build_parser, main
from kerasllm.config import TrainConfig
from kerasllm.data.base import get_task
from kerasllm.errors import ConfigError, DataError, KerasLLMError
from kerasllm.tokenizers import Tokenizer, get_tokenizer
from kerasllm.tokenizers.base import UNK_ID
from kerasllm.training.run_dir import CorruptFileError, read_json

pytestmark = pytest.mark.fuzz

EXAMPLES = settings.default.max_examples  # from the loaded profile
FEW = settings(max_examples=max(5, EXAMPLES // 10), suppress_health_check=[HealthCheck.too_slow])
MANY = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --------------------------------------------------------------------------------------------- text
ANY_CHAR = st.characters(exclude_categories=())  # every code point, lone surrogates included
TRICKY = st.sampled_from(["\x00", "\ud800", "\udfff", "\ufffd", "\t", "\n", "\r", " ", "\u200b", "é", "e\u0301",
                          "🐈", "<unk>", "<eos>", "##", "Ġ", "'s", "the", "fox", "!", "\x7f", "\U0010ffff"])
LONG = st.builds(lambda piece, times: piece * times, st.text(ANY_CHAR, min_size=1, max_size=8),
                 st.integers(1_000, 20_000))
MIXED = st.lists(TRICKY | st.text(ANY_CHAR, max_size=3)).map("".join)
SHORT_TEXT = st.one_of(st.text(ANY_CHAR), st.lists(TRICKY).map("".join), MIXED)
TEXT = SHORT_TEXT | LONG

CORPUS = ["The quick brown fox jumps over the lazy dog.", "A lazy dog sleeps; the quick fox runs away!",
          "Foxes and dogs: friends or foes? Nobody knows. 🐈 é"] * 10
KINDS = {"char": ("char", {}), "char_fallback": ("char", {"byte_fallback": True}), "byte": ("byte", {}),
         "word": ("word", {}), "wordpiece": ("wordpiece", {"vocabulary_size": 80}),
         "bpe": ("bpe", {"vocabulary_size": 300})}
LOSSLESS = {"char_fallback", "byte", "bpe"}


@pytest.fixture(scope="module")
def fitted():
    return {kind: get_tokenizer(name, **options).fit(CORPUS) for kind, (name, options) in KINDS.items()}


def expected_decode(kind, tokenizer, text):
    """What decode(encode(text)) must give: the text itself for lossless kinds, else the canonical form."""
    if kind in LOSSLESS:
        return text
    if kind == "char":
        return "".join(c if c in tokenizer._char_to_id else "\ufffd" for c in text)
    if kind == "word":
        return " ".join(w if w in tokenizer._word_to_id else "<unk>" for w in tokenizer.split_words(text))
    return None  # wordpiece: lowercases, splits and normalizes (checked for not crashing and range)


@pytest.mark.parametrize("kind", KINDS)
@MANY
@given(text=TEXT)
def test_tokenizers_encode_and_decode_any_text(fitted, kind, text):
    tokenizer = fitted[kind]
    ids = tokenizer.encode(text)
    assert all(isinstance(i, int) and 0 <= i < tokenizer.vocabulary_size for i in ids)
    decoded = tokenizer.decode(ids)
    assert isinstance(decoded, str)
    expected = expected_decode(kind, tokenizer, text)
    if expected is not None:
        assert decoded == expected
    if kind in LOSSLESS:
        assert UNK_ID not in ids


@pytest.mark.parametrize("kind", KINDS)
@MANY
@given(texts=st.lists(SHORT_TEXT, max_size=4))
def test_encode_batch_matches_encode(fitted, kind, texts):
    tokenizer = fitted[kind]
    assert tokenizer.encode_batch(texts) == [tokenizer.encode(t) for t in texts]


@pytest.mark.parametrize("kind", KINDS)
@FEW
@given(texts=st.lists(MIXED.filter(lambda t: len(t) <= 60), max_size=6))
def test_fitting_on_any_text_succeeds_or_is_a_data_error(kind, texts):
    name, options = KINDS[kind]
    try:
        tokenizer = get_tokenizer(name, **options).fit(texts)
    except DataError:
        return
    for text in texts:  # what it was fitted on encodes inside the vocabulary and decodes without error
        ids = tokenizer.encode(text)
        assert all(0 <= i < tokenizer.vocabulary_size for i in ids)
        tokenizer.decode(ids)


@MANY
@given(text=st.text(ANY_CHAR, min_size=1))
def test_char_tokenizer_fitted_on_the_text_round_trips(text):
    tokenizer = get_tokenizer("char").fit([text])
    assert tokenizer.decode(tokenizer.encode(text)) == text


# ------------------------------------------------------------------------------------------ loaders
# Each real task: the files it reads, and a strategy for the bytes of one file.
def _rows(fields, separator):
    field = st.text(st.sampled_from(list("ab 1\t,\"'\\\r\n")) | ANY_CHAR, max_size=12)
    row = st.lists(field, min_size=0, max_size=fields + 1).map(separator.join)
    return st.lists(row, max_size=8).map("\n".join)


def _encoded(text_strategy):
    return text_strategy.map(lambda text: text.encode("utf-8", "surrogatepass"))


SST2_ROWS = _rows(2, "\t").map(lambda body: "sentence\tlabel\n" + body)
FILE_BYTES = {
    "sst2": st.one_of(st.binary(), _encoded(SST2_ROWS), _encoded(_rows(2, "\t"))),
    "ag_news": st.one_of(st.binary(), _encoded(_rows(3, ",")), _encoded(_rows(3, '","').map(lambda t: f'"{t}"'))),
    "tiny_shakespeare": st.one_of(st.binary(), _encoded(st.text(ANY_CHAR))),
    "ptb": st.one_of(st.binary(), _encoded(_rows(1, " "))),
    "wikitext2": st.one_of(st.binary(), _encoded(_rows(1, " "))),
}
LAYOUT = {"sst2": ["train.tsv", "dev.tsv", "test_labeled.tsv"], "ag_news": ["train.csv", "test.csv"],
          "tiny_shakespeare": ["input.txt"], "ptb": ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"],
          "wikitext2": ["wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"]}


def load_everything(task_name, root):
    """Builds the task from `root` and reads every split; returns True, or False on a `DataError`."""
    try:
        task = get_task(task_name, data_dir=str(root))
        for split in ("train", "validation", "test"):
            data = task.split(split)
            assert all(isinstance(text, str) for text in data.texts)
            if task.info.kind == "classification":
                assert len(data.labels) == len(data.texts)
                assert all(0 <= label < task.info.num_classes for label in data.labels)
        return True
    except DataError:
        return False


@pytest.mark.parametrize("task_name", LAYOUT)
@MANY
@given(data=st.data())
def test_loaders_fed_random_bytes_succeed_or_raise_data_error(task_name, data):
    with tempfile.TemporaryDirectory() as root:
        folder = pathlib.Path(root) / task_name
        folder.mkdir()
        for name in LAYOUT[task_name]:
            (folder / name).write_bytes(data.draw(FILE_BYTES[task_name], label=name))
        load_everything(task_name, root)


@MANY
@given(data=st.data())
def test_imdb_fed_random_bytes_succeeds_or_raises_data_error(data):
    with tempfile.TemporaryDirectory() as root:
        folder = pathlib.Path(root) / "imdb"
        folder.mkdir()
        if data.draw(st.booleans(), label="archive instead of folders"):
            (folder / "aclImdb_v1.tar.gz").write_bytes(data.draw(st.binary(), label="archive"))
        else:
            for split in ("train", "test"):
                for polarity in ("pos", "neg"):
                    group = folder / "aclImdb" / split / polarity
                    group.mkdir(parents=True)
                    names = data.draw(st.lists(st.sampled_from(["0_1.txt", "1_10.txt", "x.txt", "2_3.txt"]),
                                               unique=True, max_size=3), label="files")
                    for name in names:
                        (group / name).write_bytes(data.draw(_encoded(TEXT) | st.binary(), label=name))
        load_everything("imdb", root)


@MANY
@given(content=st.one_of(st.binary(), _encoded(st.text(ANY_CHAR)),
                         st.sampled_from([b'{"name": "word", "config": {}}', b'{"name": "bpe", "config": {"merges": 1}}',
                                          b'{"name": "char", "config": {"vocabulary": ["ab"]}}', b"[]", b"null",
                                          b'{"name": "nope", "config": {}}', b'{"name": "word", "config": []}'])))
def test_files_fed_random_bytes_give_kerasllm_errors(content):
    with tempfile.TemporaryDirectory() as root:
        for name, read, error in [("tokenizer.json", Tokenizer.load, (DataError, ConfigError)),
                                  ("state.json", read_json, CorruptFileError),
                                  ("config.json", TrainConfig.from_file, ConfigError),
                                  ("config.yaml", TrainConfig.from_file, ConfigError)]:
            path = pathlib.Path(root) / name
            path.write_bytes(content)
            try:
                read(path)
            except error:
                pass


# ---------------------------------------------------------------------------------------------- CLI
COMMANDS = ["train", "evaluate", "bench", "report", "archs", "tasks"]
FLAGS = ["--task", "--arch", "--epochs", "--steps", "--batch-size", "--max-length", "--hidden-dim", "--num-layers",
         "--seed", "--tokenizer", "--config", "--data-dir", "--out", "--split", "--archs", "--tasks", "--seeds",
         "--time-budget", "--dry-run", "--help", "-h", "--", "-"]
VALUES = ["0", "-1", "3", "1e9", "nan", "gru", "lstm", "mqar", "sst2", "quick", "x", "", "=", "a=b", "hidden_dim=0",
          "epochs=-1", "task_options.num_train=0", "arch_options.x=1", "dropout=2", "learning_rate=abc",
          "\x00", "\ud800", "é", "--x", "-5", "test", "validation"]
TOKEN = st.sampled_from(FLAGS) | st.sampled_from(VALUES) | st.text(ANY_CHAR, max_size=6)
ARGV = st.lists(TOKEN, max_size=7).flatmap(lambda rest: st.sampled_from(COMMANDS + [""]).map(lambda c: [c, *rest]))


def run_parser(argv):
    """`build_parser().parse_args(argv)`: returns (exit code or None, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            build_parser().parse_args(argv)
            code = None
        except SystemExit as exit:
            code = exit.code
    return code, out.getvalue(), err.getvalue()


@MANY
@given(argv=ARGV)
def test_argument_parser_exits_0_or_2_with_one_line(argv):
    code, out, err = run_parser(argv)
    assert code in (None, 0, 2)
    assert "Traceback" not in err + out
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and "error:" in err
    if code == 0:
        assert "usage:" in out


@MANY
@given(overrides=st.lists(st.sampled_from(VALUES) | st.builds(
    "{}={}".format, st.sampled_from(list(TrainConfig.fields()) + ["task_options.num_train", "arch_options.num_heads",
                                                                  "nope", "a.b.c"]),
    st.sampled_from(VALUES) | st.text(ANY_CHAR, max_size=5)), max_size=4))
def test_train_settings_are_accepted_or_a_config_error(overrides):
    """The key=value part of `kerasllm train`: any list of strings gives a config or a ConfigError."""
    try:
        TrainConfig(task="mqar", arch="gru").with_overrides(overrides)
    except ConfigError:
        pass


CHEAP = st.one_of(
    st.tuples(st.just("evaluate"), TOKEN).map(list),
    st.lists(TOKEN, max_size=3).map(lambda rest: ["report", *rest]),
    st.lists(st.sampled_from(["--archs", "--tasks", "--seeds", "--epochs", "--steps", "gru,lstm", "mqar", "quick",
                              "lm", "0", "2", "x,", ","]) | TOKEN, max_size=4).map(
        lambda rest: ["bench", *rest, "--dry-run"]),
    st.sampled_from([["archs"], ["tasks"]]),
)


@FEW
@given(argv=CHEAP)
def test_cli_commands_that_train_nothing_exit_0_or_2_with_one_line(argv):
    """`main` on random argv for the commands that do not train: exit 0, or 2 with one line on stderr."""
    assume("--help" not in argv and "-h" not in argv)
    with tempfile.TemporaryDirectory() as root:
        out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
        os.chdir(root)  # a bench --out or runs/ folder lands here
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
        except SystemExit as exit:
            code = exit.code
        except KerasLLMError:  # main must have caught it
            code = "uncaught"
        finally:
            os.chdir(cwd)
    assert code in (0, 2), (code, err.getvalue())
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert len(err.getvalue().strip().splitlines()) == 1
