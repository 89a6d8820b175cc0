"""JAX without TensorFlow: train, evaluate, generate and bench in a Python where `import tensorflow` fails.

The benchmark GPU machine has JAX but no TensorFlow. Here a subprocess on `KERAS_BACKEND=jax` puts a meta-path
hook first on `sys.meta_path`, so importing `tensorflow` or `tensorflow_text` (or any of their submodules) raises
`ModuleNotFoundError` as it would there, then runs the CLI (`kerasllm.cli.main`) in that process: a tiny lm run
with several steps per execution and a cut validation (the numpy `TrainingBatches` / `EvaluationBatches` under
Keras' JAX trainer), `evaluate`, `generate`, and a one-run bench of a masked-LM cell (numpy masking, the HParams
event files). It prints what it saw as JSON; the test checks the runs, their event files, and that no TensorFlow
module was ever imported.
"""

import json
import os
import subprocess
import sys

from kerasllm.errors import ConfigError

SIZES = {"num_train": 64, "num_validation": 16, "num_test": 16}

NO_TENSORFLOW = '''
import importlib.abc, sys

class NoTensorFlow(importlib.abc.MetaPathFinder):
    """Imports of tensorflow and tensorflow_text fail, as on a machine that has neither."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("tensorflow", "tensorflow_text"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoTensorFlow())
'''

SCRIPT = NO_TENSORFLOW + '''
import json, pathlib

out, suite = pathlib.Path(sys.argv[1]), sys.argv[2]
from kerasllm.cli import main
from kerasllm.data import pipeline

trained = []  # the training batches Keras asked for, in order
_getitem = pipeline.TrainingBatches.__getitem__
pipeline.TrainingBatches.__getitem__ = lambda self, index: trained.append(int(index)) or _getitem(self, index)

codes = {}
tiny = ["--hidden-dim", "8", "--num-layers", "1", "--batch-size", "8",
        *(f"task_options.{key}={value}" for key, value in %(sizes)r.items())]
codes["train"] = main(["train", "--task", "negation_sentiment", "--objective", "lm", "--arch", "gru", "--steps", "4",
                       "--out", str(out / "lm"), *tiny, "eval_every=2", "steps_per_execution=2",
                       "validation_batches=1", "jit_compile=true"])
lm_trained = list(trained)
codes["evaluate"] = main(["evaluate", str(out / "lm"), "--split", "test"])
codes["generate"] = main(["generate", str(out / "lm"), "--prompt", "not", "--max-new-tokens", "4"])
codes["bench"] = main(["bench", suite, "--out", str(out / "bench")])

import keras
from kerasllm.tokenizers import get_tokenizer

try:
    get_tokenizer("wordpiece", vocabulary_size=100).fit(["the cat sat on the mat"] * 20)
    wordpiece = "fitted"
except Exception as error:
    wordpiece = f"{type(error).__name__}: {error}"
imported = sorted(m for m in sys.modules if m.partition(".")[0] in ("tensorflow", "tensorflow_text"))
print(json.dumps({"codes": codes, "backend": keras.backend.backend(), "trained": lm_trained, "wordpiece": wordpiece,
                  "tensorflow": imported}))
''' % {"sizes": SIZES}


def run_without_tensorflow(out):
    """Runs `SCRIPT` in a JAX subprocess that cannot import TensorFlow; returns its JSON report."""
    suite = out / "suite.json"
    suite.write_text(json.dumps({
        "name": "tiny", "archs": ["transformer"],
        "settings": {"hidden_dim": 8, "num_layers": 1, "batch_size": 16, "steps": 2, "eval_every": 2},
        "cells": [{"task": "negation_sentiment", "name": "negation@mlm", "task_options": SIZES,
                   "settings": {"objective": "mlm"}}]}))
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(suite)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=out)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["codes"] == {"train": 0, "evaluate": 0, "generate": 0, "bench": 0}, done.stderr[-3000:]
    return report


def test_train_evaluate_generate_and_bench_run_on_jax_without_tensorflow(tmp_path):
    """One test, one subprocess (a fixture shared by several tests would run once per xdist worker)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    report = run_without_tensorflow(tmp_path)
    assert report["backend"] == "jax"
    assert report["tensorflow"] == []  # not one TensorFlow module got imported
    metrics = json.loads((tmp_path / "lm" / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["test_perplexity"] > 1
    # Keras drew batches 0..3 of the endless stream once each: epochs go on where the last stopped (as on resume)
    assert report["trained"][-4:] == [0, 1, 2, 3] and max(report["trained"]) == 3, report["trained"]
    bench_run = tmp_path / "bench" / "negation@mlm" / "transformer" / "seed0"
    assert json.loads((bench_run / "metrics.json").read_text())["validation_perplexity"] > 1

    # the event files: the lm run's scalars at steps 2 and 4, the bench run's HParams session and its experiment
    for split in ("train", "validation"):
        events = EventAccumulator(str(tmp_path / "lm" / split), size_guidance={"tensors": 0}).Reload()
        assert [event.step for event in events.Tensors("loss")] == [2, 4]
    assert list((bench_run / "validation").glob("*.hparams"))
    session = EventAccumulator(str(bench_run / "validation"), size_guidance={"tensors": 0}).Reload()
    assert {"_hparams_/session_start_info", "final/test_headline", "config"} <= set(session.Tags()["tensors"])
    experiment = EventAccumulator(str(tmp_path / "bench" / "negation@mlm"), size_guidance={"tensors": 0}).Reload()
    assert experiment.Tags()["tensors"] == ["_hparams_/experiment"]

    # the one tokenizer that needs TensorFlow says so, and what to use instead
    assert report["wordpiece"].startswith(f"{ConfigError.__name__}: The wordpiece tokenizer needs TensorFlow and "
                                          "tensorflow-text")
    assert "tokenizer=bpe, word or char" in report["wordpiece"]
