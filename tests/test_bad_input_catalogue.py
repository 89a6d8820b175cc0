"""The bad-input catalogue: every mistake a user can make gets a one-line message that names the problem
and the fix, exit code 2 on the CLI (or a specific exception type in the API), and leaves no partial or
corrupt files behind.

One table, `CASES`; to add a case, append a `Case`. A CLI case gives `argv` (strings may use `{tmp}` and
the names its `setup` returns); an API case gives `call(paths)`. `problem` and `fix` are regular
expressions the message must contain. Nothing may change under the test's folder except below the paths
in `may_write` (relative to it), and nothing anywhere may be a temporary file or unparsable JSON.
"""

import dataclasses
import errno
import json
import os
import pathlib
import re
import shutil
from typing import Callable, Optional

import keras
import pytest

from kerasllm.cli import main
from kerasllm.config import TrainConfig
from kerasllm.data.base import get_task
from kerasllm.data.pipeline import encode_split
from kerasllm.errors import ConfigError, DataError, RunDirectoryError, UnknownNameError
from kerasllm.generation import get_sampler
from kerasllm.models.word_vectors import read_word_vectors
from kerasllm.tokenizers import Tokenizer, get_tokenizer
from kerasllm.training import Trainer, open_run
from kerasllm.training.model_files import ModelFileError, load_model
from kerasllm.training.run_dir import CorruptFileError, DiskWriteError, read_json, write_json_atomic

TRAIN = ["train", "--task", "negation_sentiment", "--arch", "gru"]
TINY = ["--epochs", "1", "--hidden-dim", "8", "--num-layers", "1", "--batch-size", "16", "jit_compile=false",
        "task_options.num_train=64", "task_options.num_validation=32", "task_options.num_test=32"]
TINY_CONFIG = {"task": "negation_sentiment", "epochs": 1, "hidden_dim": 8, "num_layers": 1, "batch_size": 16,
               "jit_compile": False,
               "task_options": {"num_train": 64, "num_validation": 32, "num_test": 32}}
SST2_HEADER = "sentence\tlabel\n"
GOOD_TSV = SST2_HEADER + "a gem .\t1\na mess .\t0\n"


@dataclasses.dataclass
class Case:
    id: str
    problem: str
    fix: str
    argv: Optional[list] = None  # a CLI case: exit code 2
    call: Optional[Callable] = None  # an API case: raises `error`
    error: type = None
    setup: Optional[Callable] = None  # (tmp_path, monkeypatch, runs) -> {name: path}; runs() gives finished runs
    may_write: tuple = ()


# ------------------------------------------------------------------------------------------ setups
def sst2(train=GOOD_TSV, dev=GOOD_TSV):
    """A data folder holding sst2/train.tsv and sst2/dev.tsv (bytes or text; None = no file)."""

    def setup(tmp, monkeypatch, runs):
        folder = tmp / "data" / "sst2"
        folder.mkdir(parents=True)
        for name, content in (("train.tsv", train), ("dev.tsv", dev)):
            if content is not None:
                (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        return {"data": tmp / "data"}

    return setup


def ag_news(rows):
    def setup(tmp, monkeypatch, runs):
        folder = tmp / "data" / "ag_news"
        folder.mkdir(parents=True)
        for name in ("train.csv", "test.csv"):
            (folder / name).write_text(rows)
        return {"data": tmp / "data"}

    return setup


def data_files(task, files):
    """Files under `data/<task>/`, for the tasks whose folder holds several (pairs, scitldr)."""
    def setup(tmp, monkeypatch, runs):
        (tmp / "data").mkdir()
        for name, content in files.items():
            path = tmp / "data" / task / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return {"data": tmp / "data"}

    return setup


PAIRS_TRAIN = ["train", "--task", "pairs", "--arch", "gru", "--data-dir", "{data}"]


def file_with(name, content):
    def setup(tmp, monkeypatch, runs):
        (tmp / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        return {name.split(".")[0]: tmp / name}

    return setup


def copied_run(arch="gru", swap=None, unfinish=False):
    """A copy of a finished run; `swap` = (file in the run, arch of the run to take it from)."""

    def setup(tmp, monkeypatch, runs):
        run = tmp / "run"
        finished = runs()
        shutil.copytree(finished[arch], run)
        if unfinish:
            (run / "metrics.json").unlink()
            (run / "model.keras").unlink()
        if swap == "tokenizer":
            get_tokenizer("word").fit(["an entirely different vocabulary"]).save(run / "tokenizer.json")
        elif swap is not None:
            name, other = swap
            state = read_json(run / "checkpoints" / "state.json")
            names = [state["last_checkpoint"], state["best_checkpoint"]] if name == "checkpoints" else [name]
            for n in names:
                source = finished[other] / ("checkpoints" if name == "checkpoints" else "") / n
                target = run / ("checkpoints" if name == "checkpoints" else "") / n
                shutil.copy(source, target)
        return {"run": run}

    return setup


def unwritable(tmp, monkeypatch, runs):
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root ignores permissions; /sys refuses new folders even to root
        return {"locked": pathlib.Path("/sys")}
    return {"locked": locked}


def full_disk_on_fsync(tmp, monkeypatch, runs):
    """Every fsync fails as on a full disk (after the temporary file got its bytes)."""

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)
    return {}


def full_disk_on_model_save(tmp, monkeypatch, runs):
    """model.save writes a few bytes, then fails as on a full disk."""

    def save(self, filepath, *args, **kwargs):
        pathlib.Path(filepath).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(keras.Model, "save", save)
    return {}


def corrupt_state(tmp, monkeypatch, runs):
    paths = copied_run(unfinish=True)(tmp, monkeypatch, runs)
    (paths["run"] / "checkpoints" / "state.json").write_text('{"epoch": 1, "last_')
    return paths


def lambda_model_file(tmp, monkeypatch, runs):
    path = tmp / "lambda.keras"
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2)])
    model.save(path)
    return {"model": path}


# ------------------------------------------------------------------------------------------ the table
CASES = [
    # names
    Case("unknown-arch", argv=[*TRAIN[:3], "--arch", "lstn"], problem="Unknown architecture 'lstn'",
         fix="Did you mean 'lstm'"),
    Case("unknown-task", argv=["train", "--task", "negaton_sentiment", "--arch", "gru"],
         problem="Unknown task 'negaton_sentiment'", fix="Did you mean 'negation_sentiment'"),
    Case("unreachable-hub-preset", argv=[*TRAIN[:3], "--arch", "hub:no_such_preset_xyz", "--out", "{tmp}/out"],
         problem=r"Cannot load the keras-hub tokenizer of preset 'no_such_preset_xyz' \(not a known preset",
         fix=r"Check the name \(keras_hub.models.Backbone.presets\) and your connection"),
    Case("unknown-hub-class", argv=[*TRAIN[:3], "--arch", "hub:BertBackbon", "--out", "{tmp}/out"],
         problem="Unknown keras-hub backbone 'hub:BertBackbon'", fix="Did you mean 'BertBackbone'"),
    Case("unknown-tokenizer", argv=[*TRAIN, "--tokenizer", "wrd"], problem="Unknown tokenizer 'wrd'",
         fix="Did you mean 'word'"),
    Case("unknown-tokenizer-api", call=lambda p: get_tokenizer("wordpeice"), error=UnknownNameError,
         problem="Unknown tokenizer 'wordpeice'", fix="Did you mean 'wordpiece'"),
    Case("unknown-setting", argv=[*TRAIN, "learning_rat=0.1"], problem="Unknown setting 'learning_rat'",
         fix="Did you mean 'learning_rate'"),
    Case("unknown-task-option", argv=[*TRAIN, "task_options.num_trian=10"],
         problem="Unknown task_options key 'num_trian'", fix="Did you mean 'num_train'"),
    Case("unknown-tokenizer-option", argv=[*TRAIN, "tokenizer_options.max_vocb=10"],
         problem="Unknown tokenizer_options key 'max_vocb'", fix="Did you mean 'max_vocab'"),
    Case("unknown-arch-option", argv=[*TRAIN, *TINY, "arch_options.bidirectinal=true", "--out", "{tmp}/out"],
         problem="Unknown setting 'bidirectinal' for the 'gru' backbone", fix="Did you mean 'bidirectional'"),
    # sizes
    Case("zero-hidden-dim", argv=[*TRAIN, "--hidden-dim", "0"], problem="hidden_dim must be at least 1",
         fix="at least 1"),
    Case("negative-batch-size", argv=[*TRAIN, "--batch-size", "-4"], problem="batch_size .*got -4",
         fix="at least 1"),
    Case("zero-epochs", argv=[*TRAIN, "--epochs", "0"], problem="epochs .*got 0", fix="at least 1"),
    Case("max-length-below-1", argv=[*TRAIN, "--max-length", "0"], problem="max_length .*got 0", fix="at least 1"),
    Case("max-length-below-1-api", error=ConfigError, problem="max_length must be at least 1, got 0",
         fix="--max-length 64",
         call=lambda p: encode_split(get_task("mqar", num_train=4), "train",
                                     get_tokenizer("char").fit(["a b"]), max_length=0)),
    Case("zero-task-size-api", call=lambda p: get_task("mqar", num_train=0), error=ConfigError,
         problem="num_train must be an integer >= 1, got 0", fix=">= 1"),
    Case("negative-config-api", call=lambda p: TrainConfig(task="mqar", arch="gru", num_layers=-2),
         error=ConfigError, problem="num_layers must be at least 1, got -2", fix="at least 1"),
    Case("dropout-out-of-range", argv=[*TRAIN, "dropout=1.5"], problem="dropout must be in \\[0, 1\\)",
         fix="in \\[0, 1\\)"),
    Case("wrong-value-type", argv=[*TRAIN, "learning_rate=fast"], problem="learning_rate must be a number",
         fix="got 'fast'"),
    Case("steps-not-multiple", argv=[*TRAIN, "--steps", "10", "eval_every=3"],
         problem="steps \\(10\\) must be a multiple of eval_every \\(3\\)", fix="multiple of"),
    Case("bad-argparse-int", argv=[*TRAIN, "--epochs", "three"], problem="invalid int value: 'three'",
         fix="see kerasllm train --help"),
    # data files
    Case("pairs-no-tab", argv=PAIRS_TRAIN, setup=data_files("pairs", {"train.tsv": "a\tx\nno tab here\n"}),
         problem="train.tsv:2: no TAB", fix="Put exactly one TAB between the source and the target"),
    Case("pairs-empty-side", argv=PAIRS_TRAIN, setup=data_files("pairs", {"train.tsv": "a\tx\n \ty\n"}),
         problem="train.tsv:2: empty source", fix="Give every example a non-empty source and target"),
    Case("pairs-misaligned", argv=PAIRS_TRAIN,
         setup=data_files("pairs", {"train.src": "a\nb\nc\n", "train.tgt": "x\ny\n"}),
         problem="train.src has 3 lines but train.tgt has 2", fix="Make both files hold one line per example"),
    Case("pairs-no-files", argv=PAIRS_TRAIN, setup=data_files("pairs", {}), problem="pairs: no training pairs in",
         fix="Put train.tsv \\(source<TAB>target per line\\) or train.src \\+ train.tgt"),
    Case("multi30k-bad-language", argv=["train", "--task", "multi30k", "--arch", "gru", "task_options.src=xx"],
         problem="src='xx' is not a Multi30k language", fix="Use one of: en, de, fr, cs"),
    Case("scitldr-bad-json", argv=["train", "--task", "scitldr", "--arch", "gru", "--data-dir", "{data}"],
         setup=data_files("scitldr", {"SciTLDR-A/train.jsonl": "{broken\n", "SciTLDR-A/dev.jsonl": "{}",
                                      "SciTLDR-A/test.jsonl": "{}"}),
         problem="train.jsonl line 1: not valid JSON", fix="Fix or re-download the file"),
    Case("empty-dataset", argv=["train", "--task", "sst2", "--arch", "gru", "--data-dir", "{data}"],
         setup=sst2(train=SST2_HEADER), problem="train.tsv has a header but no rows", fix="Download the file again"),
    Case("empty-file", argv=["train", "--task", "sst2", "--arch", "gru", "--data-dir", "{data}"],
         setup=sst2(dev=b""), problem="dev.tsv is empty", fix="Download the file again"),
    Case("empty-dataset-api", call=lambda p: get_tokenizer("word").fit([]), error=DataError,
         problem="Cannot fit the 'word' tokenizer on empty text", fix="Check that the training split has examples"),
    Case("malformed-tsv-row", argv=["train", "--task", "sst2", "--arch", "gru", "--data-dir", "{data}"],
         setup=sst2(train=GOOD_TSV + "no label here\n"),
         problem="train.tsv line 4: expected 2 tab-separated fields", fix="Fix or re-download the file"),
    Case("malformed-csv-row", argv=["train", "--task", "ag_news", "--arch", "gru", "--data-dir", "{data}"],
         setup=ag_news('"1","Title","Body"\n"2","only a title"\n'),
         problem="train.csv line 2: expected 3 comma-separated fields", fix="Fix or re-download the file"),
    Case("undecodable-bytes", argv=["train", "--task", "sst2", "--arch", "gru", "--data-dir", "{data}"],
         setup=sst2(train=SST2_HEADER.encode() + b"a gem .\t1\ncaf\xe9 .\t0\n"),
         problem="train.tsv is not valid UTF-8 \\(byte 0xe9 .*line 3\\)", fix="Download the file again"),
    Case("label-out-of-range", argv=["train", "--task", "sst2", "--arch", "gru", "--data-dir", "{data}"],
         setup=sst2(dev=SST2_HEADER + "a gem .\t7\n"),
         problem="dev.tsv line 2: label '7' is not an integer in 0..1", fix="Fix or re-download the file"),
    Case("label-out-of-range-csv", argv=["train", "--task", "ag_news", "--arch", "gru", "--data-dir", "{data}"],
         setup=ag_news('"1","Title","Body"\n"5","Title","Body"\n'),
         problem="line 2: label '5' is not an integer in 1..4", fix="Fix or re-download the file"),
    Case("data-folder-missing-files", argv=["train", "--task", "sst2", "--arch", "gru", "--data-dir", "{data}"],
         setup=sst2(dev=None), problem="expected dev.tsv in", fix="Download GLUE SST-2 .* there"),
    # objectives on a task's text
    Case("objective-on-seq2seq-task", argv=["train", "--task", "mqar", "--arch", "gru", "--objective", "lm",
                                            *TINY[:6]],
         problem="--objective lm trains on the text of a classification or lm task; 'mqar' is a seq2seq task",
         fix="Remove --objective, or pick a classification or lm task"),
    Case("mlm-on-unidirectional-lstm", argv=[*TRAIN[:4], "lstm", "--objective", "mlm", *TINY, "--out", "{tmp}/out"],
         problem="MaskedLM needs a backbone that reads both ways", fix="Add arch_options.bidirectional=true"),
    # checkpoints and model files
    Case("checkpoint-from-another-arch", argv=["train", "--config", "{run}/config.json", "--out", "{run}"],
         setup=copied_run(swap=("checkpoints", "cnn"), unfinish=True),
         problem="holds a 'cnn' model but this run's arch is 'gru'", fix="Put back this run's own file"),
    Case("model-from-another-arch", argv=["evaluate", "{run}"], setup=copied_run(swap=("model.keras", "cnn")),
         problem="holds a 'cnn' model but this run's arch is 'gru'", fix="Put back this run's own file"),
    Case("model-from-another-vocabulary", call=lambda p: open_run(p["run"]), error=ModelFileError,
         setup=copied_run(swap="tokenizer"), problem="built for a vocabulary of \\d+ tokens but .* has \\d+",
         fix="Put back this run's own model and tokenizer.json"),
    Case("corrupt-model-file", call=lambda p: load_model(p["broken"]), error=ModelFileError,
         setup=file_with("broken.keras", b"PK\x03\x04 not really a zip"), problem="is not a .keras file \\(not a zip archive",
         fix="Use the run's own file"),
    Case("model-with-code", call=lambda p: load_model(p["model"]), error=ModelFileError, setup=lambda_model_file,
         problem="holds a Lambda layer", fix="Only load .keras files written by kerasllm"),
    Case("corrupt-state-json", argv=["train", "--config", "{run}/config.json", "--out", "{run}"],
         setup=corrupt_state, problem="state.json is not valid JSON", fix="choose a new --out"),
    Case("corrupt-tokenizer-json", call=lambda p: Tokenizer.load(p["tokenizer"]), error=DataError,
         setup=file_with("tokenizer.json", '{"name": "word", "config": {"vocab'),
         problem="is not a valid kerasllm tokenizer", fix="Restore the run's own tokenizer.json"),
    Case("evaluate-not-a-run", argv=["evaluate", "{tmp}"], problem="is not a finished kerasllm run",
         fix="Pass the folder that `kerasllm train` printed"),
    # run directories and disks
    Case("unwritable-out", argv=[*TRAIN, *TINY, "--out", "{locked}/run"], setup=unwritable,
         problem="Cannot write the run directory .*(Permission denied|Operation not permitted)",
         fix="Choose a writable --out"),
    Case("out-is-a-file", argv=[*TRAIN, *TINY, "--out", "{notes}"], setup=file_with("notes.txt", "hi"),
         problem="is a file, not a folder", fix="Choose a new --out"),
    Case("out-is-not-a-run", argv=[*TRAIN, *TINY, "--out", "{tmp}"], setup=file_with("notes.txt", "hi"),
         problem="exists and is not a kerasllm run directory", fix="Choose a new --out"),
    Case("out-has-another-config", argv=["train", "--config", "{run}/config.json", "--out", "{run}", "seed=7"],
         setup=copied_run(unfinish=True), problem="has a different config \\(seed\\)", fix="Use the same settings"),
    Case("full-disk-at-start", argv=[*TRAIN, *TINY, "--out", "{tmp}/out"], setup=full_disk_on_fsync,
         problem="Cannot write .*config.json: No space left on device", fix="Free some disk space"),
    Case("full-disk-api", call=lambda p: write_json_atomic(p["tmp"] / "out.json", {"a": 1}),
         error=DiskWriteError, setup=full_disk_on_fsync,
         problem="Cannot write .*out.json: No space left on device", fix="Free some disk space"),
    Case("full-disk-at-checkpoint", argv=[*TRAIN, *TINY, "--out", "{tmp}/out"], setup=full_disk_on_model_save,
         problem="Cannot write .*epoch-1.keras: No space left on device",
         fix="Free some disk space, then run the same command again", may_write=("out",)),
    Case("corrupt-json-api", call=lambda p: read_json(p["torn"]), error=CorruptFileError,
         setup=file_with("torn.json", '{"epoch": '), problem="torn.json is not valid JSON",
         fix="Restore it from a copy"),
    # training
    Case("nan-loss", argv=[*TRAIN, "--out", "{tmp}/out", *TINY, "--epochs", "2", "--hidden-dim", "16",
                           "learning_rate=1e12", "clipnorm=1e30"],
         problem="training loss became NaN", fix="Lower learning_rate", may_write=("out",)),
    # config files
    Case("config-file-missing", argv=["train", "--config", "{tmp}/nope.yaml"],
         problem="Cannot read config file .*nope.yaml", fix="Check the --config path"),
    Case("config-file-malformed", argv=["train", "--config", "{settings}"],
         setup=file_with("settings.yaml", "arch: [gru\n"), problem="is not valid YAML", fix="Fix it"),
    Case("config-file-runs-no-code", argv=["train", "--config", "{settings}"],
         setup=file_with("settings.yaml", "!!python/object/apply:os.system ['touch pwned']\n"),
         problem="is not valid YAML \\(could not determine a constructor", fix="plain `key: value` settings"),
    Case("config-file-unknown-key", argv=["train", "--config", "{settings}"],
         setup=file_with("settings.yaml", "task: mqar\narch: gru\nhiden_dim: 8\n"),
         problem="Unknown setting 'hiden_dim'", fix="Did you mean 'hidden_dim'"),
    # generation and scoring (a tiny language-model run)
    Case("unknown-sampler", argv=["generate", "{run}", "--prompt", "a", "--sampler", "topk"],
         setup=copied_run("lm"), problem="Unknown sampler 'topk'", fix="Did you mean 'top_k'"),
    Case("temperature-zero", argv=["generate", "{run}", "--prompt", "a", "--sampler", "temperature",
                                   "--temperature", "0"],
         setup=copied_run("lm"), problem="temperature must be a number > 0, got 0", fix="Use e.g. 0.8"),
    Case("top-p-above-1", argv=["generate", "{run}", "--prompt", "a", "--sampler", "top_p", "--p", "1.5"],
         setup=copied_run("lm"), problem="p must be in \\(0, 1\\], got 1.5", fix="Use e.g. p=0.9"),
    Case("top-p-zero-api", call=lambda p: get_sampler("top_p", p=0.0), error=ConfigError,
         problem="p must be in \\(0, 1\\], got 0.0", fix="Use e.g. p=0.9"),
    Case("k-above-vocabulary", argv=["generate", "{run}", "--prompt", "a", "--sampler", "top_k", "--k", "100000"],
         setup=copied_run("lm"), problem="k=100000 is larger than the vocabulary", fix="Use k <= "),
    Case("prompt-outside-vocabulary", argv=["generate", "{run}", "--prompt", ". \u20ac\u20ac"],
         setup=copied_run("lm"), problem="never saw: '\u20ac\u20ac'", fix="--allow-unknown"),
    Case("generate-from-a-classifier", argv=["generate", "{run}", "--prompt", "good"], setup=copied_run("gru"),
         problem="holds a TextClassifier .*not a language model", fix="Generate and score with a run of a "
                                                                     "language-modelling task"),
    Case("too-many-new-tokens", argv=["generate", "{run}", "--prompt", ".", "--max-new-tokens", "5000"],
         setup=copied_run("lm"), problem="learned position table stops at max_length=74",
         fix="Ask for at most 73 new tokens"),
    Case("score-missing-file", argv=["score", "{run}", "{tmp}/nope.txt"], setup=copied_run("lm"),
         problem="file to score .*nope.txt does not exist", fix="Check the path"),
    # pretrained word vectors (--embeddings)
    Case("embeddings-different-widths", argv=[*TRAIN, *TINY, "--embeddings", "{vectors}", "--out", "{tmp}/out"],
         setup=file_with("vectors.txt", "the 1 2 3\nnot 4 5\n"),
         problem=r"Line 2 of .*vectors\.txt has 2 numbers after its word, but line 1 has 3", fix="Fix or remove that line"),
    Case("embeddings-different-widths-api", call=lambda p: read_word_vectors(p["vectors"]), error=DataError,
         setup=file_with("vectors.vec", "2 3\nthe 1 2 3\nnot 4 5 6 7\n"),
         problem=r"Line 3 of .*vectors\.vec has 4 numbers .* but the header \(line 1\) has 3",
         fix="Fix or remove that line"),
    Case("embeddings-missing-file", argv=[*TRAIN, *TINY, "--embeddings", "{tmp}/glove.txt", "--out", "{tmp}/out"],
         problem=r"Word-vector file .*glove\.txt does not exist", fix="Pass the path of a GloVe, word2vec or fastText"),
    Case("embeddings-empty-file", argv=[*TRAIN, *TINY, "--embeddings", "{vectors}", "--out", "{tmp}/out"],
         setup=file_with("vectors.txt", ""), problem=r"vectors\.txt holds no vectors",
         fix="Pass a GloVe, word2vec or fastText"),
    Case("embeddings-without-word-tokenizer", argv=[*TRAIN, *TINY, "--tokenizer", "char", "--embeddings", "{vectors}",
                                                    "--out", "{tmp}/out"],
         setup=file_with("vectors.txt", "the 1 2 3\nnot 4 5 6\n"),
         problem="--embeddings needs the word tokenizer, but this run uses the 'char' tokenizer",
         fix="Set tokenizer=word, or drop --embeddings"),
]


# ------------------------------------------------------------------------------------------ the checks
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished tiny runs with the same settings and vocabulary, a GRU and a CNN, and a tiny
    language model ("lm", a GRU with learned positions on selective_copy) for the generation cases."""
    root = tmp_path_factory.mktemp("finished")
    for arch in ("gru", "cnn"):
        Trainer({**TINY_CONFIG, "arch": arch}, run_dir=root / arch).fit()
    Trainer({**TINY_CONFIG, "task": "selective_copy", "arch": "gru", "position": "learned"}, run_dir=root / "lm").fit()
    return {"gru": root / "gru", "cnn": root / "cnn", "lm": root / "lm"}


def tree(root):
    """Every path under `root` with its size and modification time (what a case may not change)."""
    return {p.relative_to(root).as_posix(): (p.is_dir(), p.is_file() and p.stat().st_size,
                                             p.is_file() and p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_catalogue_has_at_least_25_cases():
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case, tmp_path, monkeypatch, capsys, request):
    monkeypatch.chdir(tmp_path)  # the default --out (./runs/...) lands here too
    finished = lambda: request.getfixturevalue("runs")  # noqa: E731  (trained only for the cases that use it)
    paths = {"tmp": tmp_path, **(case.setup(tmp_path, monkeypatch, finished) if case.setup else {})}
    before = tree(tmp_path)

    if case.argv is not None:
        argv = [arg.format(**paths) for arg in case.argv]
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse
            code = exit.code
        out, err = capsys.readouterr()
        assert code == 2, f"exit code {code}; stderr: {err}"
        assert "Traceback" not in err and "Traceback" not in out
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        message = lines[0]
    else:
        with pytest.raises(case.error) as raised:
            case.call(paths)
        message = str(raised.value)
        assert "\n" not in message.strip(), message
    print(f"{case.id}: {message}")  # the catalogue of messages: pytest -s -q tests/test_bad_input_catalogue.py
    assert re.search(case.problem, message), message
    assert re.search(case.fix, message), message

    monkeypatch.undo()  # real os.fsync / Model.save again for the checks below
    after = tree(tmp_path)
    changed = {path for path in set(before) | set(after) if before.get(path) != after.get(path)}
    allowed = [path for path in changed if any(path == w or path.startswith(w + "/") for w in case.may_write)]
    assert sorted(changed - set(allowed)) == [], "files changed or left behind"
    assert [p for p in tmp_path.rglob("*") if ".tmp" in p.name or p.name.endswith(".part")] == []
    for path in changed:
        if path.endswith(".json") and (tmp_path / path).exists():
            json.loads((tmp_path / path).read_text())
    for state_path in [tmp_path / path for path in changed if path.endswith("checkpoints/state.json")]:
        state = json.loads(state_path.read_text())
        for name in {state["last_checkpoint"], state["best_checkpoint"]}:
            assert (state_path.parent / name).is_file()
    assert not (tmp_path / "pwned").exists()
