"""Data-parallel training on the engine's own mechanism (`TrainConfig.distribution`).

`distribution="data_parallel"` copies the model onto every accelerator of the machine (every GPU, else every
CPU device) and splits each batch across them; the gradients are averaged, so one step is the step of one
device on the whole batch. `batch_size` stays the *global* batch: with 4 GPUs and `batch_size=64` each GPU
sees 16 examples a step, and the loss curve is the single-device one at batch 64. What each backend uses:

- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`, made current (with
  `keras.distribution.set_distribution`) only while the Trainer builds, compiles, loads, fits and evaluates,
  then the previous distribution is back. Keras shards every batch on the batch axis, so the last batch of
  each evaluated split (its size modulo `batch_size`) must split evenly too; a split smaller than one batch
  is copied to every device instead.
- TensorFlow: a `tf.distribute.MirroredStrategy` over the GPUs (else the logical CPU devices), whose
  scope the Trainer enters at the same places; Keras' `fit` splits each tf.data batch across the replicas.
  When TensorFlow's `TF_CONFIG` names several workers it is a `tf.distribute.MultiWorkerMirroredStrategy`
  instead. `TF_CONFIG` is read by TensorFlow's own cluster resolver: that environment variable is how
  TensorFlow defines a cluster, the one place kerasllm lets the environment decide anything.
- torch: not supported (a one-line `ConfigError`).

On a machine with one device it still works: a strategy with one replica, so a config written for a
multi-GPU box runs unchanged on a laptop. `batch_size` must be a multiple of the number of replicas. On
TensorFlow, XLA (`jit_compile`) cannot compile a step mirrored over several *CPU* devices (the logical CPUs of
a test): such a run needs `jit_compile=False`. GPU replicas are not refused (no GPU has checked them here).

Numerics: JAX computes the loss of the global batch (SPMD), so it matches one device up to float reduction
order. TensorFlow averages each replica's loss, which is the global mean when every replica holds the
same number of weighted tokens (classification, full LM windows); for token-weighted losses with uneven
padding across replicas the step's loss is a mean of the replicas' means.

See docs/distributed.md for the commands on a multi-GPU box and a small cluster.

Example:
>>> from kerasllm.training.distribution import data_parallel
>>> single = data_parallel(None, batch_size=32)  # no distribution: a scope that changes nothing
>>> single.num_replicas
1
>>> with single.scope():
...     pass
"""

import contextlib
import functools
import math

import keras

from kerasllm.errors import ConfigError
from kerasllm.registry import Registry

#: Keras backend -> its data-parallel mechanism (a class taking no arguments, with `scope()` and `num_replicas`).
DATA_PARALLEL = Registry("data_parallel backend")


class SingleDevice:
    """No distribution: Keras' default placement; `scope()` changes nothing."""

    num_replicas = 1
    compiles_with_xla = True

    def scope(self):
        return contextlib.nullcontext()


class _DataParallel(keras.distribution.DataParallel):
    """`keras.distribution.DataParallel`, except that a batch that does not split evenly over the devices is
    copied to every device instead: each computes the whole batch, the same result. Keras lays out all the
    batches of a pass as its first one, so this serves a split smaller than one batch; the smaller last batch
    of a longer split must still split evenly (`JaxDataParallel.scope` says so in one line)."""

    def get_data_layout(self, data_shape):
        if data_shape and data_shape[0] % math.prod(self.device_mesh.shape):
            return keras.distribution.TensorLayout([None] * len(data_shape), self.device_mesh)
        return super().get_data_layout(data_shape)


@DATA_PARALLEL.register("jax")
class JaxDataParallel:
    """`keras.distribution.DataParallel` over every device JAX sees (`keras.distribution.list_devices()`:
    the GPUs, else the CPU devices). `scope()` makes it the current distribution and restores the previous
    one on exit."""

    def __init__(self):
        import jax

        if jax.process_count() > 1:
            raise ConfigError("data_parallel runs in one JAX process per run (the numpy input pipeline feeds "
                              "whole batches); use one process for all of a machine's GPUs, or the tensorflow "
                              "backend's TF_CONFIG cluster (docs/distributed.md).")
        devices = keras.distribution.list_devices()
        self.distribution = _DataParallel(devices=devices)
        self.num_replicas = len(devices)
        self.compiles_with_xla = True

    @contextlib.contextmanager
    def scope(self):
        with self.distribution.scope():
            try:
                yield
            except ValueError as error:  # jax's IndivisibleError, about a batch, in many lines
                if "should evenly divide the shape" not in str(error):
                    raise
                raise ConfigError(
                    f"On jax, data_parallel splits every batch over the {self.num_replicas} devices, and the last "
                    "batch of an evaluated split (its size modulo batch_size) does not split evenly: change "
                    "batch_size or the split's size, or use the tensorflow backend.") from None


@DATA_PARALLEL.register("tensorflow")
class MirroredDataParallel:
    """`tf.distribute.MirroredStrategy` over the logical GPUs (else the logical CPUs), or
    `MultiWorkerMirroredStrategy` when `TF_CONFIG` names several workers. One strategy per process (a
    multi-worker strategy may be made only once), shared by every run in it."""

    def __init__(self):
        self.strategy = _tensorflow_strategy()
        self.num_replicas = self.strategy.num_replicas_in_sync
        devices = self.strategy.extended.worker_devices  # this machine's replicas
        self.compiles_with_xla = len(devices) == 1 or not all("CPU" in device.upper() for device in devices)

    def scope(self):
        return self.strategy.scope()


@DATA_PARALLEL.register("torch")
def _torch_data_parallel():
    raise ConfigError("data_parallel is not supported on the torch backend; use jax or tensorflow "
                      "(KERAS_BACKEND=jax or tensorflow).")


class _ShapesOfBatches:
    """Keras' TensorFlow `fit` and `evaluate` reduce (MEAN, over no axis) their first distributed batch only to
    learn its shapes, which fails where TensorFlow cannot average the replicas' parts: bool padding masks, and
    the uneven parts of a batch that does not split evenly. That reduction gives the first replica's part
    instead, with the shape and dtype Keras asks for; every other reduction is the strategy's own."""

    def reduce(self, reduce_op, value, axis):
        import tensorflow as tf

        if axis is not None or reduce_op not in ("MEAN", tf.distribute.ReduceOp.MEAN):
            return super().reduce(reduce_op, value, axis)
        return tf.nest.map_structure(lambda leaf: self.experimental_local_results(leaf)[0], value)


@functools.cache
def _tensorflow_strategy():
    import tensorflow as tf

    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()  # reads TF_CONFIG
    if len(resolver.cluster_spec().as_dict().get("worker", [])) > 1:
        base = tf.distribute.MultiWorkerMirroredStrategy
        return type("MultiWorkerMirroredStrategy", (_ShapesOfBatches, base), {})(cluster_resolver=resolver)
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    base = tf.distribute.MirroredStrategy
    return type("MirroredStrategy", (_ShapesOfBatches, base), {})(devices=[device.name for device in devices])


#: The values of `TrainConfig.distribution` -> what builds it for the backend in use.
DISTRIBUTIONS = {None: SingleDevice, "data_parallel": lambda: DATA_PARALLEL.get(_backend())()}


def _backend():
    backend = keras.backend.backend()
    if backend not in DATA_PARALLEL:
        raise ConfigError(f"data_parallel is not supported on the {backend} backend; use jax or tensorflow.")
    return backend


def data_parallel(name, batch_size, jit_compile=False):
    """The distribution `name` (None or "data_parallel") for the Keras backend in use, checked against the
    run's global `batch_size` and `jit_compile`: an object with `num_replicas` and `scope()`, a context manager
    to build, compile, load, fit and evaluate the model in (enter it as often as needed)."""
    if name not in DISTRIBUTIONS:
        raise ConfigError(f"distribution must be data_parallel (or left unset), got '{name}'.")
    distribution = DISTRIBUTIONS[name]()
    if batch_size % distribution.num_replicas:
        raise ConfigError(f"batch_size {batch_size} does not split over {distribution.num_replicas} devices: "
                          f"make it a multiple of {distribution.num_replicas}.")
    if jit_compile and not distribution.compiles_with_xla:
        raise ConfigError(f"XLA cannot compile a step mirrored over {distribution.num_replicas} CPU devices on "
                          "TensorFlow: set jit_compile=false (or train on GPUs, or on the jax backend).")
    return distribution
