"""Training speed of the Transformer with fused attention against the explicit softmax(QK^T/sqrt(d))V.

"fused" is the default `MultiHeadSelfAttention`, which calls `keras.ops.dot_product_attention`;
"explicit" is the same layer with `_compute_attention` overridden by `_softmax_attention`, the
formula written out op by op (what the layer ran before). Both models have the same weights
(copied, and checked to give the same logits), train with the same plain `model.fit` (AdamW, XLA
as the Trainer's default, `steps_per_execution`) on the same random tokens, in one process, and
the repetitions alternate between them so that load from other processes hits both alike. For
each context length the script prints every repetition, the best and the median tokens/s of each
side, and their ratio (fused / explicit) from the best repetitions: on a shared CPU a repetition
runs at full speed or at a fraction of it when another process takes a core, so the fastest one
is the least disturbed (as `timeit` takes the minimum). Tokens per CPU second (all threads of
this process) are printed too; they move less with other processes' load. The default size is
nanoGPT's Tiny Shakespeare CPU configuration (4 pre-LN blocks, width 128, 4 heads, batch 12,
65 characters).

    python benchmarks/attention.py --quick              # 2-5 minutes on a shared 2-core CPU, mostly XLA compiling
    python benchmarks/attention.py [--lengths 64,256] [--repeats 7] [--tokens 76800] [--no-xla]
"""

import argparse
import statistics
import time

import keras
import numpy as np

from kerasllm.layers import MultiHeadSelfAttention
from kerasllm.models import CausalLM, get_backbone


class ExplicitAttention(MultiHeadSelfAttention):
    """The "before" side: every head's softmax(QK^T / sqrt(d)) V written out with `keras.ops`."""

    def _compute_attention(self, query, key, value, attention_mask, training=None):
        return self._softmax_attention(query, key, value, attention_mask, training=training)


def language_model(attention, args, length):
    backbone = get_backbone("transformer", vocab_size=args.vocab, hidden_dim=args.width, num_layers=args.layers,
                            causal=True, num_heads=args.heads, max_length=length, attention=attention)
    return CausalLM(backbone)


def fit_seconds(model, ids, targets, batch_size, steps):
    """Wall-clock and CPU seconds (all threads of this process) of one `fit` of `steps` steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(ids, targets, batch_size=batch_size, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(args, length):
    steps = max(1, args.tokens // (args.batch_size * length))
    rng = np.random.default_rng(0)
    ids = rng.integers(1, args.vocab, size=(args.batch_size * steps, length + 1)).astype("int32")
    ids, targets = ids[:, :-1], ids[:, 1:]
    keras.utils.set_random_seed(0)
    models = {"fused": language_model(None, args, length), "explicit": language_model(ExplicitAttention, args, length)}
    for model in models.values():
        model(ids[:2])
    models["explicit"].set_weights(models["fused"].get_weights())
    difference = np.max(np.abs(keras.ops.convert_to_numpy(models["fused"](ids[:4]))
                               - keras.ops.convert_to_numpy(models["explicit"](ids[:4]))))
    per_call = min(args.steps_per_execution, steps)
    start = time.perf_counter()
    for model in models.values():
        model.compile(keras.optimizers.AdamW(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=args.xla, steps_per_execution=per_call)
        fit_seconds(model, ids, targets, args.batch_size, per_call)  # compile, warm up
    params = models["fused"].count_params()
    print(f"context {length}: {params:,} params each, {steps} steps x batch {args.batch_size} per repetition, "
          f"max |logits difference| at the same weights {difference:.1e}, both compiled in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    tokens = steps * args.batch_size * length
    speeds = {name: [] for name in models}  # (tokens per wall second, tokens per CPU second) per repetition
    for repetition in range(args.repeats):
        order = list(models) if repetition % 2 == 0 else list(models)[::-1]  # alternate who goes first
        for name in order:
            wall, cpu = fit_seconds(models[name], ids, targets, args.batch_size, steps)
            speeds[name].append((tokens / wall, tokens / cpu))
        print(f"  repetition {repetition + 1}: " + "  ".join(
            f"{name} {speeds[name][-1][0]:>7,.0f} tokens/s ({speeds[name][-1][1]:>6,.0f} per CPU s)"
            for name in models), flush=True)
    best = {name: max(wall for wall, _ in values) for name, values in speeds.items()}
    per_cpu = {name: statistics.median(cpu for _, cpu in values) for name, values in speeds.items()}
    for name, values in speeds.items():
        print(f"  {name:8s} best {best[name]:>7,.0f}  median {statistics.median(w for w, _ in values):>7,.0f} "
              f"tokens/s, median {per_cpu[name]:>6,.0f} tokens per CPU second")
    print(f"  context {length}: fused / explicit {best['fused'] / best['explicit']:.2f}x (best tokens/s), "
          f"{per_cpu['fused'] / per_cpu['explicit']:.2f}x (tokens per CPU second)", flush=True)
    keras.backend.clear_session()
    return best, per_cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 repetitions of 19,200 tokens per context length")
    parser.add_argument("--lengths", default="64,256", help="comma-separated context lengths")
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions per side and length")
    parser.add_argument("--tokens", type=int, default=76_800, help="training tokens per repetition")
    parser.add_argument("--steps-per-execution", type=int, default=50)
    parser.add_argument("--no-xla", dest="xla", action="store_false", help="graph mode without jit_compile")
    parser.add_argument("--vocab", type=int, default=67)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=12)
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.tokens = 6, 19_200
    print(f"backend {keras.backend.backend()}, Keras {keras.__version__}, XLA {args.xla}, width {args.width}, "
          f"{args.layers} layers, {args.heads} heads, batch {args.batch_size}", flush=True)
    results = {length: compare(args, length) for length in (int(n) for n in args.lengths.split(","))}
    print("summary: best repetition tokens/s [median tokens per CPU second]")
    for length, (best, per_cpu) in results.items():
        print(f"  context {length:>4}: explicit (before) {best['explicit']:>7,.0f} [{per_cpu['explicit']:>6,.0f}]  "
              f"fused (after) {best['fused']:>7,.0f} [{per_cpu['fused']:>6,.0f}]  fused / explicit "
              f"{best['fused'] / best['explicit']:.2f}x [{per_cpu['fused'] / per_cpu['explicit']:.2f}x]")


if __name__ == "__main__":
    main()
