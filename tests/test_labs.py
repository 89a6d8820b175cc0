"""The lab checker: references pass, untouched starters fail with their TODO hint, mistakes get the right hint."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from kerasllm.cli import main
from kerasllm.errors import ConfigError, UnknownNameError
from kerasllm.labs import LABS, check_lab, get_lab, list_labs

ROOT = pathlib.Path(__file__).resolve().parents[1]
STARTERS = ROOT / "docs" / "labs" / "starters"
MISTAKES = pathlib.Path(__file__).resolve().parent / "lab_mistakes.py"

STARTER_CLASSES = {
    "rnn": "rnn_cell.py:MyRNNCell", "lstm": "lstm_cell.py:MyLSTMCell", "gru": "gru_cell.py:MyGRUCell",
    "attention": "scaled_dot_product_attention.py:MyAttention",
    "multi_head_attention": "multi_head_attention.py:MyMultiHeadAttention",
    "causal_conv": "causal_conv_block.py:MyCausalConvBlock", "sampling": "nucleus_sampler.py:MyNucleusSampler",
    "bpe": "bpe_merge_step.py:MyMergeStep", "cross_attention": "cross_attention.py:MyCrossAttention",
    "perplexity": "perplexity.py:MyPerplexity",
}

# (lab, wrong class in tests/lab_mistakes.py, the check that must fail, words its hint must contain)
MISTAKE_CASES = [
    ("rnn", "RNNWithoutBias", "equals the Keras cell", "the output at t=0 ignores the bias"),
    ("rnn", "RNNWithoutConfig", "get_config", "get_config() lacks units"),
    ("rnn", "RNNThroughNumpy", "gradients", "no gradient reaches"),
    ("lstm", "LSTMWrongGateOrder", "equals the Keras cell", "Keras packs them as i, f, c, o"),
    ("gru", "GRUPaperMix", "equals the Keras cell", "Keras keeps the old state with z"),
    ("attention", "UnscaledAttention", "dot_product_attention", "not scaled"),
    ("attention", "UnmaskedAttention", "padding mask", "padded positions change the output: the mask is not applied"),
    ("attention", "SoftmaxOverQueries", "sum to 1", "attention weights do not sum to 1 over the keys"),
    ("multi_head_attention", "MultiHeadScaledByWidth", "MultiHeadAttention with the same", "sqrt(head_dim)"),
    ("causal_conv", "CenteredConvBlock", "causal", "the output at t depends on t + 1"),
    ("sampling", "NucleusOneShort", "nucleus", "the nucleus is one token short"),
    ("sampling", "UniformNucleus", "proportion", "drawn uniformly"),
    ("bpe", "LargestPairOnTies", "ties", "smallest pair"),
    ("bpe", "OverlappingMerge", "left to right", "'a a a' becomes 'aa a'"),
    ("bpe", "UnweightedCounts", "as often as its word", "counted once per word"),
    ("perplexity", "PerBatchPerplexity", "weighted per token", "averaged per batch instead of per token"),
    ("perplexity", "PaddingCounted", "padding", "padded tokens are counted: sample_weight is ignored"),
    ("perplexity", "PaddingInTheCount", "padding", "the token count includes the padding"),
    ("perplexity", "MaskTokenIgnored", "mask_token_id", "mask_token_id is ignored"),
    ("perplexity", "LogOfSoftmax", "underflows", "log of zero"),
    ("perplexity", "LogitsAsProbabilities", "one batch", "y_pred are logits, not probabilities"),
    ("perplexity", "MeanNLLNotPerplexity", "one batch", "result() returns the mean NLL"),
    ("perplexity", "ForgetsToResetTheCount", "reset_state", "still depends on the batches before it"),
    ("perplexity", "PerplexityWithoutConfig", "get_config", "get_config() lacks mask_token_id"),
    ("perplexity", "PythonTotals", "model.evaluate", "no numpy, float() or Python totals"),
]


def test_there_are_ten_labs_in_order():
    assert list_labs() == ["rnn", "lstm", "gru", "attention", "multi_head_attention", "causal_conv", "sampling",
                           "bpe", "cross_attention", "perplexity"]
    assert [LABS.get(name).number for name in list_labs()] == [f"0{i}" for i in range(1, 10)] + ["10"]
    for name in list_labs():
        assert (STARTERS / LABS.get(name).starter).is_file()
        assert STARTER_CLASSES[name].split(":")[0] == LABS.get(name).starter


@pytest.mark.parametrize("lab", list(STARTER_CLASSES))
def test_reference_passes_every_check(lab):
    report = check_lab(lab, get_lab(lab).reference, train=False)
    assert report.passed, "\n".join(report.lines())
    assert len(report.results) >= 5


@pytest.mark.parametrize("lab", list(STARTER_CLASSES))
def test_untouched_starter_fails_with_its_todo_hint(lab):
    report = check_lab(lab, f"{STARTERS / STARTER_CLASSES[lab]}", train=False)
    assert not report.passed
    first = report.failures()[0]
    assert first.status == "FAIL" and "TODO" in first.hint and "Fill in the TODOs" in first.hint, first.line()
    assert f"of {STARTER_CLASSES[lab].split(':')[0]})" in first.hint  # names the line of the starter


@pytest.mark.parametrize("lab, name, check_title, hint", MISTAKE_CASES, ids=[c[1] for c in MISTAKE_CASES])
def test_a_wrong_solution_is_caught_with_the_right_hint(lab, name, check_title, hint):
    report = check_lab(lab, f"{MISTAKES}:{name}", train=False)
    failed = [r for r in report.results if r.status == "FAIL"]
    assert failed, "\n".join(report.lines())
    assert check_title in failed[0].title, "\n".join(report.lines())
    assert hint in failed[0].hint, failed[0].line()


def test_cli_prints_a_line_per_check_and_exits_1_on_failure(capsys):
    code = main(["lab", "check", "rnn", f"{MISTAKES}:RNNWithoutBias", "--no-train"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[3].startswith("FAIL  one step equals the Keras cell") and "ignores the bias" in out[3]
    assert [line[:4] for line in out[:3]] == ["PASS"] * 3 and len(out) == 8  # 7 checks, then the summary
    assert out[-1] == "lab rnn: 3 of 7 checks did not pass"  # no bias: wrong values, and no gradient reaches it
    code = main(["lab", "check", "gru", "kerasllm.labs.reference.cells:GRUCell", "--no-train"])
    assert code == 0 and capsys.readouterr().out.splitlines()[-1] == "lab gru: all checks pass"


def test_cli_lists_the_labs_with_their_conventions(capsys):
    assert main(["lab", "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("convention:") == 10 and "keras.layers.SimpleRNNCell" in out and "TopPSampler" in out


@pytest.mark.parametrize("argv, message", [
    (["lab", "check", "rn", "x.py:A"], "Did you mean 'rnn'?"),
    (["lab", "check", "rnn", "missing_file.py:MyCell"], "No such file: missing_file.py"),
    (["lab", "check", "rnn", f"{MISTAKES}:RNNWithoutBiass"], "Did you mean 'RNNWithoutBias'?"),
    (["lab", "check", "rnn", "MyCell"], "Expected an import path like path/to/file.py:ClassName"),
])
def test_cli_user_errors_are_one_line_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_file_that_fails_to_import_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("import keras\nclass Cell(keras.layers.Layer:\n    pass\n")
    with pytest.raises(ConfigError, match="Importing .*broken.py failed: SyntaxError"):
        check_lab("rnn", f"{bad}:Cell", train=False)
    with pytest.raises(UnknownNameError):
        get_lab("transformer")



# --------------------------------------------------------- lab 10's metric in a real run: lm_metric=file.py:Class
STUDENT_METRIC = '''from kerasllm.labs.reference import TokenPerplexity


class MyPerplexity(TokenPerplexity):
    def __init__(self, mask_token_id=None, name="my_perplexity", **kwargs):
        super().__init__(mask_token_id=mask_token_id, name=name, **kwargs)
'''


def test_lm_metric_logs_the_students_perplexity_next_to_the_built_in_one(tmp_path, capsys):
    """`kerasllm train ... lm_metric=FILE.py:Class` logs validation_<name> = validation_perplexity; the run names
    code, so `kerasllm evaluate` opens it only with --trust-code, and then reports the metric again."""
    student = tmp_path / "my_perplexity.py"
    student.write_text(STUDENT_METRIC)
    run_dir = tmp_path / "run"
    code = main(["train", "--task", "selective_copy", "--arch", "gru", "--steps", "4", "--hidden-dim", "8",
                 "--num-layers", "1", "--batch-size", "8", "--out", str(run_dir), "jit_compile=false",
                 "task_options.num_train=32", "task_options.num_validation=8", "task_options.num_test=8",
                 f"lm_metric={student}:MyPerplexity"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert metrics[f"{split}_my_perplexity"] == pytest.approx(metrics[f"{split}_perplexity"], rel=1e-4)
    capsys.readouterr()
    assert main(["evaluate", str(run_dir)]) == 2
    assert "--trust-code" in capsys.readouterr().err
    # In a new process, where only the run's config.json can say which file holds the metric the model names:
    done = subprocess.run([sys.executable, "-m", "kerasllm", "evaluate", str(run_dir), "--trust-code"],
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    evaluated = json.loads(done.stdout)
    assert evaluated["my_perplexity"] == pytest.approx(metrics["test_my_perplexity"], rel=1e-4)


def test_lm_metric_is_code_a_config_names_and_is_refused_where_it_cannot_work(tmp_path):
    from kerasllm.config import TrainConfig
    from kerasllm.training.metrics import extra_metric, metrics_for

    config = TrainConfig(task="ptb", arch="lstm", lm_metric="my_perplexity.py:MyPerplexity")
    assert config.import_paths() == ["my_perplexity.py:MyPerplexity"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    with pytest.raises(ConfigError, match="--trust-code"):
        TrainConfig.from_file(path)
    assert TrainConfig.from_file(path, trust_code=True).lm_metric == "my_perplexity.py:MyPerplexity"
    with pytest.raises(ConfigError, match="lm_metric .* is for lm and seq2seq tasks"):
        metrics_for("classification", 2, extra="kerasllm.labs.reference:TokenPerplexity")
    with pytest.raises(ConfigError, match="named 'perplexity', which a run already logs"):
        extra_metric("keras_hub.metrics:Perplexity")
    with pytest.raises(ConfigError, match="not a keras.metrics.Metric"):
        extra_metric("kerasllm.labs.reference:GRUCell")
    names = [metric.name for metric in metrics_for("lm", extra="kerasllm.labs.reference:TokenPerplexity")]
    assert names == ["cross_entropy", "perplexity", "token_accuracy", "token_perplexity"]
