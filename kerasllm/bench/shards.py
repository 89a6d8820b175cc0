"""Splitting a bench over machines: `kerasllm bench ... --shard I/N` runs the I-th of N disjoint slices.

A bench matrix outgrows one machine before a single model does. The slices are made of *groups* of runs that
must stay together: every seed and every swept learning rate of one (cell, architecture), because the sweep picks
its rate from all of them, and a fine-tuning cell with the cell it starts from (`Cell.init_from_cell`), because it
needs that run's model. Groups are dealt out round-robin in plan order, so each slice gets a mix of cells. Every
shard writes into the same OUT (a shared file system), each run in its own folder; a shard's invocation is
recorded in `OUT/shards/<I>-of-<N>.json`, and `kerasllm report OUT` makes the full table once all have finished.
A Slurm job array (`--shard $((SLURM_ARRAY_TASK_ID + 1))/$SLURM_ARRAY_TASK_COUNT`) or a Kubernetes indexed job
(`$((JOB_COMPLETION_INDEX + 1))/N`) spreads one bench this way.

Example:
>>> from kerasllm.bench import Cell, Suite, plan
>>> suite = Suite(name="s", archs=("gru", "cnn"), seeds=2, cells=[Cell("mqar"), Cell("negation_sentiment")])
>>> runs = plan(suite, "/tmp/out")
>>> sorted({(run.label, run.arch) for run in shard_runs(runs, suite, parse_shard("1/2"))})
[('mqar', 'gru'), ('negation_sentiment', 'gru')]
>>> len(shard_runs(runs, suite, (1, 2))) + len(shard_runs(runs, suite, (2, 2))) == len(runs)
True
"""

from kerasllm.errors import ConfigError


def parse_shard(text):
    """`"I/N"` -> `(I, N)`, with 1 <= I <= N."""
    parts = str(text).split("/")
    try:
        index, count = (int(part) for part in parts)
    except ValueError:
        index = count = None
    if len(parts) != 2 or index is None or not 1 <= index <= count:
        raise ConfigError(f"--shard takes I/N with 1 <= I <= N (e.g. --shard 2/4), got '{text}'.")
    return index, count


def _root_cell(suite, label):
    """The first cell of the chain of `init_from_cell`s that `label` starts from (itself if none)."""
    cells = {cell.label: cell for cell in suite.cells}
    while cells[label].init_from_cell is not None:
        label = cells[label].init_from_cell
    return label


def _group_of(suite, run):
    """The group a run stays with: `(first cell of its chain, arch)`."""
    return _root_cell(suite, run.label), run.arch


def shard_groups(runs, suite):
    """The groups of runs that must stay together, in plan order (`_group_of` each)."""
    return list(dict.fromkeys(_group_of(suite, run) for run in runs))


def shard_runs(runs, suite, shard):
    """The planned runs of shard `(index, count)`: every `count`-th group of runs that must stay together."""
    index, count = shard
    mine = {group for position, group in enumerate(shard_groups(runs, suite)) if position % count == index - 1}
    return [run for run in runs if _group_of(suite, run) in mine]


def shard_file_name(shard):
    index, count = shard
    return f"{index}-of-{count}.json"
