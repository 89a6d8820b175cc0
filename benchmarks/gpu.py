"""Runs the shipped suites at GPU scale: wider and deeper models, 10x the steps, bigger batches,
mixed precision (bfloat16 compute, float32 weights) and many steps per compiled call.

    python benchmarks/gpu.py                                   # all four suites, TensorFlow backend
    python benchmarks/gpu.py --backend jax --suites lm,diagnostics --data-dir ../shared/data
    python benchmarks/gpu.py --suites quick --seeds 3 --params 1000000 --dry-run

Each suite goes to OUT_ROOT/<suite>-gpu/ (default OUT_ROOT: runs/gpu); rerunning the same command
resumes, exactly as `kerasllm bench --out` does. `--backend` sets KERAS_BACKEND before Keras is
imported; on JAX, TensorFlow (which still feeds the tf.data input pipeline and writes the
TensorBoard files) is kept off the GPU so the two do not compete for its memory.
"""

import argparse
import dataclasses
import os
import pathlib
import sys

# What changes at GPU scale, per suite: shared settings, plus task_options merged into every cell.
GPU_SCALE = {
    "quick": {
        "settings": {"hidden_dim": 128, "batch_size": 64, "steps": 3000, "eval_every": 300,
                     "steps_per_execution": 100},
        "task_options": {"num_train": 40000, "num_validation": 2000, "num_test": 2000},
    },
    "classification": {
        "settings": {"hidden_dim": 256, "batch_size": 128, "epochs": 5, "steps_per_execution": 50},
        "task_options": {},
    },
    "lm": {
        "settings": {"hidden_dim": 384, "num_layers": 4, "batch_size": 64, "steps": 20000, "eval_every": 1000,
                     "steps_per_execution": 100},
        "task_options": {},
    },
    "diagnostics": {
        "settings": {"hidden_dim": 128, "batch_size": 128, "steps": 20000, "eval_every": 1000,
                     "steps_per_execution": 100},
        "task_options": {"num_train": 100000},
    },
}
COMMON = {"mixed_precision": True, "jit_compile": True}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default=",".join(GPU_SCALE), help="comma-separated shipped suites")
    parser.add_argument("--backend", choices=["tensorflow", "jax"], help="sets KERAS_BACKEND (default: as set)")
    parser.add_argument("--data-dir", help="parent folder of the real datasets (classification, lm)")
    parser.add_argument("--out-root", default="runs/gpu", help="each suite goes to OUT_ROOT/<suite>-gpu/")
    parser.add_argument("--archs", help="comma-separated architectures (default: every registered one)")
    parser.add_argument("--seeds", type=int, help="seeds per cell (default: the suite's)")
    parser.add_argument("--params", type=int, help="size every architecture to N parameters (+-5%%)")
    parser.add_argument("--time-budget", type=float, help="seconds of training per run")
    parser.add_argument("--dry-run", action="store_true", help="print the runs, train nothing")
    args = parser.parse_args(argv)
    args.suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    unknown = [s for s in args.suites if s not in GPU_SCALE]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(GPU_SCALE)}")
    return args


def gpu_suite(suite, scale):
    """The suite with GPU-scale settings; each cell's own budget gives way to the scaled one."""
    from kerasllm.bench.suite import merge_settings

    settings = merge_settings(suite.settings, scale["settings"], COMMON)
    budget_keys = {"steps", "epochs", "eval_every"} & set(scale["settings"])
    if "epochs" in budget_keys:
        settings.pop("steps", None)
        settings.pop("eval_every", None)
    if "steps" in budget_keys:
        settings.pop("epochs", None)
    cells = []
    for cell in suite.cells:
        changes = {key: None for key in budget_keys if getattr(cell, key) is not None}
        cell_settings = {k: v for k, v in cell.settings.items() if k not in budget_keys}
        task_options = {**cell.task_options, **scale["task_options"]}
        cells.append(dataclasses.replace(cell, task_options=task_options, settings=cell_settings, **changes))
    return suite.replace(name=f"{suite.name}-gpu", settings=settings, cells=tuple(cells))


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend  # before the first Keras import
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        tf.config.set_visible_devices([], "GPU")  # tf.data and summaries only: leave the GPU to JAX
    else:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    from kerasllm.bench import load_suite, plan, run_bench, select

    print(f"backend {keras.backend.backend()}, devices: {[str(d) for d in keras.distribution.list_devices()]}")
    archs = [a.strip() for a in args.archs.split(",")] if args.archs else None
    for name in args.suites:
        suite = select(gpu_suite(load_suite(name), GPU_SCALE[name]), archs=archs, seeds=args.seeds,
                       params=args.params, time_budget=args.time_budget, data_dir=args.data_dir)
        out = pathlib.Path(args.out_root) / suite.name
        if args.dry_run:
            runs = plan(suite, out)
            print(f"{suite.name}: {len(runs)} runs into {out}"
                  + (f" (widths sized to {suite.params:,} parameters when run)" if suite.params else ""))
            for run in runs:
                c = run.config
                print(f"  {run.name}: hidden_dim={c.hidden_dim} num_layers={c.num_layers} steps={c.steps} "
                      f"epochs={c.epochs} batch_size={c.batch_size} mixed_precision={c.mixed_precision}")
            continue
        run_bench(suite, out, log=lambda line: print(line, flush=True), command=[sys.executable, *sys.argv])


if __name__ == "__main__":
    main()
