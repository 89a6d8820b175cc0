"""`import kerasllm` is enough: a fresh process loads every kerasllm model with plain `keras.saving.load_model`."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from kerasllm.models import CausalLM, TextClassifier, get_backbone

IDS = np.array([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]])
BUILT_IN = ("bow", "rnn", "gru", "lstm", "cnn", "transformer")

LOAD_IN_A_FRESH_PROCESS = textwrap.dedent('''
    import json, sys
    import numpy as np
    import kerasllm, keras

    ids = np.array(json.loads(sys.argv[1]))
    outputs = {}
    for path in sys.argv[2:]:
        model = keras.saving.load_model(path, safe_mode=True)
        outputs[path] = np.asarray(model({"token_ids": ids, "padding_mask": ids != 0})).tolist()
    print(json.dumps(outputs))
''')


def saved_models(folder):
    """One CausalLM per built-in architecture and a TextClassifier, saved; path -> outputs in this process."""
    models = {f"lm_{arch}": CausalLM(get_backbone(arch, vocab_size=30, hidden_dim=8, num_layers=2, causal=True,
                                                  max_length=IDS.shape[1]))
              for arch in BUILT_IN}
    models["classifier_lstm"] = TextClassifier(get_backbone("lstm", vocab_size=30, hidden_dim=8, num_layers=1,
                                                            bidirectional=True), num_classes=3, pooling="max")
    expected = {}
    for name, model in models.items():
        path = str(folder / f"{name}.keras")
        outputs = model({"token_ids": IDS, "padding_mask": IDS != 0})
        model.save(path)
        expected[path] = np.asarray(outputs)
    return expected


def test_a_fresh_process_loads_every_head_and_backbone_with_plain_keras(tmp_path):
    expected = saved_models(tmp_path)
    assert len(expected) == len(BUILT_IN) + 1
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    loaded = subprocess.run([sys.executable, "-c", LOAD_IN_A_FRESH_PROCESS, json.dumps(IDS.tolist()), *expected],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    outputs = json.loads(loaded.stdout.strip().splitlines()[-1])
    for path, values in expected.items():
        np.testing.assert_array_equal(np.asarray(outputs[path], dtype=values.dtype), values, err_msg=path)


def test_import_kerasllm_alone_imports_no_keras():
    """The registration waits for Keras, so the package itself stays light (the CLI relies on it)."""
    probe = "import sys, kerasllm; print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
