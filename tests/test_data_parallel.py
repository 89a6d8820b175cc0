"""`distribution="data_parallel"` on two CPU devices trains as one device does at the same global batch.

The number of devices is fixed before TensorFlow or JAX starts, so each backend runs in a fresh process: this file
run as a script. JAX gets `XLA_FLAGS=--xla_force_host_platform_device_count=2`; TensorFlow splits its CPU into two
logical devices (`tf.config.set_logical_device_configuration`) before anything else touches it. The script trains
a tiny GRU classifier on one device, then the same config with `distribution="data_parallel"`, interrupted after
its first validation period (a callback raises KeyboardInterrupt, as in tests/test_trainer.py) and resumed from
its checkpoint, and prints every training step's loss and the final validation and test losses as JSON.

Tolerance: the two runs see the same batches from the same weights, and differ only in the order of float32
reductions (each device sums half the batch, then the halves are added). Measured on a 2-core CPU, the losses
agree to 2e-7 relative on both backends; the test allows 1e-5. Plain SGD (whose step, unlike Adam's, scales with
the gradient) at a large rate moves the loss by over 1e-3 in four steps, so a wrong gradient (summed over the
replicas instead of averaged, or one replica's alone) would miss the tolerance by orders of magnitude.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from kerasllm.errors import ConfigError

CONFIG = {"task": "negation_sentiment", "arch": "gru", "hidden_dim": 8, "num_layers": 1, "dropout": 0.0,
          "batch_size": 16, "steps": 4, "eval_every": 2, "steps_per_execution": 1, "seed": 3,
          "optimizer": "sgd", "learning_rate": 2.0, "warmup_ratio": 0.0,
          "task_options": {"num_train": 64, "num_validation": 15, "num_test": 16}}  # 15: an odd split, under a batch
TOLERANCE = 1e-5


def _two_devices_script(backend, work):
    """Runs in the subprocess: one-device and data-parallel runs of `CONFIG`; prints `RESULT {json}`."""
    config = CONFIG
    if backend == "tensorflow":  # two logical CPUs, before TensorFlow touches a device
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        config = {**CONFIG, "jit_compile": False}  # XLA cannot mirror a step over logical CPUs (see below)
    import keras

    from kerasllm.training import Trainer
    from kerasllm.training.distribution import data_parallel

    class Losses(keras.callbacks.Callback):
        def __init__(self, values):
            super().__init__()
            self.values = values

        def on_train_batch_end(self, batch, logs=None):
            self.values.append(float(logs["loss"]))

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    def train(name, losses, callbacks=(), **changes):
        metrics = Trainer({**config, **changes}, run_dir=f"{work}/{name}").fit(
            callbacks=[Losses(losses), *callbacks], verbose=0)
        return {key: metrics[key] for key in ("validation_loss", "test_loss", "steps")}

    result = {"devices": len(keras.distribution.list_devices()),
              "replicas": data_parallel("data_parallel", CONFIG["batch_size"]).num_replicas}
    try:
        data_parallel("data_parallel", 15)
    except ConfigError as error:
        result["odd_batch"] = str(error)
    try:
        data_parallel("data_parallel", 16, jit_compile=True)
        result["xla"] = "accepted"
    except ConfigError as error:
        result["xla"] = str(error)
    start = time.perf_counter()
    result["single"] = {"losses": []}
    result["single"].update(train("single", result["single"]["losses"]))
    result["parallel"] = {"losses": []}
    try:
        train("parallel", result["parallel"]["losses"], [StopAfterFirstEpoch()], distribution="data_parallel")
    except KeyboardInterrupt:
        with open(f"{work}/parallel/checkpoints/state.json") as state:
            result["interrupted_at_epoch"] = json.load(state)["epoch"]
    result["parallel"].update(train("parallel", result["parallel"]["losses"], distribution="data_parallel"))
    with open(f"{work}/parallel/config.json") as config:
        result["recorded"] = json.load(config)["distribution"]
    result["seconds"] = time.perf_counter() - start
    print("RESULT " + json.dumps(result))


def _run_on_two_devices(backend, work):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()}
    done = subprocess.run([sys.executable, __file__, backend, str(work)], env=env, capture_output=True, text=True,
                          timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_two_devices_train_as_one_and_resume(backend, tmp_path):
    pytest.importorskip(backend)
    result = _run_on_two_devices(backend, tmp_path)
    assert result["devices"] == 2 and result["replicas"] == 2
    assert "batch_size 15 does not split over 2 devices" in result["odd_batch"]
    assert result["interrupted_at_epoch"] == 1 and result["recorded"] == "data_parallel"
    # JAX compiles the sharded step; TensorFlow's XLA keeps each variable on one device, so mirrored CPUs refuse it
    assert result["xla"] == "accepted" if backend == "jax" else "set jit_compile=false" in result["xla"]
    single, parallel = result["single"], result["parallel"]
    assert len(single["losses"]) == len(parallel["losses"]) == single["steps"] == parallel["steps"] == 4
    assert max(single["losses"]) - min(single["losses"]) > 100 * TOLERANCE  # the updates show in the loss
    assert parallel["losses"] == pytest.approx(single["losses"], rel=TOLERANCE)
    for key in ("validation_loss", "test_loss"):
        assert parallel[key] == pytest.approx(single[key], rel=TOLERANCE), key


def test_no_distribution_is_one_replica_and_a_scope_that_changes_nothing():
    from kerasllm.training.distribution import SingleDevice, data_parallel

    single = data_parallel(None, batch_size=7)
    assert isinstance(single, SingleDevice) and single.num_replicas == 1
    with single.scope(), single.scope():  # re-entered as often as the Trainer needs
        pass


def test_unknown_distribution_and_torch_are_refused_in_one_line():
    from kerasllm.config import TrainConfig
    from kerasllm.training.distribution import DATA_PARALLEL, data_parallel

    with pytest.raises(ConfigError, match="distribution must be data_parallel"):
        TrainConfig(task="mqar", arch="gru", distribution="model_parallel")
    with pytest.raises(ConfigError, match="distribution must be data_parallel"):
        data_parallel("mirrored", batch_size=8)
    with pytest.raises(ConfigError, match="not supported on the torch backend; use jax or tensorflow") as error:
        DATA_PARALLEL.get("torch")()
    assert "\n" not in str(error.value)


if __name__ == "__main__":
    _two_devices_script(sys.argv[1], sys.argv[2])
