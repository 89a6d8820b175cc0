"""`kerasllm generate` and `kerasllm score` on a real (trimmed) Penn Treebank run."""

import json

import pytest

from kerasllm import cli
from kerasllm.config import TrainConfig
from kerasllm.training import Trainer


@pytest.fixture(scope="module")
def ptb_run(shared_data, tmp_path_factory):
    """A tiny LSTM language model trained for a few steps on the first lines of PTB."""
    data_dir = tmp_path_factory.mktemp("data")
    (data_dir / "ptb").mkdir()
    for name, lines in (("ptb.train.txt", 3000), ("ptb.valid.txt", 200), ("ptb.test.txt", 300)):
        text = (shared_data / "ptb" / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (data_dir / "ptb" / name).write_text("".join(text[:lines]), encoding="utf-8")
    run_dir = tmp_path_factory.mktemp("runs") / "ptb-lstm"
    config = TrainConfig(task="ptb", arch="lstm", data_dir=str(data_dir), hidden_dim=32, num_layers=1,
                         max_length=24, batch_size=16, steps=40, dropout=0.0, learning_rate=3e-3,
                         jit_compile=False)
    Trainer(config, run_dir=run_dir).fit()
    return run_dir, data_dir


def _run(capsys, *argv):
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def test_score_agrees_with_evaluate(ptb_run, capsys):
    run_dir, data_dir = ptb_run
    code, out, _ = _run(capsys, "evaluate", run_dir, "--split", "test")
    assert code == 0
    evaluated = json.loads(out)
    code, out, _ = _run(capsys, "score", run_dir, data_dir / "ptb" / "ptb.test.txt")
    assert code == 0
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert rows[0][:4] == ["line", "tokens", "log_likelihood", "perplexity"]
    assert len(rows) == 1 + 300 + 1  # header, one row per line, the corpus row
    corpus = rows[-1]
    assert corpus[0] == "corpus"
    assert float(corpus[3]) == pytest.approx(evaluated["perplexity"], rel=1e-4)
    assert sum(int(row[1]) for row in rows[1:-1]) == int(corpus[1])


def test_generate_prints_the_same_greedy_text_with_and_without_the_cache(ptb_run, capsys):
    run_dir, _ = ptb_run
    argv = ["generate", run_dir, "--prompt", "the company said", "--max-new-tokens", 12, "--ignore-eos"]
    code, cached, _ = _run(capsys, *argv)
    assert code == 0 and cached.startswith("the company said")
    assert len(cached.split()) > 3
    code, recomputed, _ = _run(capsys, *argv, "--no-cache")
    assert code == 0 and recomputed == cached


def test_generate_samples_with_a_seed_and_several_prompts(ptb_run, capsys, tmp_path):
    run_dir, _ = ptb_run
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("the market\nshares of\n", encoding="utf-8")
    argv = ["generate", run_dir, "--prompts-file", prompts, "--sampler", "top_p", "--p", "0.9",
            "--seed", "3", "--num-samples", "2", "--max-new-tokens", 6]
    code, first, _ = _run(capsys, *argv)
    assert code == 0
    assert first.count("=== prompt") == 4 and "=== prompt 2, sample 2 ===\nshares of" in first
    code, again, _ = _run(capsys, *argv)
    assert again == first


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--prompt", "the", "--sampler", "nucleus"], "Unknown sampler 'nucleus'"),
        (["--prompt", "the", "--sampler", "top_p", "--p", "1.5"], r"p must be in (0, 1]"),
        (["--prompt", "the", "--sampler", "top_k", "--k", "999999"], "larger than the vocabulary"),
        (["--prompt", "the", "--sampler", "temperature", "--temperature", "0"], "temperature must be a number > 0"),
        (["--prompt", "the zyzzyvaq"], "never saw: 'zyzzyvaq'"),
        (["--prompts-file", "/nonexistent/prompts.txt"], "does not exist"),
        ([], "needs --prompt"),
    ],
)
def test_bad_generate_requests_exit_2_with_one_line(ptb_run, capsys, argv, message):
    run_dir, _ = ptb_run
    code, _, err = _run(capsys, "generate", run_dir, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_generate_refuses_a_classification_run(tmp_path, capsys):
    run_dir = tmp_path / "clf"
    config = TrainConfig(task="negation_sentiment", arch="bow", hidden_dim=8, num_layers=1, steps=2,
                         batch_size=8)
    Trainer(config, run_dir=run_dir).fit()
    code, _, err = _run(capsys, "generate", run_dir, "--prompt", "not good")
    assert code == 2 and "not a language model" in err and "--objective lm" in err
