"""Training-step speed of our Transformer against keras-hub's blocks of the same size.

Both models are trained with plain `model.fit` (same optimizer, loss, XLA and steps per
execution, no metrics), so the ratio measures the models alone, not the Trainer. The default
size is nanoGPT's Tiny Shakespeare CPU configuration (4 pre-LN blocks, width 128, 4 heads,
context 64, batch 12, 65 characters).

    python benchmarks/transformer_step.py [--steps 600] [--vocab 67]
"""

import argparse
import time

import keras
import keras_hub
import numpy as np

from kerasllm.models import CausalLM, get_backbone


def ours(vocab, width, layers, heads, length):
    backbone = get_backbone("transformer", vocab_size=vocab, hidden_dim=width, num_layers=layers, causal=True,
                            num_heads=heads, max_length=length)
    return CausalLM(backbone)


def keras_hub_blocks(vocab, width, layers, heads, length):
    token_ids = keras.Input((length,), dtype="int32")
    x = keras_hub.layers.TokenAndPositionEmbedding(vocab, length, width)(token_ids)
    for _ in range(layers):
        x = keras_hub.layers.TransformerDecoder(4 * width, heads, normalize_first=True)(x)
    x = keras.layers.LayerNormalization()(x)
    return keras.Model(token_ids, keras.layers.Dense(vocab)(x))


def tokens_per_second(model, ids, targets, batch_size, steps):
    model.compile(keras.optimizers.AdamW(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=True, steps_per_execution=50)
    model.fit(ids, targets, batch_size=batch_size, steps_per_epoch=100, epochs=1, verbose=0)  # compile, warm up
    start = time.perf_counter()
    model.fit(ids, targets, batch_size=batch_size, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size * ids.shape[1] / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--vocab", type=int, default=67)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=12)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ids = rng.integers(4, args.vocab, size=(args.batch_size * args.steps, args.length + 1)).astype("int32")
    ids, targets = ids[:, :-1], ids[:, 1:]
    size = (args.vocab, args.width, args.layers, args.heads, args.length)
    results = {}
    for name, build in [("keras-hub TransformerDecoder", keras_hub_blocks), ("kerasllm transformer", ours)]:
        keras.utils.set_random_seed(0)
        model = build(*size)
        results[name] = tokens_per_second(model, ids, targets, args.batch_size, args.steps)
        print(f"{name:30s} {model.count_params():>9,} params  {results[name]:>9,.0f} tokens/s", flush=True)
        keras.backend.clear_session()
    ratio = results["kerasllm transformer"] / results["keras-hub TransformerDecoder"]
    print(f"kerasllm / keras-hub speed: {ratio:.2f}x")


if __name__ == "__main__":
    main()
