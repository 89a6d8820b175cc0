"""GPU benchmarks: the shipped suites at GPU scale, and training throughput with model-FLOPs utilization.

Suite mode runs the shipped suites at GPU scale: wider and deeper models, 10x the steps, bigger batches,
mixed precision (bfloat16 compute, float32 weights) and many steps per compiled call.

    python benchmarks/gpu.py                                   # all four suites, TensorFlow backend
    python benchmarks/gpu.py --backend jax --suites lm,diagnostics --data-dir ../shared/data
    python benchmarks/gpu.py --suites quick --seeds 3 --params 1000000 --dry-run

Each suite goes to OUT_ROOT/<suite>-gpu/ (default OUT_ROOT: runs/gpu); rerunning the same command
resumes, exactly as `kerasllm bench --out` does. `--backend` sets KERAS_BACKEND before Keras is
imported; on JAX, TensorFlow (where it is installed at all) is kept off the GPU.

Throughput mode (JAX, no TensorFlow needed) measures training speed per architecture:

    KERAS_BACKEND=jax python benchmarks/gpu.py throughput --archs transformer --dtypes bf16,f32
    python benchmarks/gpu.py throughput --dry-run             # toy sizes on a CPU, in seconds

Each row builds a causal LM through `kerasllm.models.build_model` (default: width 1024, context 1024, the
Transformer GPT-2-medium-like with 24 layers and 16 heads, ~354M parameters with GPT-2's vocabulary; the other
families at the same width, `GPU_LAYERS` deep), compiles it as the Trainer compiles an lm run (the
architecture's recipe optimizer and schedule, `SparseCrossEntropy`, the lm metrics; `compile_as_trainer`), and
trains it with `model.fit` on kerasllm's numpy input stream (`TrainingBatches`, what the Trainer feeds on JAX)
over random token windows, in bf16 (`mixed_precision=true`: the `mixed_bfloat16` policy) and/or float32. Plain
`fit` rather than `Trainer.fit`, because the Trainer also validates, checkpoints and writes TensorBoard files,
which a throughput figure should not include; the training step itself (model, loss, metrics, optimizer) is
the Trainer's. Warm-up steps (compilation included) are untimed; the timed steps end with `fit` returning,
after the last step's results reach the host.

Printed per row: step time, tokens/s, achieved model FLOP/s and MFU = achieved / the device's dense bf16 peak
(`PEAK_BF16_TFLOPS`: H100 SXM and H200 989, H100 PCIe 756, A100 312 TFLOP/s; `--peak-tflops` overrides; n/a on
a CPU), and the peak memory of the row (device memory on a GPU: `kerasllm.bench.PeakMemory`). The FLOPs are
`kerasllm.models.flops.train_flops_per_token`, the figure results.csv reports:

    model FLOPs / token = 3 x (2 N + 2 L T d) = 6 N + 6 L T d

with N the weights used once per token (embedding lookups out, the tied output projection in), L layers,
T context, d width, the attention term for the Transformer only (Kaplan et al., 2020). MFU-PaLM counts
attention as PaLM's appendix B does, 6 N + 12 L T d, the convention of most published MFU figures.

Paths: the Transformer's attention goes through `keras.ops.dot_product_attention`, which on JAX calls
`jax.nn.dot_product_attention` with `implementation="cudnn"` (flash attention) when Keras judges the inputs
fit, else XLA's; row `fused` is that default, row `xla` forces XLA's implementation. The kernel column says
which ran (`AttentionProbe`). The LSTM and GRU rows `masked` are kerasllm's path; `unmasked` passes no padding
mask, which Keras' JAX cuDNN LSTM (and its faster GRU scan) need (`RecurrentProbe` records which ran). With
several devices, the first Transformer row is rerun with `keras.distribution.DataParallel` over 1, 2, 4, ...
devices at a fixed per-device batch, with the scaling efficiency. `--dry-run` runs all of it at width 16 on
two host devices.
"""

import argparse
import contextlib
import dataclasses
import json
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
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["throughput"]:
        return throughput(argv[1:])
    args = parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend  # before the first Keras import
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    try:
        import tensorflow as tf
    except ImportError:  # JAX without TensorFlow: the numpy input pipeline and tensorboard's own writer
        tf = None
    if tf is not None and keras.backend.backend() != "tensorflow":
        tf.config.set_visible_devices([], "GPU")  # leave the GPU to JAX
    elif tf is not None:
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


# ------------------------------------------------------------------------------------------ throughput mode
#: GPU-scale defaults: GPT-2 medium's shape for the Transformer (width 1024, 24 layers, 16 heads, context 1024,
#: GPT-2's vocabulary rounded up to a multiple of 64), the other families at the same width and context.
GPU_SIZE = {"hidden_dim": 1024, "seq_len": 1024, "batch_size": 16, "vocab": 50304, "steps": 30, "warmup_steps": 10,
            "steps_per_execution": 10}
#: What --dry-run trains instead: the same code path at toy size, in seconds on a CPU.
DRY_SIZE = {"hidden_dim": 16, "seq_len": 32, "batch_size": 4, "vocab": 256, "steps": 4, "warmup_steps": 2,
            "steps_per_execution": 2}
#: Layers per architecture at GPU scale (--num-layers overrides): the Transformer and the CNN as deep as GPT-2
#: medium; the recurrent ones 2 deep, as recurrent LMs are (each of their 1024 time steps runs one after another).
GPU_LAYERS = {"transformer": 24, "cnn": 24, "bow": 4, "rnn": 2, "gru": 2, "lstm": 2}
DRY_LAYERS = 1
#: Dense bf16 peak of each device in TFLOP/s (vendor datasheets, no sparsity), matched in order against JAX's
#: `device_kind`; --peak-tflops overrides, and a device not listed has no MFU.
PEAK_BF16_TFLOPS = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("A100", 312.0))
#: How each architecture can run: the path kerasllm's Trainer takes first, then the kernels the benchmark can
#: switch to (`AttentionProbe`, `unmasked_backbone`).
PATHS = {"transformer": ("fused", "xla"), "lstm": ("masked", "unmasked"), "gru": ("masked", "unmasked")}
FLOPS_FORMULA = (
    "model FLOPs/token = kerasllm.models.flops.train_flops_per_token (results.csv's train_flops_per_token; "
    "Kaplan et al. 2020): 3 x (2 N + 2 L T d) = 6 N + 6 L T d, N = weights used per token (embedding lookups "
    "out, the tied output projection in), L layers, T context, d width; the attention term only for the "
    "Transformer. MFU-PaLM counts attention as PaLM does (6 N + 12 L T d).")


def parse_throughput_args(argv):
    parser = argparse.ArgumentParser(
        prog="gpu.py throughput", description="Training throughput, model-FLOPs utilization and peak memory per "
        "architecture on synthetic token batches (see the module docstring).")
    parser.add_argument("--archs", default="transformer,lstm,gru,cnn", help="comma-separated architectures")
    parser.add_argument("--dtypes", default="bf16,f32", help="bf16 (mixed_bfloat16) and/or f32")
    parser.add_argument("--paths", default="all",
                        help="all, or comma-separated: fused,xla (transformer attention), masked,unmasked (lstm, gru)")
    parser.add_argument("--hidden-dim", type=int)
    parser.add_argument("--num-layers", type=int, help="for every architecture (default: GPU_LAYERS)")
    parser.add_argument("--num-heads", type=int, help="Transformer heads (default: hidden_dim // 64)")
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--batch-size", type=int, help="sequences per step (per device when scaling)")
    parser.add_argument("--vocab", type=int)
    parser.add_argument("--steps", type=int, help="timed training steps per row")
    parser.add_argument("--warmup-steps", type=int, help="untimed steps first (compilation included)")
    parser.add_argument("--steps-per-execution", type=int)
    parser.add_argument("--no-metrics", action="store_true", help="compile the loss only, not the Trainer's lm metrics")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: PEAK_BF16_TFLOPS)")
    parser.add_argument("--scaling", default="auto",
                        help="device counts for data-parallel scaling of the first Transformer row, e.g. 2,4,8 "
                             "(1 device is that row); auto: 2, 4, ... up to all devices (none with one device); off")
    parser.add_argument("--deadline", type=float, help="seconds; rows not started by then are skipped")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--dry-run", action="store_true",
                        help="the same measurements at toy size (width 16, a few steps), on two host devices on CPU")
    args = parser.parse_args(argv)
    size = DRY_SIZE if args.dry_run else GPU_SIZE
    for key, value in size.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    bad = [d for d in args.dtypes if d not in ("bf16", "f32")]
    if bad:
        parser.error(f"unknown dtype(s) {', '.join(bad)}; use bf16 and/or f32")
    known_paths = {p for paths in PATHS.values() for p in paths}
    args.paths = known_paths if args.paths == "all" else {p.strip() for p in args.paths.split(",") if p.strip()}
    if args.paths - known_paths:
        parser.error(f"unknown path(s) {', '.join(sorted(args.paths - known_paths))}; "
                     f"choose from {', '.join(sorted(known_paths))}")
    if args.steps % args.steps_per_execution or args.warmup_steps % args.steps_per_execution:
        parser.error(f"--steps ({args.steps}) and --warmup-steps ({args.warmup_steps}) must be multiples of "
                     f"--steps-per-execution ({args.steps_per_execution})")
    return args


class AttentionProbe:
    """Wraps `jax.nn.dot_product_attention`, which Keras' JAX `ops.dot_product_attention` calls (cuDNN first when it
    judges the inputs fit, XLA's einsum-softmax-einsum otherwise or when cuDNN raises), to record which
    implementation returned; `force="xla"` makes every call XLA's, the benchmark's switch to the unfused path."""

    def __init__(self, force=None):
        self.force = force
        self.used, self.failed = set(), set()

    def __enter__(self):
        import jax

        self._jax, self._original = jax, jax.nn.dot_product_attention

        def probe(*args, implementation=None, **kwargs):
            implementation = self.force or implementation
            try:
                out = self._original(*args, implementation=implementation, **kwargs)
            except Exception:
                self.failed.add(implementation or "xla")
                raise
            self.used.add(implementation or "xla")
            return out

        jax.nn.dot_product_attention = probe
        return self

    def __exit__(self, *exc):
        self._jax.nn.dot_product_attention = self._original
        return False

    def describe(self):
        if not self.used:
            return "no dot_product_attention call"
        text = "+".join(sorted(self.used))
        if self.failed - self.used:
            text += f" ({'+'.join(sorted(self.failed - self.used))} raised, Keras fell back)"
        return text


class RecurrentProbe:
    """Wraps Keras' backend `lstm` and `gru`, which `keras.layers.LSTM` / `GRU` try before their generic step loop,
    to record which kernel ran: on JAX, the LSTM's is cuDNN's (`jax.experimental.rnn`, GPU only) and the GRU's a
    `lax.scan` with the input projections taken out of the loop; both take no mask."""

    KERNELS = {"lstm": "cuDNN LSTM", "gru": "GRU scan, input projections hoisted"}

    def __init__(self):
        self.used, self.reasons = set(), set()

    def __enter__(self):
        from keras.src import backend

        self._backend = backend
        self._originals = {name: getattr(backend, name) for name in self.KERNELS if hasattr(backend, name)}
        for name, original in self._originals.items():
            setattr(backend, name, self._wrap(name, original))
        return self

    def _wrap(self, name, original):
        mask_position = 3 if name == "lstm" else 2  # lstm(inputs, h, c, mask, ...), gru(inputs, h, mask, ...)

        def probe(*args, **kwargs):
            try:
                out = original(*args, **kwargs)
            except NotImplementedError as error:
                self.reasons.add(self._why(name, kwargs.get("mask", args[mask_position] if len(args) > mask_position
                                                            else None), error))
                raise
            self.used.add(self.KERNELS[name])
            return out

        return probe

    @staticmethod
    def _why(name, mask, error):
        import jax

        if mask is not None:
            return f"a padding mask is given (Keras' JAX {name} kernel takes none)"
        if name == "lstm" and jax.default_backend() != "gpu":
            return "no GPU for cuDNN"
        return f"declined: {error}" if str(error) else "declined by the layer's settings"

    def __exit__(self, *exc):
        for name, original in self._originals.items():
            setattr(self._backend, name, original)
        return False

    def describe(self):
        if self.used:
            return "+".join(sorted(self.used))
        return "generic step loop: " + "; ".join(sorted(self.reasons)) if self.reasons else "-"


def unmasked_backbone(arch):
    """kerasllm's `arch` ("lstm" or "gru") backbone with no padding mask passed to its Keras layers, registered as
    "<arch>_unmasked"; returns that name.

    Keras' JAX LSTM and GRU kernels (`RecurrentProbe`) take no mask, and kerasllm always passes the padding mask
    (so that padding never updates the state). The synthetic batches have no padding, so the variant computes the
    same outputs, and its row shows what the kernel would give; on padded batches it would be wrong, which is why
    it lives here and not in the package.
    """
    from kerasllm.models import BACKBONES, register_backbone

    name = f"{arch}_unmasked"
    if name not in BACKBONES:
        def encode(self, x, padding_mask, training=None):
            return super(cls, self).encode(x, None, training=training)

        cls = type(f"Unmasked{BACKBONES.get(arch).__name__}", (BACKBONES.get(arch),), {"encode": encode})
        register_backbone(name)(cls)
    return name


def peak_tflops(args, device):
    if args.peak_tflops:
        return args.peak_tflops, "--peak-tflops"
    if device.platform == "gpu":
        for name, tflops in PEAK_BF16_TFLOPS:
            if name in device.device_kind:
                return tflops, f"{name} dense bf16 datasheet"
    return None, f"no bf16 peak known for {device.platform} '{device.device_kind}'"


def synthetic_batches(args, batch_size):
    """kerasllm's numpy training stream (`TrainingBatches`, what the Trainer feeds on JAX) over random token windows
    with no padding: (token_ids, padding_mask), next-token targets, per-token weights."""
    import numpy as np

    from kerasllm.data.pipeline import EncodedSplit, TrainingBatches

    rng = np.random.default_rng(0)
    windows = rng.integers(4, args.vocab, size=(4 * batch_size, args.seq_len + 1), dtype=np.int32)
    encoded = EncodedSplit(windows[:, :-1], windows[:, 1:], np.ones((len(windows), args.seq_len), np.float32))
    return TrainingBatches(encoded, batch_size, seed=0)


def compile_as_trainer(model, config, total_steps, metrics=True):
    """Compiles `model` as `kerasllm.training.Trainer.compile` does for an lm run: the architecture's recipe
    (optimizer, warm-up + cosine schedule, clipping), `SparseCrossEntropy`, the token-weighted lm metrics, the
    config's `steps_per_execution`, XLA as Keras' "auto" picks it on JAX."""
    from kerasllm.training.losses import SparseCrossEntropy
    from kerasllm.training.metrics import metrics_for
    from kerasllm.training.optimizers import build_optimizer
    from kerasllm.training.schedule import WarmupCosine

    c = config
    schedule = WarmupCosine(c.learning_rate, total_steps, round(c.warmup_ratio * total_steps), c.min_lr_ratio)
    model.compile(optimizer=build_optimizer(c, schedule), loss=SparseCrossEntropy(c.label_smoothing),
                  weighted_metrics=metrics_for("lm") if metrics else None, jit_compile="auto",
                  steps_per_execution=c.steps_per_execution)


def train_row(args, arch, path, dtype, devices=None):
    """Builds one LM through `build_model`, trains warm-up then timed steps with `fit`, and measures them."""
    import gc
    import time

    import keras

    from kerasllm.bench.callbacks import PeakMemory
    from kerasllm.config import TrainConfig
    from kerasllm.data.base import TaskInfo
    from kerasllm.models import build_model, count_parameters
    from kerasllm.models.flops import train_flops_per_token
    from kerasllm.models.recipes import with_recipe

    keras.backend.clear_session()
    gc.collect()  # the previous row's arrays go before this row's memory is measured
    keras.utils.set_random_seed(0)
    batch_size = args.batch_size * (len(devices) if devices else 1)
    layers = args.num_layers or (DRY_LAYERS if args.dry_run else GPU_LAYERS.get(arch, 2))
    options = {}
    if arch == "transformer":
        options["num_heads"] = args.num_heads or max(1, args.hidden_dim // 64)
    built_arch = unmasked_backbone(arch) if path == "unmasked" else arch
    config = with_recipe(TrainConfig(
        task="synthetic_lm", arch=built_arch, hidden_dim=args.hidden_dim, num_layers=layers, max_length=args.seq_len,
        batch_size=batch_size, mixed_precision=dtype == "bf16", steps_per_execution=args.steps_per_execution,
        arch_options=options), "lm")
    info = TaskInfo(name="synthetic_lm", kind="lm", metric="perplexity", max_length=args.seq_len)
    batches = synthetic_batches(args, batch_size)
    distribution = keras.distribution.DataParallel(devices=devices) if devices else None
    attention = AttentionProbe(force="xla" if path == "xla" else None)
    with PeakMemory() as memory, attention, RecurrentProbe() as recurrent:
        with distribution.scope() if distribution else contextlib.nullcontext():
            model = build_model(config, info, args.vocab)
            compile_as_trainer(model, config, args.warmup_steps + args.steps, metrics=not args.no_metrics)
            start = time.perf_counter()
            model.fit(batches, steps_per_epoch=args.warmup_steps, epochs=1, verbose=0, shuffle=False)  # compiles
            warmup_seconds = time.perf_counter() - start
            start = time.perf_counter()
            history = model.fit(batches, steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False)
            seconds = time.perf_counter() - start
    loss = history.history["loss"][-1]
    flops = train_flops_per_token(model)
    palm_flops = flops + 3 * model.backbone.attention_flops_per_token(args.seq_len)
    tokens = args.steps * batch_size * args.seq_len
    row = {
        "arch": arch, "path": path, "dtype": dtype, "devices": len(devices) if devices else 1,
        "parameters": count_parameters(model), "num_layers": layers, "hidden_dim": args.hidden_dim,
        "batch_size": batch_size, "seq_len": args.seq_len, "steps": args.steps,
        "warmup_seconds": warmup_seconds, "seconds": seconds, "step_ms": 1000 * seconds / args.steps,
        "tokens_per_second": tokens / seconds, "train_flops_per_token": flops, "palm_flops_per_token": palm_flops,
        "model_tflops": flops * tokens / seconds / 1e12, "palm_tflops": palm_flops * tokens / seconds / 1e12,
        "loss": loss, "peak_memory_mb": memory.peak_mb, "memory_at_start_mb": (memory.start_bytes or 0) / 2**20,
        "memory_source": memory.source,
        "kernel": {"transformer": attention.describe(), "lstm": recurrent.describe(),
                   "gru": recurrent.describe()}.get(arch, "-"),
    }
    del model
    return row


def _fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


COLUMNS = (("arch", "arch"), ("path", "path"), ("dtype", "dtype"), ("devices", "dev"), ("parameters", "params"),
           ("num_layers", "L"), ("batch_size", "batch"), ("seq_len", "T"), ("step_ms", "step ms"),
           ("tokens_per_second", "tokens/s"), ("model_tflops", "TFLOP/s"), ("mfu", "MFU"), ("palm_mfu", "MFU-PaLM"),
           ("peak_memory_mb", "peak MB"), ("warmup_seconds", "warm-up s"), ("loss", "loss"), ("kernel", "kernel"))


def print_table(rows, log):
    cells = [[h for _, h in COLUMNS]]
    for row in rows:
        if "error" in row:
            cells.append([row["arch"], row["path"], row["dtype"], str(row.get("devices", 1)), row["error"]])
            continue
        cells.append([_fmt(row[k]) if k not in ("mfu", "palm_mfu") or row[k] is None else f"{row[k]:.1%}"
                      for k, _ in COLUMNS])
    widths = [max(len(c[i]) for c in cells if i < len(c) and len(c) == len(COLUMNS)) for i in range(len(COLUMNS))]
    for c in cells:
        log("  ".join(text.rjust(w) if i not in (0, 1, 2, len(COLUMNS) - 1) else text.ljust(w)
                      for i, (text, w) in enumerate(zip(c, widths))) if len(c) == len(COLUMNS) else "  ".join(c))


def scaling_counts(spec, available):
    """Device counts above 1 to run data-parallel (`--scaling`); 1 device is the single-device row."""
    if spec == "off":
        return []
    if spec == "auto":
        counts, k = [], 2
        while k < available:
            counts.append(k)
            k *= 2
        return counts + [available] if available > 1 else []
    counts = sorted({int(k) for k in spec.split(",")} - {1})
    if counts and (counts[0] < 1 or counts[-1] > available):
        raise SystemExit(f"--scaling {spec}: this machine has {available} devices; give counts from 2 to {available}.")
    return counts


def throughput(argv):
    args = parse_throughput_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.dry_run and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        # two host devices, so that the dry run on a CPU also takes the data-parallel scaling path
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2")
    import time

    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit(f"gpu.py throughput runs on the JAX backend (KERAS_BACKEND=jax), not "
                         f"{keras.backend.backend()}.")
    device = jax.devices()[0]
    peak, peak_from = peak_tflops(args, device)
    log = lambda line="": print(line, flush=True)  # noqa: E731
    log(f"backend jax {jax.__version__}, keras {keras.__version__}; {len(jax.devices())} x {device.platform} "
        f"'{device.device_kind}'; bf16 peak: {f'{peak:g} TFLOP/s ({peak_from})' if peak else f'n/a ({peak_from})'}")
    log(f"size: width {args.hidden_dim}, context {args.seq_len}, batch {args.batch_size}, vocab {args.vocab}; "
        f"{args.warmup_steps} warm-up + {args.steps} timed steps, {args.steps_per_execution} per execution"
        + (" (dry run)" if args.dry_run else ""))
    log("training: build_model + the Trainer's compile (recipe optimizer, SparseCrossEntropy"
        + (")" if args.no_metrics else ", lm metrics)") + ", model.fit on kerasllm's numpy TrainingBatches of "
        "random token windows; step ms, tokens/s and TFLOP/s over the timed steps only")
    log(FLOPS_FORMULA + " MFU = model TFLOP/s / the device's bf16 peak (f32 rows too).")
    jax.jit(lambda x: x + 1)(1.0).block_until_ready()  # the runtime's first compilation, charged to no row
    rows, started = [], time.perf_counter()

    def run(arch, path, dtype, devices=None):
        if args.deadline and time.perf_counter() - started > args.deadline:
            row = {"arch": arch, "path": path, "dtype": dtype, "devices": len(devices or [1]),
                   "error": f"skipped: past --deadline {args.deadline:g} s"}
        else:
            try:
                row = train_row(args, arch, path, dtype, devices)
            except Exception as error:  # one failing row must not lose the others' figures
                message = f"{type(error).__name__}: {error}".replace("\n", " ")[:300]
                row = {"arch": arch, "path": path, "dtype": dtype, "devices": len(devices or [1]),
                       "error": f"failed: {message}"}
        if "error" not in row:
            row["mfu"] = row["model_tflops"] / peak if peak else None
            row["palm_mfu"] = row["palm_tflops"] / peak if peak else None
        rows.append(row)
        log(f"  done: {arch} {path} {dtype} x{row['devices']}: " + (row.get("error") or
            f"{row['tokens_per_second']:,.0f} tokens/s, peak {row['peak_memory_mb']:,.0f} MB"))
        return row

    for arch in args.archs:
        paths = [p for p in PATHS.get(arch, ()) if p in args.paths] or [PATHS.get(arch, ("default",))[0]]
        for dtype in args.dtypes:
            for path in paths:
                run(arch, path, dtype)
    main_rows = list(rows)
    log()
    print_table(main_rows, log)
    memory_sources = sorted({r["memory_source"] for r in main_rows if "memory_source" in r})
    log("peak MB: " + "; ".join(memory_sources) + ".")
    log("kernel: the attention implementation that ran (jax.nn.dot_product_attention) or the recurrent kernel.")
    if {"lstm", "gru"} & set(args.archs):
        log("cuDNN LSTM: kerasllm's LSTM and GRU keep Keras' defaults (tanh, sigmoid, unroll=False, biases), which "
            "Keras' JAX kernels accept, but pass the padding mask to every layer, which those kernels do not take: "
            "'masked' is kerasllm's path (Keras' generic step loop), 'unmasked' the same backbone without the mask "
            "(valid here, where no batch has padding).")

    devices = jax.devices()
    counts = scaling_counts(args.scaling, len(devices))
    transformer = next((r for r in main_rows if r["arch"] == "transformer" and "error" not in r), None)
    if counts and transformer:
        log()
        log(f"data-parallel scaling (keras.distribution.DataParallel over the first k devices), "
            f"{transformer['path']} {transformer['dtype']} transformer, {args.batch_size} sequences per device; "
            "1 device: the row above, without a distribution:")
        scaled = [transformer] + [run("transformer", transformer["path"], transformer["dtype"], devices[:k])
                                  for k in counts]
        for row in scaled:
            if "error" not in row:
                row["scaling_efficiency"] = row["tokens_per_second"] / (row["devices"] *
                                                                        transformer["tokens_per_second"])
        print_table(scaled, log)
        log("scaling efficiency (tokens/s / (devices x the 1-device tokens/s)): " + ", ".join(
            f"{r['devices']}: " + ("n/a" if r.get("scaling_efficiency") is None else f"{r['scaling_efficiency']:.1%}")
            for r in scaled if "error" not in r))
    elif len(devices) == 1:
        log(f"data-parallel scaling: n/a (1 {device.platform} device)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"device": device.device_kind, "platform": device.platform,
                                                       "peak_bf16_tflops": peak, "rows": rows}, indent=1))
        log(f"rows written to {args.json}")
    failed = [r for r in rows if r.get("error", "").startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
