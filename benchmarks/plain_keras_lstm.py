"""The kerasllm LSTM language model against a plain Keras LSTM LM of the same size, data and recipe.

Issue 15 asked whether the harness or the recipe leaves recurrent LMs on the unigram plateau. This script
answers it in one process, on the same PTB windows (kerasllm's pipeline, batch x max_length tokens per
step, the same shuffled batches for both):

- `kerasllm`: `Trainer` with `arch=lstm`, trained by the LSTM's recipe (`kerasllm.models.recipes`), or by
  the settings given with `--set key=value` (e.g. `--set optimizer=adamw learning_rate=1e-3`);
- `plain keras`: `Embedding -> LSTM x layers -> Dense(vocab)` written directly from keras layers, compiled
  with the same optimizer and schedule (`build_optimizer`, `WarmupCosine`) and trained with `train_on_batch`.

Both print their validation perplexity (token-weighted, every window of ptb.valid.txt) every `--every`
steps, next to the unigram perplexity of the validation text (train-set counts), which is the plateau.

    python benchmarks/plain_keras_lstm.py --data-dir ../shared/data                 # ~10 min on 2 CPU cores
    python benchmarks/plain_keras_lstm.py --data-dir ../shared/data --steps 300 --set optimizer=adamw \\
        learning_rate=1e-3 weight_decay=0.01 clipnorm=1.0 warmup_ratio=0.05         # the old default recipe
"""

import argparse
import collections
import math
import tempfile
import time

import keras
import numpy as np

from kerasllm.config import TrainConfig
from kerasllm.data.pipeline import evaluation_dataset, training_dataset
from kerasllm.training import Trainer
from kerasllm.training.optimizers import build_optimizer
from kerasllm.training.schedule import WarmupCosine


def unigram_perplexity(task):
    counts = collections.Counter()
    for text in task.split("train").texts:
        counts.update(text.split() + ["<eos>"])
    total = sum(counts.values())
    words = [w for text in task.split("validation").texts for w in text.split() + ["<eos>"]]
    return math.exp(-sum(math.log(counts[w] / total) for w in words) / len(words))


def plain_keras_lm(vocab_size, width, layers):
    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocab_size, width)(inputs)
    for _ in range(layers):
        x = keras.layers.LSTM(width, return_sequences=True)(x)
    return keras.Model(inputs, keras.layers.Dense(vocab_size)(x))


def plain_keras_run(trainer, args):
    """Trains the plain model on the Trainer's batches with the Trainer's optimizer settings."""
    config = trainer.config
    keras.utils.set_random_seed(config.seed)
    model = plain_keras_lm(trainer.tokenizer.vocabulary_size, config.hidden_dim, config.num_layers)
    schedule = WarmupCosine(config.learning_rate, args.steps, round(config.warmup_ratio * args.steps),
                            config.min_lr_ratio)
    model.compile(build_optimizer(config, schedule),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), weighted_metrics=[])
    validation = evaluation_dataset(trainer.encoded("validation"), config.batch_size)
    curve = []
    batches = iter(training_dataset(trainer.encoded("train"), config.batch_size, config.seed))
    for step in range(1, args.steps + 1):
        features, targets, weights = next(batches)
        model.train_on_batch(features["token_ids"], targets, sample_weight=weights)
        if step % args.every == 0:
            loss = model.evaluate(validation.map(lambda f, t, w: (f["token_ids"], t, w)), verbose=0)
            curve.append(math.exp(loss if np.isscalar(loss) else loss[0]))
    return curve


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True, help="parent folder of ptb/")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--every", type=int, default=250, help="steps between validations")
    parser.add_argument("--width", type=int, default=200)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="recipe overrides")
    args = parser.parse_args()
    settings = {"task": "ptb", "arch": "lstm", "data_dir": args.data_dir, "hidden_dim": args.width,
                "num_layers": args.layers, "dropout": 0.0, "tie_weights": False, "steps": args.steps,
                "eval_every": args.every, "steps_per_execution": 50}
    config = TrainConfig.from_dict(settings).with_overrides(args.set)
    trainer = Trainer(config, run_dir=tempfile.mkdtemp() + "/kerasllm")
    c = trainer.config
    print(f"recipe: optimizer={c.optimizer} learning_rate={c.learning_rate:g} clipnorm={c.clipnorm:g} "
          f"weight_decay={c.weight_decay:g} warmup_ratio={c.warmup_ratio:g} min_lr_ratio={c.min_lr_ratio:g}; "
          f"{args.layers} x LSTM({args.width}), untied, batch {c.batch_size} x {trainer.max_length} tokens")
    print(f"unigram validation perplexity (the plateau): {unigram_perplexity(trainer.task):.1f}")
    started = time.perf_counter()
    history = {}

    class Curve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            history[epoch] = math.exp(logs["val_cross_entropy"])

    trainer.fit(callbacks=[Curve()], verbose=0)
    kerasllm_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plain = plain_keras_run(trainer, args)
    plain_seconds = time.perf_counter() - started
    print(f"{'step':>6} {'kerasllm':>10} {'plain keras':>12}")
    for index, value in enumerate(plain):
        print(f"{(index + 1) * args.every:>6} {history[index]:>10.1f} {value:>12.1f}")
    print(f"seconds: kerasllm {kerasllm_seconds:.0f}, plain keras {plain_seconds:.0f}")


if __name__ == "__main__":
    main()
