"""Benchmarks: suites of cells x architectures x seeds through the one Trainer, and their reports.

    kerasllm bench [SUITE] [--archs a,b] [--tasks t,u] [--params N] [--seeds K] [--out DIR]
    kerasllm report OUT [OUT2 ...]

Example (what `kerasllm bench --archs gru,transformer --seeds 3` would run; `kerasllm.bench.runner`'s
example runs a tiny suite):
>>> import tempfile
>>> import kerasllm.bench as bench
>>> suite = bench.select(bench.load_suite("quick"), archs=["gru", "transformer"], seeds=3)
>>> runs = bench.plan(suite, tempfile.mkdtemp())
>>> len(runs), runs[0].name  # 3 cells x 2 architectures x 3 seeds
(18, 'negation_sentiment/gru/seed0')
"""

from kerasllm.bench.callbacks import PeakMemory, TimeBudget
from kerasllm.bench.report import report, write_report
from kerasllm.bench.results import collect_rows, read_run
from kerasllm.bench.runner import BenchResult, default_bench_path, run_bench
from kerasllm.bench.sizing import Sizer, SizingResult
from kerasllm.bench.stats import mean_std, regularized_incomplete_beta, welch_t_test
from kerasllm.bench.suite import Cell, PlannedRun, Suite, list_suites, load_suite, plan, select

__all__ = [
    "BenchResult", "Cell", "PeakMemory", "PlannedRun", "Sizer", "SizingResult", "Suite", "TimeBudget",
    "collect_rows", "default_bench_path", "list_suites", "load_suite", "mean_std", "plan", "read_run",
    "regularized_incomplete_beta", "report", "run_bench", "select", "welch_t_test", "write_report",
]
