"""What the Trainer costs per step: training tokens/s through `kerasllm.Trainer` against plain Keras.

For each backbone the same model is trained twice per repetition, alternating which side goes first:
(a) `kerasllm.Trainer(...).fit()`, with its callbacks, checkpoints, TensorBoard scalars and input pipeline;
(b) "written directly": the same built model (`kerasllm.models.build_model`, same seed), the same optimizer and
schedule, loss and metrics, the same encoded arrays as a plain `tf.data` (`from_tensor_slices`, shuffle, repeat,
batch), compiled with the same `jit_compile` and `steps_per_execution` and fitted with plain `model.fit`.
Both validate on the same first `--validation-batches` batches every `--period` steps. The first period carries
compilation and is left out; tokens/s is the real input tokens of the later periods over their wall time, less
validation (checkpoint writes and every callback stay in), and the same per second of the process's CPU time (less
noisy on a shared machine). Prints the median of each side and the ratio (a)/(b), per arch.

    python benchmarks/overhead.py --data-dir ../shared/data [--archs bow,transformer] [--repeats 3]
        [--period 200] [--epochs 3] [--validation-batches 10] [--set steps_per_execution=1 --set jit_compile=false ...]
"""

import argparse
import tempfile
import time

import keras
import numpy as np

from kerasllm.config import TrainConfig
from kerasllm.models.build import build_model
from kerasllm.models.recipes import with_recipe
from kerasllm.training import Trainer
from kerasllm.training.losses import SparseCrossEntropy
from kerasllm.training.metrics import metrics_for
from kerasllm.training.optimizers import build_optimizer
from kerasllm.training.schedule import WarmupCosine

ARCHS = ("bow", "rnn", "gru", "lstm", "cnn", "transformer")


def clocks():
    return np.array([time.perf_counter(), time.process_time()])


class SteadyClock(keras.callbacks.Callback):
    """Wall and process CPU seconds from the end of the first epoch (its callbacks done) to the end of training,
    less validation."""

    def on_train_begin(self, logs=None):
        self.start, self.validation = None, np.zeros(2)

    def on_epoch_end(self, epoch, logs=None):
        if self.start is None:
            self.start = clocks()

    def on_test_begin(self, logs=None):
        self._test = clocks()

    def on_test_end(self, logs=None):
        if self.start is not None:
            self.validation += clocks() - self._test

    def on_train_end(self, logs=None):
        self.seconds = clocks() - self.start - self.validation  # (wall, cpu)


def settings(args, arch):
    values = {"task": args.task, "arch": arch, "data_dir": args.data_dir, "hidden_dim": args.width,
              "num_layers": args.layers, "dropout": 0.0, "batch_size": args.batch_size,
              "steps": args.period * args.epochs, "eval_every": args.period,
              "validation_batches": args.validation_batches}
    return TrainConfig.from_dict(values).with_overrides(args.set)


def through_trainer(config, tokens_per_step, root):
    clock = SteadyClock()
    trainer = Trainer(config, run_dir=tempfile.mkdtemp(dir=root) + "/run")
    trainer.fit(callbacks=[clock], verbose=0, evaluate=("validation",))
    return tokens_per_step * (config.steps - config.eval_every) / clock.seconds  # (per wall s, per CPU s)


def plain_dataset(arrays, batch_size, seed, training):
    import tensorflow as tf

    features = {"token_ids": arrays.token_ids, "padding_mask": arrays.padding_mask}
    data = (features, arrays.targets) if arrays.weights is None else (features, arrays.targets, arrays.weights)
    dataset = tf.data.Dataset.from_tensor_slices(data)
    if training:
        dataset = dataset.shuffle(arrays.num_examples, seed=seed).repeat()
    return dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def written_directly(config, trainer, tokens_per_step, jit_compile, steps_per_execution):
    """Plain Keras: the same model, optimizer, loss, metrics and arrays, one `model.fit`."""
    c = with_recipe(config, trainer.info.kind)
    keras.utils.set_random_seed(c.seed)
    model = build_model(c, trainer.info, trainer.tokenizer.vocabulary_size)
    total = c.steps
    schedule = WarmupCosine(c.learning_rate, total, round(c.warmup_ratio * total), c.min_lr_ratio)
    metrics = metrics_for(trainer.info.kind, trainer.info.num_classes)
    weighted = trainer.info.kind != "classification"
    model.compile(optimizer=build_optimizer(c, schedule), loss=SparseCrossEntropy(),
                  metrics=None if weighted else metrics, weighted_metrics=metrics if weighted else None,
                  jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    clock = SteadyClock()
    model.fit(plain_dataset(trainer.encoded("train"), c.batch_size, c.seed, True), steps_per_epoch=c.eval_every,
              epochs=c.steps // c.eval_every, validation_data=plain_dataset(trainer.encoded("validation"),
                                                                            c.batch_size, c.seed, False),
              validation_steps=c.validation_batches, callbacks=[clock], verbose=0)
    return tokens_per_step * (c.steps - c.eval_every) / clock.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default=",".join(ARCHS))
    parser.add_argument("--task", default="tiny_shakespeare")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--period", type=int, default=200, help="steps between validations (an epoch)")
    parser.add_argument("--epochs", type=int, default=3, help="periods per fit; the first is left out")
    parser.add_argument("--validation-batches", type=int, default=10,
                        help="batches per validation (steps_per_execution is cut to a divisor of it)")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a TrainConfig setting for both sides (steps_per_execution, jit_compile, ...)")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first period is left out)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="overhead-") as root:
        for arch in args.archs.split(","):
            rows.append(compare(args, arch, root))
    print(f"\nmedians of {args.repeats} alternating repetitions; {args.period}-step periods x {args.epochs - 1} "
          f"(after the first), batch {args.batch_size}, width {args.width}, {args.layers} layers, {args.task}")
    print(f"{'arch':<12} {'jit':>5} {'spe':>4} {'trainer tok/s':>14} {'plain tok/s':>12} {'ratio':>6} "
          f"{'ratio per CPU s':>16}")
    for arch, jit, per_call, a_wall, b_wall, a_cpu, b_cpu in rows:
        print(f"{arch:<12} {str(jit):>5} {per_call:>4} {a_wall:>14,.0f} {b_wall:>12,.0f} {a_wall / b_wall:>6.3f} "
              f"{a_cpu / b_cpu:>16.3f}")


def compare(args, arch, root):
    """One arch, both sides alternately: (arch, jit, steps_per_execution, medians of wall and CPU tokens/s)."""
    config = settings(args, arch)
    probe = Trainer(config, run_dir=tempfile.mkdtemp(dir=root) + "/run")
    tokens_per_step = probe.tokens_per_step
    model = probe._fresh_model
    probe.compile(model, config.steps, config.eval_every)
    jit, per_call = model.jit_compile, model.steps_per_execution  # what the Trainer resolves them to
    results = {"trainer": [], "plain": []}
    for repeat in range(args.repeats):
        sides = [("trainer", lambda: through_trainer(config, tokens_per_step, root)),
                 ("plain", lambda: written_directly(config, probe, tokens_per_step, jit, per_call))]
        for name, run in sides if repeat % 2 == 0 else sides[::-1]:
            results[name].append(run())
            wall, cpu = results[name][-1]
            print(f"  {arch} repeat {repeat + 1} {name}: {wall:,.0f} tokens/s, {cpu:,.0f} tokens/CPU s", flush=True)
    (a_wall, a_cpu), (b_wall, b_cpu) = (np.median(results[name], axis=0) for name in ("trainer", "plain"))
    print(f"{arch}: jit_compile={jit} steps_per_execution={per_call}: trainer {a_wall:,.0f} tokens/s, plain "
          f"{b_wall:,.0f}, ratio {a_wall / b_wall:.3f} (per CPU second {a_cpu / b_cpu:.3f})", flush=True)
    return arch, jit, per_call, a_wall, b_wall, a_cpu, b_cpu


if __name__ == "__main__":
    main()
