"""kerasllm against nanoGPT on Tiny Shakespeare: wall time of whole processes and validation loss, one run.

Runs the nanoGPT CPU command of ../shared/peers/README.md (4 layers, 4 heads, width 128, context 64, batch 12,
2000 iterations, dropout 0, AdamW 1e-3, warm-up 100, cosine decay to 1e-4, weight decay 0.1, clipping 1.0) with
a PyTorch venv, and `kerasllm train` with the same settings, back to back, alternating which goes first, for
`--repeats` repetitions. Each side's time is the wall time of its whole process (start-up, data, compilation,
validations and the final evaluation included). nanoGPT's "val loss" is its estimate over `eval_iters` random
batches; kerasllm's `validation_loss` covers the whole validation split (both are the last 10% of input.txt,
checked here). Prints both losses, the medians and the ratio kerasllm / nanoGPT, and kerasllm's time outside
training (wall time minus `train_seconds` in metrics.json).

    python benchmarks/peer_nanogpt.py [--repeats 3] [--set steps_per_execution=50 --set eval_every=200 ...]
        [--data-dir ../shared/data] [--torch-python ~/peers/torchenv/bin/python] [--no-nanogpt]

Without a torch venv (create one as ../shared/peers/README.md says) only the kerasllm side runs.
"""

import argparse
import json
import os
import pathlib
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
PEERS = HERE.parent.parent / "shared" / "peers"
NANOGPT_FLAGS = ["config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--eval_iters=20",
                 "--log_interval=500", "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4",
                 "--n_embd=128", "--max_iters=2000", "--lr_decay_iters=2000", "--dropout=0.0", "--eval_interval=2000"]
#: nanoGPT's settings in kerasllm's words (its config file: lr 1e-3, min_lr 1e-4, warmup 100 of 2000 steps,
#: weight decay 0.1, grad_clip 1.0).
KERASLLM_SETTINGS = ["hidden_dim=128", "num_layers=4", "arch_options.num_heads=4", "max_length=64", "batch_size=12",
                     "steps=2000", "dropout=0.0", "learning_rate=1e-3", "min_lr_ratio=0.1", "warmup_ratio=0.05",
                     "weight_decay=0.1", "clipnorm=1.0",
                     # nanoGPT validates at the end only (eval_interval=2000), on 20 batches (eval_iters=20): so do
                     # we, then score the whole validation split once at the end (its loss is the one reported).
                     "eval_every=2000", "validation_batches=20"]


def prepare_nanogpt(source, work, input_txt, python):
    """A copy of nanoGPT in `work` with data/shakespeare_char prepared from `input_txt` (not timed)."""
    if not work.exists():
        shutil.copytree(source, work)
    data = work / "data" / "shakespeare_char"
    if not (data / "val.bin").exists():
        shutil.copyfile(input_txt, data / "input.txt")
        subprocess.run([python, "prepare.py"], cwd=data, check=True, stdout=subprocess.DEVNULL)
    return data


def check_same_validation_text(data, data_dir):
    """nanoGPT's val.bin decoded against kerasllm's tiny_shakespeare validation text."""
    from kerasllm.data import get_task

    itos = pickle.loads((data / "meta.pkl").read_bytes())["itos"]
    theirs = "".join(itos[i] for i in np.fromfile(data / "val.bin", dtype=np.uint16))
    ours = get_task("tiny_shakespeare", data_dir=data_dir).split("validation").texts
    same = ours == [theirs]
    print(f"validation text: nanoGPT {len(theirs):,} characters, kerasllm {sum(map(len, ours)):,}: "
          f"{'identical' if same else 'DIFFERENT'}")
    return same


def run_nanogpt(python, work, out_dir):
    start = time.perf_counter()
    done = subprocess.run([python, "train.py", *NANOGPT_FLAGS, f"--out_dir={out_dir}"], cwd=work,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"nanoGPT failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    losses = re.findall(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)", done.stdout)
    return {"seconds": seconds, "val_loss": float(losses[-1][2])}


def run_kerasllm(data_dir, settings, out):
    command = [sys.executable, "-m", "kerasllm", "train", "--task", "tiny_shakespeare", "--arch", "transformer",
               "--data-dir", str(data_dir), "--out", str(out), *KERASLLM_SETTINGS, *settings]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"kerasllm failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"seconds": seconds, "val_loss": metrics["validation_loss"], "train_seconds": metrics["train_seconds"],
            "outside": seconds - metrics["train_seconds"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data-dir", type=pathlib.Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--torch-python", type=pathlib.Path,
                        default=pathlib.Path.home() / "peers" / "torchenv" / "bin" / "python")
    parser.add_argument("--nanogpt", type=pathlib.Path, default=PEERS / "nanoGPT", help="nanoGPT's files")
    parser.add_argument("--work", type=pathlib.Path, default=pathlib.Path.home() / "peers" / "nanoGPT",
                        help="where nanoGPT is copied and its data prepared")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a kerasllm setting added to nanoGPT's (steps_per_execution=50, eval_every=2000, ...)")
    parser.add_argument("--no-nanogpt", dest="nanogpt_side", action="store_false", help="run kerasllm only")
    args = parser.parse_args()
    nanogpt = args.nanogpt_side and args.torch_python.exists()
    if args.nanogpt_side and not nanogpt:
        print(f"no torch venv at {args.torch_python}: kerasllm only (see ../shared/peers/README.md)")
    if nanogpt:
        data = prepare_nanogpt(args.nanogpt, args.work, args.data_dir / "tiny_shakespeare" / "input.txt",
                               args.torch_python)
        check_same_validation_text(data, args.data_dir)
    print(f"kerasllm settings: {' '.join(KERASLLM_SETTINGS + args.set)}", flush=True)
    results = {"nanogpt": [], "kerasllm": []}
    with tempfile.TemporaryDirectory(prefix="peer-nanogpt-") as root:
        for repeat in range(args.repeats):
            sides = [("kerasllm", lambda: run_kerasllm(args.data_dir, args.set, pathlib.Path(root) / f"k{repeat}"))]
            if nanogpt:
                sides.append(("nanogpt", lambda: run_nanogpt(args.torch_python, args.work,
                                                             pathlib.Path(root) / f"n{repeat}")))
            for name, run in sides if repeat % 2 == 0 else sides[::-1]:
                result = run()
                results[name].append(result)
                extra = (f", train_seconds {result['train_seconds']:.1f}, outside training {result['outside']:.1f} s"
                         if name == "kerasllm" else "")
                print(f"  repeat {repeat + 1} {name}: {result['seconds']:.1f} s in all, val loss "
                      f"{result['val_loss']:.4f}{extra}", flush=True)
    ours = results["kerasllm"]
    for name, runs in results.items():
        if runs:
            times = sorted(r["seconds"] for r in runs)
            print(f"{name}: wall s min/median/max {times[0]:.1f}/{statistics.median(times):.1f}/{times[-1]:.1f}, "
                  f"val loss median {statistics.median(r['val_loss'] for r in runs):.4f}")
    outside = sorted(r["outside"] for r in ours)
    print(f"kerasllm outside training: min/median/max {outside[0]:.1f}/{statistics.median(outside):.1f}/"
          f"{outside[-1]:.1f} s")
    if nanogpt:
        ratios = [k["seconds"] / n["seconds"] for k, n in zip(ours, results["nanogpt"])]
        print(f"wall time kerasllm / nanoGPT: median {statistics.median(ratios):.3f} "
              f"(per repetition {', '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
