"""`benchmarks/gpu.py throughput --dry-run`: the GPU benchmark's whole path at toy size, on JAX without TensorFlow.

A subprocess on `KERAS_BACKEND=jax` (CPU) blocks `import tensorflow` with the hook of `test_without_tensorflow` (the
GPU machine has no TensorFlow) and runs the script's dry run: one row per architecture, bf16, kerasllm's own path
each, then data-parallel scaling over the two host devices the dry run makes. No figure is checked but that each row
trained (tokens/s > 0): timings on a shared CPU mean nothing.
"""

import json
import os
import pathlib
import subprocess
import sys

from tests.test_without_tensorflow import NO_TENSORFLOW

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
ARCHS = ["transformer", "lstm", "cnn"]  # attention, recurrence, convolution: gru and the rest run the same code

RUN = NO_TENSORFLOW + '''
import runpy
sys.argv = [sys.argv[1], *sys.argv[2:]]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print("TENSORFLOW_MODULES", sorted(m for m in sys.modules if m.partition(".")[0] == "tensorflow"))
'''


def test_throughput_dry_run_prints_a_row_per_architecture_without_tensorflow(tmp_path):
    out = tmp_path / "rows.json"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("XLA_FLAGS", None)
    argv = ["throughput", "--dry-run", "--archs", ",".join(ARCHS), "--dtypes", "bf16", "--paths", "fused,masked",
            "--json", str(out)]
    done = subprocess.run([sys.executable, "-c", RUN, str(SCRIPT), *argv], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    assert "TENSORFLOW_MODULES []" in done.stdout
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["arch", "path", "dtype"])
    columns = lines[header].split()
    assert {"tokens/s", "TFLOP/s", "MFU", "MFU-PaLM", "peak", "kernel"} <= set(columns)
    table = [line.split() for line in lines[header + 1: header + 1 + len(ARCHS)]]
    assert [row[0] for row in table] == ARCHS
    tokens = columns.index("tokens/s")
    assert all(float(row[tokens].replace(",", "")) > 0 for row in table), table
    assert all(row[columns.index("MFU")] == "n/a" for row in table)  # no bf16 peak for a CPU
    assert "6 N + 6 L T d" in done.stdout and "peak MB: host RSS" in done.stdout

    report = json.loads(out.read_text())
    rows = report["rows"]
    single = [r for r in rows if r["devices"] == 1]
    assert [(r["arch"], r["path"]) for r in single] == [("transformer", "fused"), ("lstm", "masked"),
                                                        ("cnn", "default")]
    assert all("error" not in r and r["tokens_per_second"] > 0 and r["peak_memory_mb"] >= 0 for r in rows), rows
    assert rows[0]["train_flops_per_token"] > 0 and rows[0]["kernel"] == "xla"  # no cuDNN attention on a CPU
    assert "padding mask" in rows[1]["kernel"]  # kerasllm's LSTM passes the mask: Keras' generic loop
    scaled = [r for r in rows if r["devices"] == 2]
    assert len(scaled) == 1 and scaled[0]["batch_size"] == 2 * rows[0]["batch_size"]
    assert "scaling efficiency" in done.stdout
