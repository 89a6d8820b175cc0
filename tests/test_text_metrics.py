"""Text metrics (kerasllm/training/text_metrics.py) and the text baselines `copy` and `lead`
(kerasllm/training/baselines/text_copy.py).

BLEU and chrF are checked against sacrebleu's own command line on files written here; ROUGE against what
rouge-score's multi-reference convention and stemming must give; the baselines on tiny tasks registered by
the tests, for their scores, their run directory and their metric names (those of tfidf_lr's rows).
"""

import json
import subprocess
import sys

import pytest
from sacrebleu.metrics import BLEU

from kerasllm.cli import main
from kerasllm.config import TrainConfig
from kerasllm.data.base import TASKS, Split, Task, TaskInfo
from kerasllm.errors import ConfigError, RunDirectoryError, UnknownNameError
from kerasllm.training.baselines import BASELINES, plans_on, train_copy, train_lead, train_tfidf_lr
from kerasllm.training.baselines.text_copy import first_sentence
from kerasllm.training.text_metrics import TEXT_METRICS, corpus_scores, reference_streams, text_metrics_for

HYPOTHESES = [
    "The cat sat on the mat.",
    "A man is riding a horse on the beach.",
    "Two dogs play in the snow, chasing a red ball.",
    "The children are playing football in a park.",
    "She reads a book under the old tree.",
]
REFERENCES = [
    "The cat is sitting on the mat.",
    "A man rides a horse along the beach.",
    "Two dogs are playing in the snow with a ball.",
    "Children play soccer in the park.",
    "A woman is reading a book beneath an old tree.",
]
SECOND_REFERENCES = [
    "There is a cat on the mat.",
    "A horse and its rider on a beach.",
    "Two dogs chase a red ball through the snow.",
    "Kids are playing football in a park.",
    "She is reading under the old tree.",
]


def sacrebleu_cli(tmp_path, metric, *reference_lists):
    """sacrebleu's command line on files of HYPOTHESES and each reference list: the score, 2 decimals."""
    hypothesis_file = tmp_path / "hypotheses.txt"
    hypothesis_file.write_text("\n".join(HYPOTHESES) + "\n", encoding="utf-8")
    reference_files = []
    for index, references in enumerate(reference_lists):
        reference_files.append(tmp_path / f"references{index}.txt")
        reference_files[-1].write_text("\n".join(references) + "\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "sacrebleu", *map(str, reference_files), "-i", str(hypothesis_file),
                             "-m", metric, "-b", "-w", "2"], capture_output=True, text=True, check=True, timeout=120)
    return float(result.stdout.strip())


# ------------------------------------------------------------------ BLEU and chrF: sacrebleu's command line
@pytest.mark.parametrize("metric", ["bleu", "chrf"])
def test_one_reference_scores_as_sacrebleus_command_line(tmp_path, metric):
    scores = corpus_scores(HYPOTHESES, [[reference] for reference in REFERENCES], metrics=(metric,))
    assert 0 < scores[metric] < 100
    assert round(scores[metric], 2) == sacrebleu_cli(tmp_path, metric, REFERENCES)
    assert scores[f"{metric}_signature"].startswith("nrefs:1|case:mixed|")
    assert set(scores) == {metric, f"{metric}_signature"}


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
def test_two_references_score_as_sacrebleus_command_line(tmp_path, metric):
    references = [list(pair) for pair in zip(REFERENCES, SECOND_REFERENCES)]
    scores = corpus_scores(HYPOTHESES, references, metrics=(metric,))
    assert round(scores[metric], 2) == sacrebleu_cli(tmp_path, metric, REFERENCES, SECOND_REFERENCES)
    assert scores[f"{metric}_signature"].startswith("nrefs:2|")
    single = corpus_scores(HYPOTHESES, [[reference] for reference in REFERENCES], metrics=(metric,))
    assert scores[metric] > single[metric]  # the second reference matches more


def test_the_default_bleu_is_13a_with_exp_smoothing_and_both_signatures_come_back():
    scores = corpus_scores(HYPOTHESES, [[reference] for reference in REFERENCES])
    assert set(scores) == {"bleu", "bleu_signature", "chrf", "chrf_signature"}
    assert "|tok:13a|smooth:exp|" in scores["bleu_signature"] and "|nc:6|nw:0|" in scores["chrf_signature"]
    assert scores["bleu"] == pytest.approx(BLEU().corpus_score(HYPOTHESES, [REFERENCES]).score)


def test_missing_references_are_left_out_not_scored_as_empty():
    """An example with fewer references gets None in the later streams, which sacrebleu drops: the same score
    as repeating one of its own references (an empty one would shorten BLEU's closest reference length)."""
    hypotheses = ["a b c d e f", "g h i j k l m n", "o p"]
    references = [["a b c d e f"], ["g h i j k l m n", "g h i j"], ["o p q r"]]
    assert reference_streams(references) == [["a b c d e f", "g h i j k l m n", "o p q r"],
                                             [None, "g h i j", None]]
    variable = corpus_scores(hypotheses, references)
    repeated = corpus_scores(hypotheses, [refs + refs[:1] * (2 - len(refs)) for refs in references])
    assert variable["bleu"] == pytest.approx(repeated["bleu"]) and variable["chrf"] == pytest.approx(repeated["chrf"])
    assert variable["bleu_signature"].startswith("nrefs:var|") and repeated["bleu_signature"].startswith("nrefs:2|")
    empty_padded = BLEU().corpus_score(hypotheses, [[refs[0] for refs in references],
                                                    [refs[1] if len(refs) > 1 else "" for refs in references]])
    assert empty_padded.score != pytest.approx(variable["bleu"])


# ------------------------------------------------------------------ ROUGE
def test_rouge_takes_the_best_reference_of_each_example_and_averages_over_examples():
    hypotheses = ["the quick brown fox jumps", "a completely different sentence here"]
    references = [["nothing in common at all", "the quick brown fox jumps"], ["zzz yyy xxx"]]
    scores = corpus_scores(hypotheses, references, metrics=("rouge1", "rouge2", "rougeL"))
    assert scores == {"rouge1": 50.0, "rouge2": 50.0, "rougeL": 50.0}  # (100 + 0) / 2 for each
    first = corpus_scores(hypotheses[:1], references[:1], metrics=text_metrics_for("rouge1"))
    assert first == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}


def test_rouge_stems_and_ignores_case():
    scores = corpus_scores(["The dogs were running"], [["the dog runs"]], metrics=("rouge1",))
    assert scores["rouge1"] == pytest.approx(100 * 2 * (3 / 4) * 1.0 / (3 / 4 + 1.0))  # the, dog, run of 4 and 3
    assert corpus_scores(["Dogs RUNNING"], [["dog runs"]], metrics=("rouge1", "rougeL")) == \
        {"rouge1": 100.0, "rougeL": 100.0}


# ------------------------------------------------------------------ names and bad input
def test_the_registry_names_the_metrics_and_a_typo_gets_a_did_you_mean():
    assert TEXT_METRICS.names() == ["bleu", "chrf", "rouge1", "rouge2", "rougeL"]
    assert text_metrics_for("bleu") == ("bleu", "chrf") and text_metrics_for("accuracy") == ()
    with pytest.raises(UnknownNameError, match="Unknown text metric 'rougel'. Did you mean 'rougeL'?"):
        corpus_scores(["a"], [["a"]], metrics=("bleu", "rougel"))


@pytest.mark.parametrize("hypotheses, references, message", [
    ([], [], "No hypotheses to score"),
    (["a", "b"], [["a"]], "2 hypotheses but 1 reference lists"),
    (["a"], [[]], "Example 0 has references"),
    (["a"], [["a", None]], "Example 0 has references"),
    ([["a"]], [["a"]], "Hypothesis 0 is a list, not a string"),
])
def test_bad_input_is_refused_in_one_line(hypotheses, references, message):
    with pytest.raises(ConfigError, match=message):
        corpus_scores(hypotheses, references)


# ------------------------------------------------------------------ the baselines, on tiny tasks
SOURCES = ["A dog runs on the beach. It is sunny! The sea is calm.",
           "We train a small model? Results follow.",
           "One sentence and no final stop"]


def tiny_task(name, metric, targets=None, references=None, sentences=None, extra=()):
    """A seq2seq task class named `name` whose every split has SOURCES as sources."""

    class Tiny(Task):
        """A tiny seq2seq task for the tests."""

        info = TaskInfo(name=name, kind="seq2seq", metric=metric, extra_test_splits=tuple(extra))

        def __init__(self, data_dir=None):
            super().__init__()

        def _load_split(self, split_name):
            return Split(texts=list(SOURCES), targets=list(targets or SOURCES), references=references)

    if sentences is not None:
        Tiny.source_sentences = lambda self, split_name: sentences
    return Tiny


@pytest.fixture
def register(monkeypatch):
    """Registers a tiny task for the test only."""

    def register_tiny(name, *args, **kwargs):
        monkeypatch.setitem(TASKS._entries, name, tiny_task(name, *args, **kwargs))
        return name

    return register_tiny


def test_copy_scores_bleu_100_where_targets_are_the_sources_with_tfidf_lrs_files_and_names(register, tmp_path):
    task = register("test_echo", "bleu", extra=("test_extra",))
    logged = []
    metrics = train_copy({"task": task, "arch": "copy"}, run_dir=tmp_path / "run", log=logged.append)
    for split in ("validation", "test", "test_extra"):
        assert metrics[f"{split}_bleu"] == pytest.approx(100.0) and metrics[f"{split}_chrf"] == pytest.approx(100.0)
        assert metrics[f"{split}_seconds"] >= 0
        assert metrics[f"{split}_bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|")
    assert sorted(k for k in metrics if k.startswith("test_")) == [
        "test_bleu", "test_bleu_signature", "test_chrf", "test_chrf_signature", "test_extra_bleu",
        "test_extra_bleu_signature", "test_extra_chrf", "test_extra_chrf_signature", "test_extra_seconds",
        "test_seconds"]

    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "manifest.json", "metrics.json"]
    assert json.loads((run / "metrics.json").read_text()) == metrics
    config = TrainConfig.from_file(run / "config.json")
    assert (config.task, config.arch) == (task, "copy")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"] == config.to_dict() and manifest["parameters"] == 0
    assert {"sacrebleu", "rouge-score"} <= set(manifest["versions"])
    # tfidf_lr's keys, but its own (C, ...), with the text metrics in place of accuracy, macro_f1 and loss
    tfidf = train_tfidf_lr({"task": "negation_sentiment", "arch": "tfidf_lr", "arch_options": {"c_grid": [1.0]},
                            "task_options": {"num_train": 100, "num_validation": 20, "num_test": 20}},
                           run_dir=tmp_path / "tfidf")
    split_free = lambda keys: {k for k in keys if not k.startswith(("validation_", "test_"))}  # noqa: E731
    assert split_free(metrics) == split_free(tfidf) - {"C", "C_grid", "C_grid_validation_accuracy", "features"}
    assert {"validation_seconds", "test_seconds"} <= set(metrics) & set(tfidf)
    assert (metrics["task"], metrics["arch"], metrics["seed"], metrics["headline_metric"]) == (task, "copy", 0, "bleu")
    assert (metrics["parameters"], metrics["steps"], metrics["epochs"], metrics["best_epoch"]) == (0, 0, None, None)
    assert metrics["examples"] == {"train": 3, "validation": 3, "test": 3, "test_extra": 3}
    assert logged[0] == f"run directory: {run}" and logged[1].startswith("validation: bleu 100.00, chrf 100.00")
    with pytest.raises(RunDirectoryError, match="is finished; it is never overwritten"):
        train_copy({"task": task, "arch": "copy"}, run_dir=run)


def test_lead_outputs_the_first_sentence_and_scores_rouge_against_every_reference(register, tmp_path):
    assert [first_sentence(source) for source in SOURCES] == [
        "A dog runs on the beach.", "We train a small model?", "One sentence and no final stop"]
    assert first_sentence("  Ends here.\nNext line.") == "Ends here." and first_sentence("3.5 is a number.") == \
        "3.5 is a number."
    leads = [first_sentence(source) for source in SOURCES]
    references = [["unrelated words entirely", leads[0]], [leads[1]], ["zzz", "yyy", leads[2]]]
    task = register("test_tldr", "rouge1", targets=["x"] * 3, references=references)
    metrics = train_lead({"task": task, "arch": "lead"}, run_dir=tmp_path / "run")
    for split in ("validation", "test"):
        assert [metrics[f"{split}_{m}"] for m in ("rouge1", "rouge2", "rougeL")] == [100.0, 100.0, 100.0]
    assert metrics["headline_metric"] == "rouge1" and not any(key.endswith("_signature") for key in metrics)
    assert not any(key.endswith(("_bleu", "_chrf")) for key in metrics)
    copied = train_copy({"task": task, "arch": "copy"}, run_dir=tmp_path / "copy")  # the whole source: lower
    assert copied["test_rouge1"] < metrics["test_rouge1"]


def test_lead_takes_the_tasks_own_first_sentence_when_it_splits_its_sources(register, tmp_path):
    sentences = [["A dog runs on the beach. It is sunny!", "The sea is calm."], ["We train"], []]
    task = register("test_sentences", "rouge1", targets=["A dog runs on the beach. It is sunny!", "We train",
                                                         "nothing"], sentences=sentences)
    metrics = train_lead({"task": task, "arch": "lead"}, run_dir=tmp_path / "run")
    assert metrics["test_rouge1"] == pytest.approx(200 / 3)  # two exact, the empty one 0


def test_tasks_not_scored_on_text_and_arch_options_are_refused_before_writing(register, tmp_path):
    task = register("test_options", "bleu")
    for train, name in ((train_copy, "copy"), (train_lead, "lead")):
        with pytest.raises(ConfigError, match=f"{name} is scored on text .BLEU or ROUGE.; 'mqar' is scored by "
                                              "token_accuracy"):
            train({"task": "mqar", "arch": name}, run_dir=tmp_path / "mqar")
        with pytest.raises(ConfigError, match=f"{name} is a baseline for seq2seq tasks; 'sst2' is a classification"):
            train({"task": "sst2", "arch": name}, run_dir=tmp_path / "sst2")
        with pytest.raises(ConfigError, match=f"Unknown arch_options key 'num_heads' of {name}"):
            train({"task": task, "arch": name, "arch_options": {"num_heads": 2}},
                  run_dir=tmp_path / "options")
    assert not any(tmp_path.iterdir())


def test_registered_for_seq2seq_and_run_by_the_cli(register, tmp_path, capsys):
    assert BASELINES.get("copy").kinds == BASELINES.get("lead").kinds == ("seq2seq",)
    # planned only on tasks scored on text: not on mqar (token accuracy), nor on a classification
    assert plans_on("lead", "scitldr") and not plans_on("lead", "mqar") and not plans_on("copy", "sst2")
    task = register("test_cli_echo", "bleu")
    out = tmp_path / "run"
    assert main(["train", "--task", task, "--arch", "copy", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"run directory: {out}\nvalidation: bleu 100.00")
    assert json.loads(printed[printed.index("{"):]) == json.loads((out / "metrics.json").read_text())
