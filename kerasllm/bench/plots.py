"""PNG plots of a bench (matplotlib, Agg, no display needed).

- `curves_<task>.png`: the validation headline metric against optimizer steps and against training
  wall-clock seconds, every architecture (and seed) on the same axes; in a learning-rate sweep, the
  selected rate's runs only (every rate's result is in results.md's sweep table);
- `metric_vs_params.png`: test metric (mean +- std over seeds) against parameter count, one panel
  per task;
- `metric_vs_throughput.png`: test metric against training throughput (tokens/s).

Every file is written atomically (temporary file, then rename).

Example (rows as `kerasllm.bench.collect_rows` gives them; a curve is `(step, seconds, value)` points):
>>> import pathlib, tempfile
>>> rows = [{"task": "mqar@pairs4", "arch": arch, "headline_metric": "token_accuracy",
...          "curve": [(100, 2.0, start), (200, 4.0, start + 0.2)]} for arch, start in [("gru", 0.5), ("cnn", 0.3)]]
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> path = learning_curves(rows, "mqar@pairs4", folder / f"curves_{safe_name('mqar@pairs4')}.png")
>>> path.name, path.read_bytes()[:4]
('curves_mqar@pairs4.png', b'\x89PNG')
"""

import math
import os
import pathlib
import re

from kerasllm.models import list_backbones
from kerasllm.training.run_dir import temporary_path


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)  # renders with Agg whatever the global backend is
    return figure


def _colors(archs):
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    known = list_backbones()
    order = known + [a for a in archs if a not in known]
    return {arch: palette[order.index(arch) % len(palette)] for arch in archs}


def _save(figure, path):
    path = pathlib.Path(path)
    tmp = temporary_path(path, ".tmp.png")
    figure.savefig(tmp, format="png", bbox_inches="tight")
    os.replace(tmp, path)
    return path


def safe_name(text):
    """A file-name-safe version of a task label ("mqar@pairs16" stays readable)."""
    return re.sub(r"[^A-Za-z0-9@._+-]", "_", text)


def learning_curves(rows, task, path):
    """Validation headline metric vs step and vs wall time, all architectures on one axes each."""
    rows = [r for r in rows if r["task"] == task and r.get("curve")]
    metric = rows[0]["headline_metric"]
    colors = _colors(list(dict.fromkeys(r["arch"] for r in rows)))
    figure = _figure(11, 4)
    by_step, by_time = figure.subplots(1, 2)
    labelled = set()
    for row in rows:
        steps, seconds, values = zip(*row["curve"])
        label = None if row["arch"] in labelled else row["arch"]
        labelled.add(row["arch"])
        style = dict(color=colors[row["arch"]], marker="o", markersize=3, linewidth=1.5, alpha=0.85)
        by_step.plot(steps, values, label=label, **style)
        by_time.plot(seconds, values, **style)
    by_step.set_xlabel("optimizer steps")
    by_time.set_xlabel("training wall-clock seconds")
    for axes in (by_step, by_time):
        axes.set_ylabel(f"validation {metric}")
        axes.grid(alpha=0.3)
        if metric == "perplexity":
            axes.set_yscale("log")
    by_step.legend(fontsize=8)
    figure.suptitle(f"{task}: validation {metric}")
    return _save(figure, path)


def metric_scatter(ranked, x_key, x_label, path):
    """Test metric (mean +- std) against a per-architecture quantity, one panel per task."""
    tasks = list(ranked)
    columns = min(3, len(tasks))
    lines = math.ceil(len(tasks) / columns)
    figure = _figure(4.2 * columns, 3.4 * lines)
    panels = figure.subplots(lines, columns, squeeze=False).ravel()
    for axes, task in zip(panels, tasks):
        summaries = ranked[task]
        colors = _colors([s.arch for s in summaries])
        xs = []
        for s in summaries:
            x = s.median(x_key)
            if x is None:
                continue
            xs.append(x)
            mean, std = s.mean_std
            axes.errorbar([x], [mean], yerr=[std], fmt="o", color=colors[s.arch], capsize=3, label=s.arch)
        if xs and min(xs) > 0 and max(xs) / min(xs) > 5:  # log only where it spreads the points
            axes.set_xscale("log")
        axes.set_xlabel(x_label)
        axes.set_ylabel(f"test {summaries[0].metric}")
        axes.set_title(task, fontsize=9)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    for axes in panels[len(tasks):]:
        axes.set_visible(False)
    figure.tight_layout()
    return _save(figure, path)


def write_plots(rows, ranked, folder):
    """Writes every plot into `folder`; returns their paths."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    rows = [r for r in rows if r.get("lr_selected") is not False]  # a sweep's other rates stay out of the curves
    for task in dict.fromkeys(r["task"] for r in rows if r.get("curve")):
        paths.append(learning_curves(rows, task, folder / f"curves_{safe_name(task)}.png"))
    if ranked:
        paths.append(metric_scatter(ranked, "parameters", "parameters", folder / "metric_vs_params.png"))
        paths.append(metric_scatter(ranked, "steady_tokens_per_second", "training tokens/s",
                                    folder / "metric_vs_throughput.png"))
    return paths
