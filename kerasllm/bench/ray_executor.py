"""`kerasllm bench ... --executor ray`: the runs of a bench as Ray tasks, on an existing Ray cluster.

The runs are cut into the groups that `--shard` deals out (`kerasllm.bench.shards`: every seed and swept rate of a
(cell, architecture), and a fine-tuning cell with the cell it starts from, stay together), and each group is one
Ray task asking for `cpus_per_task` CPUs (and `gpus_per_task` GPUs), which runs its runs in order as one shard of
the bench. Ray schedules the tasks over the cluster's free CPUs and GPUs. Every task writes into OUT, so OUT must be
on a file system that every node sees; once all are done, the driver writes the report of the whole bench, the same
results.csv as the serial run's. A task that fails (a node lost) leaves its runs' checkpoints: the same command
resumes them.

`ray.init()` joins the cluster that `RAY_ADDRESS` names or the one `ray start` began on this machine, and otherwise
starts a local Ray instance over this machine's cores. Ray is optional: `pip install "kerasllm[ray]"`.

Example (how many Ray tasks a bench makes; tests/test_bench_shards.py runs one on a local Ray instance):
>>> from kerasllm.bench import Cell, Suite, plan
>>> suite = Suite(name="s", archs=("gru", "cnn"), seeds=3, cells=[Cell("mqar")])
>>> len(shard_groups(plan(suite, "/tmp/out"), suite))  # one task per (cell, arch), its 3 seeds together
2
"""

import pathlib

from kerasllm.bench.progress import BenchLines
from kerasllm.bench.runner import BenchResult, run_bench, write_bench_outputs
from kerasllm.bench.shards import shard_groups
from kerasllm.bench.suite import plan
from kerasllm.errors import ConfigError


def run_shard(suite, out, shard, command):
    """One Ray task: shard `(index, count)` of the bench, with a line per run (Ray shows a task's output on the
    driver, prefixed by the task). Returns the shard's `RunOutcome`s."""
    return run_bench(suite, out, command=command, display=BenchLines(print, keras_verbose=0), shard=shard).outcomes


def run_bench_on_ray(suite, out, display=None, command=None, shard=None, cpus_per_task=1, gpus_per_task=0):
    """`run_bench` with each group of runs as a Ray task (module docstring); returns a `BenchResult` of all runs."""
    if shard is not None:
        raise ConfigError("--executor ray runs every shard itself, over the Ray cluster: drop --shard.")
    try:
        import ray
    except ImportError:
        raise ConfigError('--executor ray needs Ray: pip install "kerasllm[ray]" (or pip install ray).') from None
    display, out = display or BenchLines(print), pathlib.Path(out)
    if not ray.is_initialized():
        ray.init()
    count = max(1, len(shard_groups(plan(suite, out), suite)))
    task = ray.remote(num_cpus=cpus_per_task, num_gpus=gpus_per_task)(run_shard)
    display.log(f"bench '{suite.name}' on Ray: {count} tasks of {cpus_per_task} CPU(s)"
                + (f" and {gpus_per_task} GPU(s)" if gpus_per_task else "") + f" each, into {out}")
    outcomes = [outcome for part in ray.get([task.remote(suite, str(out), (index, count), command)
                                             for index in range(1, count + 1)]) for outcome in part]
    return BenchResult(out, outcomes, write_bench_outputs(suite, out, display))
