"""The adaptive softmax against the full softmax on a word-level language model: speed and perplexity.

The same word LSTM (the `lm` suite's settings: width 128, 2 layers) trains on PTB (or WikiText-2) through
`kerasllm.Trainer` for the same steps, seed and batches, once with `softmax=full` and once with `softmax=adaptive`
(Grave et al., 2017; `kerasllm.layers.AdaptiveSoftmax`, default cutoffs a tenth and a half of the vocabulary),
alternating which goes first in each repetition. Prints per side the median training tokens/s (the Trainer's
`train_tokens_per_second`: validation left out), the seconds of the final evaluation of the validation and test
splits, the forward FLOPs per token, and the validation and test perplexity, then the ratios adaptive / full.

    python benchmarks/softmax.py --data-dir ../shared/data [--task ptb] [--arch lstm] [--steps 2000]
        [--repeats 1] [--out DIR] [--set key=value ...]

`--output-layer` times the output layer and its loss alone instead, forward and backward (one optimizer step of a
model that is only `Dense(vocab_size)` or `AdaptiveSoftmax`, 2,048 positions of width 128, compiled), at PTB's and
WikiText-2's vocabulary sizes (full, then adaptive, at each size; the median of `--repeats` timings of 20 steps):

    python benchmarks/softmax.py --output-layer [--repeats 5]
"""

import argparse
import json
import pathlib
import statistics
import tempfile
import time

from kerasllm.config import TrainConfig
from kerasllm.models.flops import forward_flops_per_token
from kerasllm.training import Trainer

SIDES = ("full", "adaptive")


def train(side, args, run_dir):
    """One run of `side`; returns its figures."""
    settings = {"task": args.task, "arch": args.arch, "data_dir": args.data_dir, "steps": args.steps,
                "hidden_dim": 128, "num_layers": 2, "max_length": 64, "validation_batches": 20, "softmax": side}
    trainer = Trainer(TrainConfig.from_dict(settings).with_overrides(args.set), run_dir=run_dir)
    started = time.perf_counter()
    metrics = trainer.fit(verbose=0)
    return {"tokens_per_second": metrics["train_tokens_per_second"], "train_seconds": metrics["train_seconds"],
            "wall_seconds": time.perf_counter() - started,
            "evaluation_seconds": metrics["validation_seconds"] + metrics["test_seconds"],
            "forward_flops_per_token": forward_flops_per_token(trainer.model),
            "validation_perplexity": metrics["validation_perplexity"], "test_perplexity": metrics["test_perplexity"],
            "parameters": metrics["parameters"]}


def output_layer_milliseconds(side, vocab_size, repeats, positions=2048, width=128, steps=20):
    """Median milliseconds of one training step of the output layer alone, with the loss the Trainer compiles."""
    import keras
    import numpy as np

    from kerasllm.layers import AdaptiveSoftmax
    from kerasllm.layers.adaptive_softmax import default_cutoffs
    from kerasllm.training.losses import SparseCrossEntropy

    keras.utils.set_random_seed(0)
    features = keras.Input((width,))
    layer = keras.layers.Dense(vocab_size, use_bias=False) if side == "full" else AdaptiveSoftmax(
        vocab_size, default_cutoffs(vocab_size))
    model = keras.Model(features, layer(features))
    model.compile(optimizer="sgd", loss=SparseCrossEntropy(log_probs=side == "adaptive"), jit_compile=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(positions, width)).astype("float32")
    y = rng.integers(0, vocab_size, positions).astype("int32")
    model.train_on_batch(x, y)  # compiles
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        times.append((time.perf_counter() - started) / steps * 1000)
    return statistics.median(times)


def compare_output_layers(repeats):
    for vocab_size in (10003, 33278):  # about PTB's 10,002 ids, and WikiText-2's 33,278
        milliseconds = {side: output_layer_milliseconds(side, vocab_size, repeats) for side in SIDES}
        full, adaptive = milliseconds["full"], milliseconds["adaptive"]
        print(f"vocabulary {vocab_size:,}: full {full:.1f} ms, adaptive {adaptive:.1f} ms per step of 2,048 positions "
              f"(full / adaptive x{full / adaptive:.2f})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--output-layer", action="store_true", help="time the output layer and loss alone")
    parser.add_argument("--task", default="ptb")
    parser.add_argument("--arch", default="lstm")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", help="folder for the run directories and results.json (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], help="another setting of both sides, key=value")
    args = parser.parse_args()
    if args.output_layer:
        return compare_output_layers(args.repeats)
    if not args.data_dir:
        parser.error("--data-dir is required (the folder that holds ptb/ or wikitext2/)")
    out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="softmax-"))
    out.mkdir(parents=True, exist_ok=True)
    runs = {side: [] for side in SIDES}
    for repeat in range(args.repeats):
        for side in (SIDES if repeat % 2 == 0 else SIDES[::-1]):
            run_dir = out / f"{side}-{repeat}"
            if run_dir.exists():
                raise SystemExit(f"{run_dir} exists: give another --out (runs are never overwritten).")
            runs[side].append(train(side, args, run_dir))
            print(f"repeat {repeat} {side}: " + ", ".join(f"{k} {v:.4g}" for k, v in runs[side][-1].items()),
                  flush=True)
    print(f"\n{args.task}, {args.arch}, {args.steps} steps, {args.repeats} repetition(s), medians:")
    print(f"{'softmax':<10} {'params':>10} {'fwd FLOPs/tok':>14} {'train tok/s':>12} {'eval s':>8} "
          f"{'val ppl':>9} {'test ppl':>9}")
    summary = {}
    for side in SIDES:
        summary[side] = {key: statistics.median(run[key] for run in runs[side]) for key in runs[side][0]}
        s = summary[side]
        print(f"{side:<10} {s['parameters']:>10,.0f} {s['forward_flops_per_token']:>14,.0f} "
              f"{s['tokens_per_second']:>12,.0f} {s['evaluation_seconds']:>8.1f} {s['validation_perplexity']:>9.2f} "
              f"{s['test_perplexity']:>9.2f}")
    full, adaptive = summary["full"], summary["adaptive"]
    print(f"adaptive / full: train tokens/s x{adaptive['tokens_per_second'] / full['tokens_per_second']:.2f}, "
          f"evaluation time x{adaptive['evaluation_seconds'] / full['evaluation_seconds']:.2f}, "
          f"forward FLOPs x{adaptive['forward_flops_per_token'] / full['forward_flops_per_token']:.2f}, "
          f"test perplexity x{adaptive['test_perplexity'] / full['test_perplexity']:.3f}")
    (out / "results.json").write_text(json.dumps({"runs": runs, "median": summary}, indent=1))


if __name__ == "__main__":
    main()
