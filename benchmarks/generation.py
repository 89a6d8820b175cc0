"""Generation speed: every architecture, cached vs recomputed decoding, and keras-hub's GPT-2.

    python benchmarks/generation.py                      # CPU-sized defaults, TensorFlow backend
    KERAS_BACKEND=jax python benchmarks/generation.py --new-tokens 128,512,2048
    python benchmarks/generation.py --hidden-dim 512 --num-layers 8 --json out.json

For each architecture a causal language model with random weights (the speed does not depend on
them) decodes greedily from a prompt of `--prompt-length` tokens, `--batch-size` rows:

- cached: the compiled step-with-state loop (`kerasllm generate`);
- recompute: `--no-cache`, rerunning the model over the whole (masked) window at every step,
  for the lengths in `--recompute-tokens` (it is quadratic; 2048 takes long on a CPU);
- keras-hub: `keras_hub.models.GPT2CausalLM` built with the Transformer's dimensions, greedy,
  its own compiled generate loop with its key/value cache.

Every timing is the best of `--repeats` calls after one warm-up call (which compiles), so
compilation is excluded. It prints a markdown table: new tokens per second, milliseconds per
new token, the recompute/cached ratio, the per-token latency at the longest length over the
shortest (1.0 = flat), and the Transformer's speed relative to GPT-2; then, per model, the cached
ms/token at the shortest and the longest length and their ratio (issue 16 asks <= 1.3 for the
Transformer at 128 vs 2048: its step attends over the bucket of the cache that holds the tokens so
far, `kerasllm.layers.attention.cache_buckets`, not the whole cache).
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", default="rnn,gru,lstm,bow,cnn,transformer")
    p.add_argument("--new-tokens", default="128,512,2048", help="comma-separated lengths")
    p.add_argument("--recompute-tokens", default="128,512", help="lengths also run with --no-cache")
    p.add_argument("--prompt-length", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--hidden-dim", type=int, default=256)
    p.add_argument("--num-layers", type=int, default=4)
    p.add_argument("--num-heads", type=int, default=4)
    p.add_argument("--vocab-size", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--no-keras-hub", action="store_true", help="skip the GPT2CausalLM comparison")
    p.add_argument("--json", help="also write the measurements here")
    return p.parse_args()


def _best_seconds(call, repeats):
    call()  # warm-up: traces and compiles
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def _kerasllm_lm(arch, args, max_length):
    import keras

    from kerasllm.models import CausalLM, get_backbone

    keras.utils.set_random_seed(0)
    options = {"num_heads": args.num_heads} if arch == "transformer" else {}
    backbone = get_backbone(arch, vocab_size=args.vocab_size, hidden_dim=args.hidden_dim,
                            num_layers=args.num_layers, causal=True, max_length=max_length, **options)
    lm = CausalLM(backbone)
    lm(np.ones((1, 2), "int32"))
    return lm


def _kerasllm_seconds(lm, prompts, new_tokens, use_cache, repeats):
    from kerasllm.generation import Decoder, get_sampler

    decoder = Decoder(lm, get_sampler("greedy"), use_cache=use_cache, stop_token_ids=())
    return _best_seconds(lambda: decoder(prompts, new_tokens), repeats)


def _gpt2_seconds(args, prompts, new_tokens, max_length):
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=args.vocab_size, num_layers=args.num_layers, num_heads=args.num_heads,
        hidden_dim=args.hidden_dim, intermediate_dim=4 * args.hidden_dim, max_sequence_length=max_length,
    )
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    lm.compile(sampler="greedy")
    width = args.prompt_length + new_tokens
    token_ids = np.zeros((len(prompts), width), "int32")
    token_ids[:, : args.prompt_length] = prompts
    inputs = {"token_ids": token_ids, "padding_mask": np.arange(width)[None, :] < args.prompt_length}
    inputs["padding_mask"] = np.repeat(inputs["padding_mask"], len(prompts), axis=0)
    return _best_seconds(lambda: lm.generate(inputs, stop_token_ids=None), args.repeats)


def main():
    args = _parse()
    import keras

    lengths = [int(n) for n in args.new_tokens.split(",")]
    recompute = [int(n) for n in args.recompute_tokens.split(",") if n]
    max_length = args.prompt_length + max(lengths)
    prompts = np.random.default_rng(0).integers(4, args.vocab_size, (args.batch_size, args.prompt_length))
    prompts = prompts.tolist()
    rows = []
    print(f"backend {keras.config.backend()}, batch {args.batch_size}, prompt {args.prompt_length} tokens, "
          f"hidden {args.hidden_dim}, {args.num_layers} layers, vocab {args.vocab_size}", file=sys.stderr)
    for arch in args.archs.split(","):
        lm = _kerasllm_lm(arch, args, max_length)
        params = int(sum(np.prod(v.shape) for v in lm.trainable_weights))
        for new in lengths:
            modes = [("cached", True)] + ([("recompute", False)] if new in recompute else [])
            for mode, use_cache in modes:
                seconds = _kerasllm_seconds(lm, prompts, new, use_cache, args.repeats)
                rows.append({"model": arch, "params": params, "mode": mode, "new_tokens": new,
                             "seconds": seconds})
                print(f"{arch:12s} {mode:9s} {new:5d} new tokens: {seconds:8.3f} s", file=sys.stderr, flush=True)
    if not args.no_keras_hub:
        for new in lengths:
            seconds = _gpt2_seconds(args, prompts, new, max_length)
            rows.append({"model": "keras_hub GPT2CausalLM", "params": None, "mode": "cached",
                         "new_tokens": new, "seconds": seconds})
            print(f"GPT2CausalLM cached    {new:5d} new tokens: {seconds:8.3f} s", file=sys.stderr, flush=True)
    print(_table(rows, args.batch_size, lengths))
    print()
    print(_flatness(rows, lengths))
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump({"args": vars(args), "backend": keras.config.backend(), "rows": rows}, f, indent=2)
        os.replace(args.json + ".tmp", args.json)


def _table(rows, batch_size, lengths):
    def find(model, mode, new):
        return next((r["seconds"] for r in rows if (r["model"], r["mode"], r["new_tokens"]) == (model, mode, new)),
                    None)

    models = list(dict.fromkeys(r["model"] for r in rows))
    gpt2 = "keras_hub GPT2CausalLM"
    lines = ["| model | new tokens | cached tokens/s | cached ms/token | recompute ms/token | recompute / cached "
             "| ms/token vs shortest | vs GPT-2 (time ratio) |", "|---" * 8 + "|"]
    for model in models:
        shortest = find(model, "cached", lengths[0]) / lengths[0]
        for new in lengths:
            cached = find(model, "cached", new)
            again = find(model, "recompute", new)
            reference = find(gpt2, "cached", new)
            per_token = cached / new
            lines.append(
                f"| {model} | {new} | {batch_size * new / cached:,.0f} | {1000 * per_token:.2f} | "
                + (f"{1000 * again / new:.2f} | {again / cached:.1f}x" if again else "- | -")
                + f" | {per_token / shortest:.2f} | "
                + (f"{reference / cached:.2f}" if model == "transformer" and reference else "-") + " |"
            )
    return "\n".join(lines)


def _flatness(rows, lengths):
    """Cached ms per new token at the shortest and the longest length, and their ratio (1.0 = flat)."""
    short, long = min(lengths), max(lengths)
    lines = [f"| model | cached ms/token at {short} | at {long} | {long} / {short} |", "|---" * 4 + "|"]
    for model in dict.fromkeys(r["model"] for r in rows if r["mode"] == "cached"):
        per_token = {r["new_tokens"]: 1000 * r["seconds"] / r["new_tokens"] for r in rows
                     if (r["model"], r["mode"]) == (model, "cached")}
        lines.append(f"| {model} | {per_token[short]:.2f} | {per_token[long]:.2f} | "
                     f"{per_token[long] / per_token[short]:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
