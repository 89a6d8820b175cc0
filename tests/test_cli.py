"""The CLI: listing, errors as one line with exit code 2, train then evaluate."""

import json
import subprocess
import sys

import pytest

from kerasllm.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_archs_and_tasks_list_everything(capsys):
    code, out, _ = run(capsys, "archs")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()][:6] == ["bow", "rnn", "gru", "lstm", "cnn", "transformer"]
    code, out, _ = run(capsys, "tasks")
    names = {line.split()[0] for line in out.splitlines()}
    assert {"mqar", "listops", "selective_copy", "negation_sentiment", "sst2", "imdb", "ag_news",
            "tiny_shakespeare", "ptb", "wikitext2"} <= names


@pytest.mark.parametrize("argv, message", [
    (["train", "--task", "negation_sentiment", "--arch", "lstn"], "Did you mean 'lstm'?"),
    (["train", "--task", "negation_sentimnt", "--arch", "lstm"], "Did you mean 'negation_sentiment'?"),
    (["train", "--task", "sst2", "--arch", "cnn", "--data-dir", "/nonexistent"], "--data-dir"),
    (["train", "--task", "mqar", "--arch", "cnn", "--hidden-dim", "0"], "hidden_dim must be at least 1"),
    (["train", "--task", "mqar", "--arch", "cnn", "warmup=3"], "Unknown setting 'warmup'"),
    (["train", "--arch", "cnn"], "needs --task and --arch"),
    (["evaluate", "/nonexistent/run"], "not a finished kerasllm run"),
])
def test_user_errors_are_one_line_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # nothing half-made is left behind


def test_argparse_errors_are_one_line_too():
    result = subprocess.run([sys.executable, "-m", "kerasllm", "train", "--epochs", "x"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid int value" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_train_then_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "--task", "negation_sentiment", "--arch", "cnn", "--epochs", "1",
                            "--hidden-dim", "16", "--num-layers", "1", "--out", str(out),
                            "task_options.num_train=64", "task_options.num_test=32", "task_options.num_validation=32")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    code, stdout, _ = run(capsys, "evaluate", str(out), "--split", "test")
    assert code == 0
    assert json.loads(stdout)["accuracy"] == pytest.approx(metrics["test_accuracy"])
    code, _, err = run(capsys, "train", "--task", "negation_sentiment", "--arch", "cnn", "--out", str(out))
    assert code == 2 and "never overwritten" in err


def test_every_command_has_help():
    for command in ["train", "evaluate", "archs", "tasks"]:
        result = subprocess.run([sys.executable, "-m", "kerasllm", command, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "usage:" in result.stdout
