"""Command line: parses arguments and calls the library; no logic of its own.

    kerasllm train --task negation_sentiment --arch lstm --epochs 3
    kerasllm evaluate RUN_DIR --split test
    kerasllm bench [SUITE] [--archs a,b] [--tasks t,u] [--params N] [--seeds K] [--tokens N]
                   [--lr-sweep 3e-4,1e-3,3e-3 [--sweep-seeds 1]] [--out DIR]
    kerasllm report OUT [OUT2 ...]
    kerasllm generate RUN_DIR --prompt TEXT [--sampler top_p --p 0.9 --seed 1] [--no-cache]
    kerasllm score RUN_DIR FILE
    kerasllm archs | tasks
    kerasllm lab list | lab check LAB FILE.py:Class [--no-train]

User errors print one line to stderr and exit with code 2, and stderr carries nothing else: no start-up
chatter from TensorFlow (see `_import_tensorflow_quietly`). Listing and misspelt names answer from
`kerasllm.catalog` without importing TensorFlow or Keras; this module imports nothing heavy itself.
"""

import argparse
import contextlib
import io
import json
import logging
import os
import re
import sys
import tempfile

from kerasllm import catalog


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (plus a pointer to --help) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(text):
    """`text` with line breaks (say, from a file name or argument the user typed) shown escaped."""
    return "".join(c.encode("unicode_escape").decode() if c in _LINE_BREAKS else c for c in str(text))


_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


DISTRIBUTION_HELP = ("data_parallel: copy the model onto every GPU (else CPU device) of this machine, or of a "
                     "TensorFlow TF_CONFIG cluster, and split each batch (the global --batch-size) across them; "
                     "see docs/distributed.md")


def _add_train(subparsers):
    p = subparsers.add_parser("train", help="train one architecture on one task",
                              description="Train one architecture on one task into a run directory.")
    p.add_argument("--task", help="task name (see `kerasllm tasks`)")
    p.add_argument("--arch", help="architecture name (see `kerasllm archs`)")
    p.add_argument("--data-dir", help="parent folder of real datasets: reads DATA_DIR/<task>/")
    p.add_argument("--out", help="run directory (default: a new folder under ./runs/); reusing an "
                                 "unfinished one resumes it")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="passes over the training data (default 3)")
    length.add_argument("--steps", type=int, help="optimizer steps instead of epochs")
    length.add_argument("--tokens", type=int, metavar="N", help="train on N training tokens (real input tokens) "
                        "instead: steps = ceil(N / tokens per batch), rounded up to whole validation periods")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-length", type=int, help="tokens per sequence (default: the task's)")
    p.add_argument("--hidden-dim", type=int)
    p.add_argument("--num-layers", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--tokenizer", help="tokenizer name (default: the task's)")
    p.add_argument("--config", help="a JSON or YAML file of settings (e.g. a run's config.json)")
    p.add_argument("--distribution", choices=["data_parallel"], help=DISTRIBUTION_HELP)
    transfer = p.add_argument_group("pre-training and fine-tuning")
    transfer.add_argument("--objective", choices=["lm", "mlm"],
                          help="train on the task's text instead of its labels: lm (next token) or mlm (masked tokens)")
    transfer.add_argument("--init-from", metavar="RUN_DIR",
                          help="start from the embedding and backbone (and tokenizer) of an earlier run")
    transfer.add_argument("--embeddings", metavar="FILE",
                          help="word vectors (GloVe / word2vec / fastText text format) for the embedding")
    transfer.add_argument("--freeze-embeddings", action="store_true", default=None,
                          help="keep the loaded vectors fixed for the whole run")
    _add_trust_code(p)
    _add_plugin_flags(p)
    _add_verbose(p)
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="any setting, e.g. learning_rate=3e-4 arch_options.num_heads=8 freeze_backbone_epochs=1")
    p.set_defaults(run=_train, check=_train_config)


def _add_evaluate(subparsers):
    p = subparsers.add_parser("evaluate", help="evaluate a finished run on a split",
                              description="Evaluate a finished run's model on a split; prints JSON.")
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--data-dir", help="read the dataset from here instead of the run's data_dir")
    _add_trust_code(p)
    p.set_defaults(run=_evaluate)


def _add_verbose(p):
    p.add_argument("--verbose", action="store_true",
                   help="Keras' own line per epoch (and library warnings) instead of the progress display")


def _add_trust_code(p):
    p.add_argument("--trust-code", action="store_true",
                   help="import the Python files a run's config names (your --cell/--attention/--block/arch "
                        "file); without it such a run is refused, so a run folder never runs code on its own")


def _names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated names, e.g. gru,transformer")
    return names


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: '{text}'")
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _rates(text):
    """'3e-4,1e-3' -> (0.0003, 0.001); 'x0.3,x3' -> ('x0.3', 'x3'), factors of each architecture's recipe rate
    (kerasllm.bench.lr_sweep checks them again)."""
    entries = []
    for item in text.split(","):
        try:
            rate = float(item[1:] if item.startswith("x") else item)
        except ValueError:
            rate = None
        if rate is None or not 0 < rate < float("inf"):
            raise argparse.ArgumentTypeError(f"expected comma-separated positive learning rates, e.g. "
                                             f"3e-4,1e-3,3e-3, or factors of each architecture's recipe rate, "
                                             f"e.g. x0.3,x1,x3, got '{text}'")
        entries.append(item if item.startswith("x") else rate)
    return tuple(entries)


def _add_bench(subparsers):
    p = subparsers.add_parser(
        "bench", help="compare architectures: a suite of tasks x archs x seeds",
        description="Run a benchmark suite (tasks x architectures x seeds) through the one Trainer, "
                    "then write results.csv, results.md and plots into OUT. Rerunning with the same "
                    "--out resumes: finished runs are reused, unfinished ones resume from their checkpoint.")
    p.add_argument("suite", nargs="?", default="quick",
                   help="quick (default), classification, lm, diagnostics, or a .py/.json/.yaml suite file")
    p.add_argument("--archs", type=_names, metavar="A,B", help="comma-separated architectures (default: the suite's)")
    p.add_argument("--tasks", type=_names, metavar="T,U", help="comma-separated cells or tasks (default: the suite's)")
    p.add_argument("--params", type=_positive(int), metavar="N", help="size every architecture to N parameters (+-5%%)")
    p.add_argument("--seeds", type=_positive(int), metavar="K", help="seeds per cell: 0..K-1 (default: the suite's)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=_positive(int), metavar="N", help="train every run for N epochs")
    budget.add_argument("--steps", type=_positive(int), metavar="N", help="train every run for N optimizer steps")
    budget.add_argument("--tokens", type=_positive(int), metavar="N",
                        help="train every run on N training tokens: the same token budget for every architecture")
    p.add_argument("--lr-sweep", type=_rates, metavar="A,B,C",
                   help="train every (task, arch) at each learning rate (x0.3,x1,x3: factors of each arch's recipe "
                        "rate), keep the best on validation, test only it")
    p.add_argument("--sweep-seeds", type=_positive(int), metavar="K",
                   help="with --lr-sweep: train seeds 0..K-1 at every rate, then the other --seeds at the "
                        "selected rate only")
    p.add_argument("--time-budget", type=_positive(float), metavar="SECONDS",
                   help="stop every run after this much training wall clock (the step budget stays the "
                        "cap and the learning-rate schedule's length)")
    p.add_argument("--data-dir", help="parent folder of real datasets: reads DATA_DIR/<task>/")
    p.add_argument("--out", help="bench folder (default: runs/<suite>/<timestamp>/); reusing one resumes it")
    p.add_argument("--shard", metavar="I/N", help="run only the I-th of N disjoint slices of the runs (one per "
                                                  "machine, same --out); `kerasllm report OUT` merges them")
    p.add_argument("--distribution", choices=["data_parallel"], help=DISTRIBUTION_HELP + " (every run)")
    executors = p.add_argument_group("running the runs elsewhere")
    executors.add_argument("--executor", default="serial", choices=["serial", "ray"],
                           help="serial (default): one run after another here; ray: each group of runs as a Ray "
                                "task on the cluster RAY_ADDRESS names (or a local one); OUT must be on a shared "
                                "file system (pip install \"kerasllm[ray]\")")
    executors.add_argument("--ray-cpus", type=_positive(float), metavar="N", help="CPUs per Ray task (default 1)")
    executors.add_argument("--ray-gpus", type=_positive(float), metavar="N", help="GPUs per Ray task (default 0)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their settings, train nothing")
    _add_verbose(p)
    p.set_defaults(run=_bench, check=_check_bench_names)


def _add_report(subparsers):
    p = subparsers.add_parser(
        "report", help="rebuild tables and plots from bench folders",
        description="Rebuild results.csv, results.md and plots from the run directories of one or "
                    "several bench folders (merged).")
    p.add_argument("benches", nargs="+", metavar="OUT", help="bench folders")
    p.add_argument("--out", help="where to write (default: the bench folder itself, or "
                                 "runs/report/<timestamp>/ for several)")
    p.set_defaults(run=_report)


# --- kerasllm generate / score: a language-model run's text (logic in kerasllm/generation) ------------------
_SAMPLER_FLAGS = {"temperature": "temperature", "k": "k", "p": "p", "beams": "num_beams",
                  "length_penalty": "length_penalty", "seed": "seed"}


# generate's flags that only a language model takes, with their defaults.
_LANGUAGE_MODEL_ONLY = {"num_samples": 1, "repetition_penalty": 1.0, "ignore_eos": False}


def _add_generate(subparsers):
    p = subparsers.add_parser(
        "generate", help="continue prompts with a language-model run, or translate / summarize with a seq2seq run",
        description="Continue prompts with a finished language-model run, or, for a run of a seq2seq task "
                    "(multi30k, scitldr, pairs, ...), print the translation or summary of each prompt; decoding "
                    "steps with the architecture's state (key/value cache, RNN state, convolution buffer).")
    p.add_argument("run_dir")
    p.add_argument("--prompt", action="append", default=[], metavar="TEXT",
                   help="a prompt (repeatable); an empty prompt starts a new document")
    p.add_argument("--prompts-file", metavar="F", help="a UTF-8 file with one prompt per line")
    p.add_argument("--sampler", default="greedy", help="greedy (default), temperature, top_k, top_p or beam")
    p.add_argument("--temperature", type=float, help="softmax temperature > 0 (sampling samplers)")
    p.add_argument("--k", type=int, help="top_k: sample among the k most likely tokens")
    p.add_argument("--p", type=float, help="top_p: the nucleus probability, in (0, 1]")
    p.add_argument("--beams", type=_positive(int), help="beam: number of beams")
    p.add_argument("--length-penalty", type=float, help="beam: rank by log-likelihood / length**L (default 1)")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help=">= 1; 1.2 discourages repeats")
    p.add_argument("--max-new-tokens", type=_positive(int),
                   help="default: 100 for a language model; the model's length for a seq2seq run")
    p.add_argument("--seed", type=int, help="makes sampling reproducible")
    p.add_argument("--num-samples", type=_positive(int), default=1, help="continuations per prompt")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute the whole prefix at every step (slow; the reference for the cache)")
    p.add_argument("--allow-unknown", action="store_true", help="let prompts hold text the tokenizer never saw")
    p.add_argument("--ignore-eos", action="store_true",
                   help="go on past the end-of-document token (by default a continuation stops there)")
    _add_trust_code(p)
    p.set_defaults(run=_generate)


def _add_score(subparsers):
    p = subparsers.add_parser(
        "score", help="log-likelihood and perplexity of each line of a file",
        description="Score a UTF-8 text file with a language-model run: each non-blank line is one "
                    "document (as in PTB / WikiText). Prints per-line log-likelihood and perplexity and "
                    "the token-weighted corpus perplexity, which equals `kerasllm evaluate` on the same text.")
    p.add_argument("run_dir")
    p.add_argument("file")
    p.add_argument("--batch-size", type=_positive(int), default=32, help="windows per forward pass")
    _add_trust_code(p)
    p.set_defaults(run=_score)


def _read_prompts(args):
    from kerasllm.generation.text_files import read_user_lines

    prompts = list(args.prompt)
    if args.prompts_file:
        prompts += read_user_lines(args.prompts_file, "prompts file")
    if not prompts:
        raise _usage_error("generate needs --prompt TEXT or --prompts-file F.")
    return prompts


def _generate(args):
    import inspect

    from kerasllm.generation import SAMPLERS, generate, translate
    from kerasllm.generation.runs import is_seq2seq_run, language_model_run
    from kerasllm.tokenizers.base import EOS_ID
    from kerasllm.training import open_run

    prompts = _read_prompts(args)
    accepted = inspect.signature(SAMPLERS.get(args.sampler)).parameters  # --seed is moot for greedy / beam
    options = {option: getattr(args, flag) for flag, option in _SAMPLER_FLAGS.items()
               if getattr(args, flag) is not None and not (option == "seed" and option not in accepted)}
    opened = open_run(args.run_dir, trust_code=args.trust_code)
    if is_seq2seq_run(opened):  # each prompt is a source: print its translation (or summary), one line each
        for flag, default in _LANGUAGE_MODEL_ONLY.items():
            if getattr(args, flag) != default:
                raise _usage_error(f"--{flag.replace('_', '-')} is for language-model runs; {args.run_dir} is a "
                                   f"seq2seq run (task {opened.config.task}). Remove it.")
        for text in translate(opened.model, prompts, opened.tokenizer, max_new_tokens=args.max_new_tokens,
                              sampler=args.sampler, use_cache=not args.no_cache,
                              source_tokenizer=opened.source_tokenizer, **options):
            print(text, flush=True)
        return
    run = language_model_run(opened, args.run_dir)
    texts = generate(run.lm, prompts, max_new_tokens=args.max_new_tokens or 100, sampler=args.sampler,
                     tokenizer=run.tokenizer, repetition_penalty=args.repetition_penalty,
                     use_cache=not args.no_cache, num_samples=args.num_samples,
                     allow_unknown=args.allow_unknown, stop_token_ids=() if args.ignore_eos else (EOS_ID,),
                     **options)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"=== prompt {i // args.num_samples + 1}, sample {i % args.num_samples + 1} ===")
        print(text, flush=True)


def _score(args):
    from kerasllm.generation import load_language_model, score_texts
    from kerasllm.generation.text_files import read_documents

    documents = read_documents(args.file)
    run = load_language_model(args.run_dir, trust_code=args.trust_code)
    result = score_texts(run.lm, run.tokenizer, documents, run.max_length, batch_size=args.batch_size)
    print("line\ttokens\tlog_likelihood\tperplexity\ttext")
    for number, line in enumerate(result.lines, 1):
        print(f"{number}\t{line.num_tokens}\t{line.log_likelihood:.4f}\t{line.perplexity:.4f}\t{line.text[:60]}")
    print(f"corpus\t{result.num_tokens}\t{result.log_likelihood:.4f}\t{result.perplexity:.6f}\t"
          f"(cross-entropy {result.cross_entropy:.6f} nats/token)")


# --- a student's class inside a built-in backbone: --cell / --attention / --block (kerasllm/models/plugins.py) ---
def _add_plugin_flags(p):
    p.add_argument("--cell", metavar="FILE.py:Class", help="your RNN cell in every recurrent layer (--arch rnn)")
    p.add_argument("--attention", metavar="FILE.py:Class", help="your attention in every block (--arch transformer)")
    p.add_argument("--block", metavar="FILE.py:Class", help="your convolution block (--arch cnn)")


def _with_plugins(values, args):
    """Puts --cell / --attention / --block into arch_options, as absolute paths (config.json must work anywhere)."""
    from kerasllm.config import PLUGIN_OPTIONS
    from kerasllm.imports import absolute_import_path

    values = {**values, "arch": absolute_import_path(values.get("arch"))}
    options = dict(values.get("arch_options") or {})
    options.update({option: absolute_import_path(getattr(args, option)) for option in PLUGIN_OPTIONS
                    if getattr(args, option) is not None})
    return {**values, "arch_options": options} if options else values


# --- kerasllm lab: the teaching labs' checker (logic in kerasllm/labs) ------------------------------------------
def _add_lab(subparsers):
    p = subparsers.add_parser(
        "lab", help="teaching labs: list them, or check a student's class",
        description="Teaching labs (docs/labs/). `kerasllm lab check LAB FILE.py:Class` runs the lab's checks on "
                    "your class, prints PASS/FAIL with a hint per check, and exits 0 only when all pass.")
    commands = p.add_subparsers(dest="lab_command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="the labs and the convention each class follows").set_defaults(
        run=_lab_list, light=True)
    c = commands.add_parser("check", help="check a class against a lab",
                            description="Check your class against a lab; exits 0 only when every check passes.")
    c.add_argument("lab", help="lab name (see `kerasllm lab list`)")
    c.add_argument("target", metavar="FILE.py:Class", help="your class, e.g. my_cell.py:MyCell")
    c.add_argument("--no-train", action="store_true", help="skip the last check (a short training run)")
    c.set_defaults(run=_lab_check)


def _lab_list(args):
    for lab in catalog.LABS:
        print(f"{lab.number} {lab.name:22s} {lab.title}\n   convention: {lab.convention}\n   starter: "
              f"docs/labs/starters/{lab.starter}")


def _lab_check(args):
    from kerasllm.labs import check_lab

    report = check_lab(args.lab, args.target, train=not args.no_train)
    for line in report.lines():
        print(line, flush=True)
    failed = len(report.failures())
    print(f"lab {args.lab}: " + ("all checks pass" if report.passed else f"{failed} of {len(report.results)} "
                                                                        "checks did not pass"))
    return 0 if report.passed else 1


def build_parser():
    parser = _Parser(prog="kerasllm", description="Compare text-model architectures on the same footing.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(subparsers)
    _add_evaluate(subparsers)
    _add_bench(subparsers)
    _add_report(subparsers)
    _add_generate(subparsers)
    _add_score(subparsers)
    _add_lab(subparsers)
    subparsers.add_parser("archs", help="list architectures").set_defaults(run=_archs, light=True)
    subparsers.add_parser("tasks", help="list tasks").set_defaults(run=_tasks, light=True)
    return parser


FLAGS = ("task", "arch", "data_dir", "epochs", "steps", "tokens", "batch_size", "max_length", "hidden_dim",
         "num_layers", "seed", "tokenizer", "objective", "init_from", "embeddings", "freeze_embeddings",
         "distribution")
BUDGET_FLAGS = ("epochs", "steps", "tokens")


def _train_config(args):
    """The run's `TrainConfig` from --config, the flags and key=value settings, with its task and architecture
    checked against the built-in names (no TensorFlow needed: main runs this before importing it)."""
    from kerasllm.config import TrainConfig

    values = TrainConfig.from_file(args.config, args.trust_code).to_dict() if args.config else {}
    values.update({k: getattr(args, k) for k in FLAGS if getattr(args, k) is not None})
    for flag in BUDGET_FLAGS:  # argparse lets one through; it replaces the --config's budget
        if getattr(args, flag) is not None:
            values = {key: value for key, value in values.items() if key not in BUDGET_FLAGS or key == flag}
    if not values.get("task") or not values.get("arch"):
        raise _usage_error("train needs --task and --arch (or a --config that sets them).")
    values = _with_plugins(values, args)
    config = TrainConfig.from_dict(values).with_overrides(args.overrides)
    from kerasllm.imports import absolute_import_path

    for field in ("lm_metric", "cross_attention"):  # my_file.py:MyClass: config.json must work from anywhere
        if getattr(config, field):
            config = config.replace(**{field: absolute_import_path(getattr(config, field))})
    for field in ("init_from", "embeddings"):  # paths, recorded absolute so config.json works from anywhere
        if getattr(config, field):
            config = config.replace(**{field: os.path.abspath(getattr(config, field))})
    _check_name("task", config.task)  # in the Trainer's order: the task, then the architecture
    _check_name("architecture", config.arch)
    return config


def _train(args):
    from kerasllm.training import Trainer
    from kerasllm.training.baselines import BASELINES

    config = args.checked  # main ran _train_config before importing TensorFlow
    if config.arch in BASELINES:  # a non-neural row (tfidf_lr): one call that prints its own lines
        metrics = BASELINES.get(config.arch)(config, run_dir=args.out, log=lambda line: print(line, flush=True))
        print(json.dumps(metrics, indent=2, sort_keys=True))
        return
    trainer = Trainer(config, run_dir=args.out)
    print(f"run directory: {trainer.run.path}" + (" (resuming)" if trainer.run.resuming else ""), flush=True)
    print(_recipe_line(config, trainer.config), flush=True)
    if trainer.initialized.get("embeddings", {}).get("summary"):  # --embeddings: the vectors' coverage
        print(trainer.initialized["embeddings"]["summary"], flush=True)
    if args.verbose:
        metrics = trainer.fit(verbose=2)
    else:
        from kerasllm.training.progress import StepProgress

        with StepProgress(metric=trainer.info.metric, tokens_per_step=trainer.tokens_per_step, live=sys.stdout.isatty()) as progress:
            metrics = trainer.fit(callbacks=[progress], verbose=0)
    print(json.dumps(metrics, indent=2, sort_keys=True))


def _recipe_line(asked, used):
    """The optimizer settings a run trains with, and whether they came from the architecture's recipe."""
    from kerasllm.models.recipes import DEFAULT_RECIPE

    settings = ", ".join(f"{key}={getattr(used, key):g}" for key in DEFAULT_RECIPE if key != "optimizer")
    line = f"optimizer: {used.optimizer}, {settings}"
    if asked.learning_rate is not None and asked.optimizer is None and used.optimizer != DEFAULT_RECIPE["optimizer"]:
        line += (f" (your learning_rate with the {used.arch} recipe's {used.optimizer}; add "
                 f"optimizer={DEFAULT_RECIPE['optimizer']} for an {DEFAULT_RECIPE['optimizer']} rate)")
    return line


def _evaluate(args):
    from kerasllm.training import open_run

    run = open_run(args.run_dir, trust_code=args.trust_code, data_dir=args.data_dir)
    print(json.dumps(run.evaluate(args.split), indent=2, sort_keys=True))


def _check_bench_names(args):
    """Refuses a misspelt suite, --archs or --tasks name before TensorFlow is imported."""
    catalog.check_suite(args.suite)
    for arch in args.archs or ():
        _check_name("architecture", arch)
    cells = catalog.SUITES.get(args.suite)
    for name in args.tasks or ():
        if cells is not None and name not in cells:  # a suite file's cell names are known once it is read
            _check_name("task", name)


def _bench_display(args):
    """Keras' lines with --verbose, one live display on a terminal, else a plain line per run."""
    from kerasllm.bench.progress import BenchLines, BenchProgress

    def log(line):
        print(line, flush=True)

    if args.verbose:
        return BenchLines(log, keras_verbose=2)
    return BenchProgress() if sys.stdout.isatty() else BenchLines(log, keras_verbose=0)


def _bench(args):
    from kerasllm.bench import default_bench_path, load_suite, plan, select
    from kerasllm.bench.suite import first_and_confirming
    from kerasllm.bench.lr_sweep import entries_text

    suite = select(load_suite(args.suite), archs=args.archs, tasks=args.tasks, params=args.params,
                   seeds=args.seeds, epochs=args.epochs, steps=args.steps, tokens=args.tokens,
                   time_budget=args.time_budget, data_dir=args.data_dir, lr_sweep=args.lr_sweep,
                   sweep_seeds=args.sweep_seeds)
    if args.distribution:
        suite = suite.replace(settings={**suite.settings, "distribution": args.distribution})
    from kerasllm.bench.shards import parse_shard, shard_runs

    shard = parse_shard(args.shard) if args.shard else None
    out = args.out or default_bench_path(suite.name)
    if shard and not args.out:
        raise _usage_error("--shard needs --out: every shard writes into the same bench folder.")
    if args.dry_run:
        runs = plan(suite, out)
        runs = shard_runs(runs, suite, shard) if shard else runs
        first, confirming = first_and_confirming(runs)
        print(f"bench '{suite.name}': {len(first) + len(confirming)} runs into {out}"
              + (f", sized to {suite.params:,} parameters" if suite.params else "")
              + (f", {suite.time_budget:g} s each" if suite.time_budget else "")
              + (f", learning rates {entries_text(suite.lr_sweep)}" if suite.lr_sweep else ""))
        for run in first:
            c = run.config
            budget = next((f"{flag}={getattr(c, flag)}" for flag in ("steps", "tokens", "epochs")
                           if getattr(c, flag) is not None), "epochs=default")
            print(f"{run.name:45s} {budget} learning_rate={c.learning_rate} hidden_dim={c.hidden_dim} "
                  f"num_layers={c.num_layers} task_options={json.dumps(c.task_options, sort_keys=True)}")
        for label, arch, seed in confirming:
            print(f"{label}/{arch}/lr<selected>/seed{seed}  after the sweep, at the rate it selects")
        return
    from kerasllm.bench.executors import EXECUTORS

    resources = {key: value for key, value in (("cpus_per_task", args.ray_cpus), ("gpus_per_task", args.ray_gpus))
                 if value is not None}
    if resources and args.executor != "ray":
        raise _usage_error("--ray-cpus and --ray-gpus size the tasks of --executor ray: add --executor ray.")
    result = EXECUTORS.get(args.executor)(suite, out, command=["kerasllm", *sys.argv[1:]], display=_bench_display(args),
                                          shard=shard, **resources)
    if result.failed and len(result.failed) == len(result.outcomes):
        from kerasllm.errors import TrainingError

        raise TrainingError(f"every run failed (first: {result.failed[0].name}: {result.failed[0].error}).")


def _report(args):
    from kerasllm.bench import report
    from kerasllm.bench.results import run_name

    outputs = report(args.benches, out=args.out)
    print(outputs.markdown)
    for row in outputs.dropped:
        print(f"note: {run_name(row)} of {row['bench']} is also in an earlier folder; the earlier one is used.")
    print(f"wrote {outputs.csv}, {outputs.markdown_path} and {len(outputs.plots)} plots in {outputs.out / 'plots'}")


def _archs(args):
    for name, summary in _listed("architecture", catalog.ARCHITECTURES) + list(catalog.PREFIXED_ARCHITECTURES):
        print(f"{name:12s} {summary}")


def _tasks(args):
    for name, kind, metric, summary in _listed("task", catalog.TASKS):
        print(f"{name:20s} {kind:15s} {metric:15s} {summary}")


def _listed(kind, built_in):
    """The catalog's entries, then any registered in this process since (when the registry is loaded)."""
    entries = list(built_in)
    registry = _loaded_registry(kind)
    for name in registry.names() if registry is not None else ():
        if name not in catalog.names(kind):
            cls = registry.get(name)
            entries.append((name, _summary(cls)) if kind == "architecture" else
                           (name, cls.info.kind, cls.info.metric, _summary(cls)))
    return entries


def _summary(obj):
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


# --- names before anything heavy: the catalog of built-ins, import paths, and what this process registered ---
_REGISTRIES = {"architecture": ("kerasllm.models.backbone", "BACKBONES"), "task": ("kerasllm.data.base", "TASKS")}


def _loaded_registry(kind):
    """The registry of `kind` if its module is already imported (by a test, or a script that registered
    its own classes before calling `main`), else None: the CLI never imports it just to check a name."""
    module_name, attribute = _REGISTRIES[kind]
    module = sys.modules.get(module_name)
    return getattr(module, attribute, None) if module is not None else None


def _check_name(kind, name):
    """Refuses an unknown architecture or task name with the registry's message; import paths pass."""
    from kerasllm.imports import is_import_path

    if is_import_path(name):
        return  # a user's file.py:Class: the library imports and checks it
    registry = _loaded_registry(kind)
    catalog.check_name(kind, name, also=registry.names() if registry is not None else ())


def _usage_error(message):
    from kerasllm.errors import ConfigError

    return ConfigError(message)


# --- TensorFlow's start-up chatter -------------------------------------------------------------------------
# TensorFlow's shared libraries (libtensorflow_framework and again _pywrap_profiler_plugin, each with its own
# copy) log from their static initializers, before absl::InitializeLog() has run. Until then absl writes every
# message to stderr whatever its severity, so TF_CPP_MIN_LOG_LEVEL, which filters later messages, cannot hide
# "WARNING: All log messages before absl::InitializeLog() ...", the oneDNN note (port.cc) and "Could not find
# cuda drivers" (cudart_stub.cc). TF_ENABLE_ONEDNN_OPTS=0 would drop only the oneDNN line, and change the
# numerics. So the CLI imports TensorFlow once with stderr's file descriptor pointed at a temporary file, then
# writes back every line except C++ log lines below TF_CPP_MIN_LOG_LEVEL (and absl's note about them).
_ABSL_NOTE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_CPP_LOG_LINE = re.compile(r"([IWEF])\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
_SEVERITIES = "IWEF"  # TF_CPP_MIN_LOG_LEVEL 1 hides I, 2 also W, 3 also E


def _import_tensorflow_quietly():
    """Imports TensorFlow (which Keras and the data pipeline import anyway) without its start-up lines."""
    if "tensorflow" in sys.modules:
        return
    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
        sys.stderr.flush()
        saved = os.dup(2) if level > 0 else None  # 0: the user asked for every message
    except (OSError, ValueError):  # no usable stderr descriptor, or a level that is not a number
        saved = None
    if saved is None:
        _import_tensorflow()
        return
    import faulthandler

    handler_was_on = faulthandler.is_enabled()
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        faulthandler.enable(saved)  # a crash inside the import still reports to the real stderr
        try:
            _import_tensorflow()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            if handler_was_on:
                try:
                    faulthandler.enable()
                except (io.UnsupportedOperation, ValueError):  # sys.stderr has no descriptor (captured by pytest)
                    faulthandler.enable(sys.__stderr__)
            else:
                faulthandler.disable()
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not _is_chatter(line, level)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def _import_tensorflow():
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return  # the import that needs it raises the error where it belongs
    _set_thread_pools(tensorflow)


def _set_thread_pools(tf):
    """Before any op runs: one intra-op thread per core this process may use (its CPU affinity, which a container
    or `taskset` narrows), and one inter-op thread, as XLA runs a whole step as one op."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cores)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran an op (a script that calls `main` later): keep its pools
        pass


def _is_chatter(line, level):
    match = _CPP_LOG_LINE.match(line)
    if match:
        return _SEVERITIES.index(match.group(1)) < level
    return line.rstrip("\n") == _ABSL_NOTE


def _quiet_python_loggers(verbose):
    """TensorFlow's, absl's and JAX's Python warnings (tf.function retracing between bench runs, ...) stay
    off stderr unless --verbose; their errors still show."""
    if not verbose:
        for name in ("tensorflow", "absl", "jax"):
            logging.getLogger(name).setLevel(logging.ERROR)


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ logging: fatal errors only
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse leaves key=value settings that come after an option unparsed
        if getattr(args, "overrides", None) is None or any("=" not in e or e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides += extra
    from kerasllm.errors import KerasLLMError

    try:
        if getattr(args, "check", None) is not None:
            args.checked = args.check(args)  # names and settings, before the import below takes seconds
        if not getattr(args, "light", False):
            _import_tensorflow_quietly()
            _quiet_python_loggers(getattr(args, "verbose", False))
        with _preemptible(args.command):
            code = args.run(args)  # None means success; `kerasllm lab check` returns 1 when a check fails
    except KerasLLMError as error:
        print(f"kerasllm {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM (`Terminated`) in train and bench
        what = "terminated (SIGTERM)" if hasattr(interrupt, "exit_status") else "interrupted"
        print(f"kerasllm {args.command}: {what}. Completed epochs are checkpointed; "
              "run the same command to resume.", file=sys.stderr)
        return getattr(interrupt, "exit_status", 130)
    return code or 0


def _preemptible(command):
    """For `train` and `bench`: SIGTERM (how cluster schedulers preempt) stops the run as Ctrl-C does, after
    the current step and any checkpoint write, with exit status 143; other commands keep the default."""
    if command not in ("train", "bench"):
        return contextlib.nullcontext()
    from kerasllm.training.interrupts import terminate_as_interrupt

    return terminate_as_interrupt()
