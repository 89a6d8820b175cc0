"""Tables from result rows: results.csv (one row per run), results.md (per task, architectures
ranked by the headline metric, mean +- std over seeds, with Welch's t-test between the best two),
and the plots; `report()` rebuilds all of them from one or several bench folders.

A metric that is not (yet) a result says so next to it in results.md: "(still improving)" when
validation was still getting better at the end of training, "(too few validations)" when that cannot
be judged, "(at chance)" when the test metric is no better than the task's trivial baseline; a legend
under each table states the rules (`kerasllm.bench.results.convergence`, `at_chance`).

Example (two bench folders that both hold an unfinished mqar/gru/seed0: merged, the first one's row is kept;
`kerasllm.bench.runner`'s example reports finished runs):
>>> import json, pathlib, tempfile
>>> from kerasllm.config import TrainConfig
>>> benches = [pathlib.Path(tempfile.mkdtemp()) for _ in range(2)]
>>> for bench_dir in benches:
...     run_dir = bench_dir / "mqar" / "gru" / "seed0"
...     run_dir.mkdir(parents=True)
...     _ = (run_dir / "config.json").write_text(json.dumps(TrainConfig(task="mqar", arch="gru").to_dict()))
>>> outputs = report(benches, out=tempfile.mkdtemp())
>>> len(outputs.rows), len(outputs.dropped), outputs.csv.name, outputs.markdown_path.name
(1, 1, 'results.csv', 'results.md')
>>> print(outputs.markdown.splitlines()[-1])
| mqar/gru/seed0 | unfinished |  |
"""

import csv
import dataclasses
import datetime
import io
import math
import os
import pathlib

from kerasllm.bench.lr_sweep import mark_selected
from kerasllm.bench.plots import write_plots
from kerasllm.bench.results import (
    CHANCE_MARGIN, COLUMNS, MIN_RELATIVE_GAIN, MIN_VALIDATIONS, PERFECT, RECENT_FRACTION, TRIVIAL_BASELINES,
    collect_rows, merge_rows, run_name, sort_rows, swept_rate,
)
from kerasllm.bench.stats import mean_std, welch_t_test
from kerasllm.errors import ConfigError
from kerasllm.training.run_dir import temporary_path

SIGNIFICANCE_LEVEL = 0.05
MIN_SEEDS_FOR_TEST = 3


def write_text_atomic(path, text):
    """Writes text to a temporary file beside `path`, then renames it over `path`."""
    path = pathlib.Path(path)
    tmp = temporary_path(path)
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclasses.dataclass
class Summary:
    """One (task, architecture) over its seeds."""

    task: str
    arch: str
    metric: str
    lower_is_better: bool
    values: list
    rows: list

    @property
    def mean_std(self):
        return mean_std(self.values)

    def median(self, key):
        values = sorted(r[key] for r in self.rows if r.get(key) is not None)
        return values[len(values) // 2] if values else None

    def distinct(self, key):
        return sorted({r[key] for r in self.rows if r.get(key) is not None})


def summarize(rows):
    """{task: [Summary, ...] best first} over finished rows with a test metric, leaving out the rates a sweep
    did not select; tasks in row order."""
    tasks = {}
    for row in rows:
        if row["status"] != "ok" or row.get("metric") is None or row.get("lr_selected") is False:
            continue
        groups = tasks.setdefault(row["task"], {})
        summary = groups.get(row["arch"])
        if summary is None:
            summary = groups[row["arch"]] = Summary(row["task"], row["arch"], row["headline_metric"],
                                                    bool(row["lower_is_better"]), [], [])
        summary.values.append(float(row["metric"]))
        summary.rows.append(row)
    ranked = {}
    for task, groups in tasks.items():
        summaries = list(groups.values())
        summaries.sort(key=lambda s: s.mean_std[0] * (1 if s.lower_is_better else -1))
        ranked[task] = summaries
    return ranked


def significance_note(summaries):
    """Welch's t-test between the best and the runner-up, if both have >= 3 seeds (else None)."""
    if len(summaries) < 2:
        return None
    best, second = summaries[0], summaries[1]
    if min(len(best.values), len(second.values)) < MIN_SEEDS_FOR_TEST:
        return None
    result = welch_t_test(best.values, second.values)
    verdict = "significant" if result.p_value < SIGNIFICANCE_LEVEL else "not significant"
    return (f"{best.arch} vs runner-up {second.arch}: Welch's t = {result.t:.3g}, df = {result.df:.3g}, "
            f"two-sided p = {result.p_value:.3g} ({len(best.values)} and {len(second.values)} seeds): "
            f"{verdict} at {SIGNIFICANCE_LEVEL}.")


def _number(value, digits=4):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _distinct(summary, key):
    values = summary.distinct(key)
    if not values:
        return "-"
    if len(values) == 1:
        return _number(values[0])
    return f"{_number(values[0])}..{_number(values[-1])}"


def _count(label, hits, n):
    return label if hits == n else f"{label}: {hits} of {n} seeds"


def flags(summary):
    """The markers for one (task, architecture): "at chance", "still improving", "too few validations".

    With several seeds a marker counts the seeds it applies to ("still improving: 2 of 3 seeds").
    Rows without the flag fields (rows built by hand) get no marker, and neither do rows without any
    validation history (a baseline such as tfidf_lr, fitted in one call): the rule does not apply to them.
    """
    rows, markers = summary.rows, []
    chance = sum(r.get("at_chance") is True for r in rows)
    if chance:
        markers.append(_count("at chance", chance, len(rows)))
    improving = sum(r.get("still_improving") is True for r in rows)
    if improving:
        markers.append(_count("still improving", improving, len(rows)))
    unjudged = sum(r.get("still_improving") is None and bool(r.get("validations")) for r in rows)
    if unjudged:
        markers.append(_count("too few validations", unjudged, len(rows)))
    return markers


def legend(summaries):
    """The line under a task's table that states the flags' rules (and the task's trivial baseline)."""
    metric, lower = summaries[0].metric, summaries[0].lower_is_better
    text = (f"Flags: *still improving*: the best validation {metric} came in the last {RECENT_FRACTION:.0%} "
            f"of the validations, more than {MIN_RELATIVE_GAIN:.1%} better than the best before them (a perfect "
            f"score never counts; runs with fewer than {MIN_VALIDATIONS} validations: *too few validations*).")
    baselines = sorted({r["trivial_baseline"] for s in summaries for r in s.rows
                        if r.get("trivial_baseline") is not None})
    if baselines and metric in PERFECT:
        baseline = baselines[0]
        bar = baseline + CHANCE_MARGIN * (PERFECT[metric] - baseline)
        how = f" ({TRIVIAL_BASELINES[metric]})" if metric in TRIVIAL_BASELINES else ""
        text += (f" *at chance*: test {metric} {'above' if lower else 'below'} {_number(bar)}, under "
                 f"{CHANCE_MARGIN:.0%} of the way from the trivial baseline {_number(baseline)}{how} to a "
                 f"perfect {_number(PERFECT[metric])}.")
        if len(baselines) > 1:
            text += " (Runs with other data settings have their own baselines: see trivial_baseline in results.csv.)"
    elif any("trivial_baseline" in r for s in summaries for r in s.rows):
        text += " *at chance* is not judged here: no trivial baseline could be computed for this task."
    return text


def markdown_tables(rows, title="Benchmark results", sources=()):
    """results.md: per task, architectures ranked by mean test headline metric (+- std over seeds)."""
    lines = [f"# {title}", ""]
    if sources:
        lines += ["Runs from: " + ", ".join(f"`{s}`" for s in sources), ""]
    lines += ["Metric: the task's headline metric on the test split, mean +- sample std over seeds (n). "
              "tokens/s: median training throughput per validation period after the first (which "
              "includes compilation). eval ms/batch: test-split evaluation time per batch. "
              "peak MB: the most memory the run used on top of what the process held when it began (device "
              "memory on a JAX GPU, else host RSS; the runtime and earlier runs left out), measured as the line "
              "under each table says (results.csv: memory_source). "
              "train tokens: real input tokens trained on. lr: the peak learning rate (in a learning-rate "
              "sweep, the one selected on validation; every rate is in the sweep table). "
              "A marker in brackets after a metric says it is not (yet) a result: the legend under each "
              "table gives the rule.", ""]
    ranked = summarize(rows)
    for task, summaries in ranked.items():
        metric = summaries[0].metric
        direction = "lower is better" if summaries[0].lower_is_better else "higher is better"
        lines += [f"## {task}: test {metric} ({direction})", "", budget_line(summaries), "",
                  "| rank | arch | test " + metric + " | n | validation | params | train s | tokens/s "
                  "| eval ms/batch | peak MB | steps | train tokens | lr |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        rank, previous = 0, None
        for position, s in enumerate(summaries, 1):
            mean, std = s.mean_std
            if mean != previous:  # ties share a rank (1, 1, 3, ...)
                rank, previous = position, mean
            spread = f" +- {_number(std, 2)}" if len(s.values) > 1 else ""
            markers = flags(s)
            if markers:
                spread += f" ({', '.join(markers)})"
            validation = [r["validation_metric"] for r in s.rows if r.get("validation_metric") is not None]
            lines.append(
                f"| {rank} | {s.arch} | {_number(mean)}{spread} | {len(s.values)} "
                f"| {_number(mean_std(validation)[0]) if validation else '-'} | {_distinct(s, 'parameters')} "
                f"| {_number(s.median('train_seconds'), 3)} | {_number(s.median('steady_tokens_per_second'), 3)} "
                f"| {_number(s.median('eval_latency_ms'), 3)} | {_number(s.median('peak_memory_mb'), 4)} "
                f"| {_distinct(s, 'steps')} | {_distinct(s, 'train_tokens')} | {_distinct(s, 'learning_rate')} |"
            )
        if any("validations" in r or "trivial_baseline" in r for s in summaries for r in s.rows):
            lines += ["", legend(summaries)]
        memory_sources = sorted({r["memory_source"] for s in summaries for r in s.rows if r.get("memory_source")})
        if memory_sources:
            lines += ["", "peak MB: " + "; ".join(memory_sources) + "."]
        note = significance_note(summaries)
        if note:
            lines += ["", note]
        lines.append("")
    lines += sweep_tables(rows)
    problems = [r for r in rows if r["status"] != "ok"]
    if problems:
        lines += ["## Runs without results", "", "| run | status | error |", "|---|---|---|"]
        for r in problems:
            error = (r.get("error") or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {run_name(r)} | {r['status']} | {error} |")
        lines.append("")
    if not ranked and not problems and not any(swept_rate(r) is not None for r in rows):
        lines += ["No runs found.", ""]
    return "\n".join(lines)


def budget_line(summaries):
    """The line under a task's heading that says how long its runs trained (`kerasllm.bench.results.budget_of`)."""
    budgets = sorted({r["budget"] for s in summaries for r in s.rows if r.get("budget")})
    baselines = sorted({s.arch for s in summaries if any(r.get("budget") is None for r in s.rows)})
    if not budgets:
        return "Budget per run: not recorded."
    text = f"Budget per run: {'; '.join(budgets)}."
    return text + (f" ({', '.join(baselines)}: one fit, no step budget.)" if baselines else "")


def sweep_tables(rows):
    """The learning-rate sweep section of results.md: per task, every (arch, rate) with its validation headline
    metric (mean +- std over seeds, as the selection averages it) and the selected rate marked."""
    groups = {}
    for row in rows:
        rate = swept_rate(row)
        if rate is not None:
            group = groups.setdefault(row["task"], {}).setdefault((row["arch"], rate), [])
            if not row.get("lr_confirms"):  # seeds trained after the choice are in the tables above only
                group.append(row)
    if not groups:
        return []
    lines = ["## Learning-rate sweeps", "",
             "Each (task, arch) trained at every rate; the rate with the best mean validation headline metric "
             "over its finished seeds is selected (a tie goes to the smaller rate), and only its runs were "
             "evaluated on the test split, which the tables above report.", ""]
    if any(row.get("lr_confirms") for row in rows):
        lines += ["Only the first seeds trained at every rate (`--sweep-seeds`); the other seeds trained at the "
                  "selected rate afterwards and count in the tables above, not in the choice below.", ""]
    for task, group in groups.items():
        metric = next(r["headline_metric"] for g in group.values() for r in g if r.get("headline_metric"))
        lines += [f"### {task}: validation {metric} per learning rate", "",
                  "| arch | lr | validation " + metric + " | n | runs | selected |", "|---|---:|---:|---:|---:|---|"]
        rates = {}
        for arch, rate in group:
            rates.setdefault(arch, []).append(rate)
        edges = False
        for (arch, rate), members in group.items():
            values = [float(r["validation_metric"]) for r in members
                      if r["status"] == "ok" and r.get("validation_metric") is not None]
            mean, std = mean_std(values) if values else (None, None)
            spread = f" +- {_number(std, 2)}" if len(values) > 1 else ""
            selected = "**selected**" if any(r.get("lr_selected") for r in members) else ""
            if selected and len(rates[arch]) >= 3 and rate in (min(rates[arch]), max(rates[arch])):
                selected, edges = selected + " (at the edge)", True
            lines.append(f"| {arch} | {_number(rate)} | {_number(mean)}{spread} | {len(values)} | {len(members)} "
                         f"| {selected} |")
        if edges:
            lines += ["", "*at the edge*: the selected rate is the smallest or the largest swept for that "
                      "architecture, so a rate beyond it may do better; widen the sweep that way before quoting it."]
        lines.append("")
    return lines


def csv_text(rows):
    """results.csv: one row per run; the fixed columns, then every other metric (sorted)."""
    extra = sorted({k for r in rows for k in r if k not in COLUMNS and k != "curve"})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, *extra], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


@dataclasses.dataclass
class ReportOutputs:
    """Where a report was written and its markdown text."""

    out: pathlib.Path
    csv: pathlib.Path
    markdown_path: pathlib.Path
    plots: list
    markdown: str
    rows: list
    dropped: list = dataclasses.field(default_factory=list)


def write_report(rows, out, title="Benchmark results", sources=()):
    """Writes results.csv, results.md and plots/*.png into `out` (each file atomically)."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    markdown = markdown_tables(rows, title, sources)
    write_text_atomic(out / "results.csv", csv_text(rows))
    write_text_atomic(out / "results.md", markdown)
    plots = write_plots(rows, summarize(rows), out / "plots")
    return ReportOutputs(out, out / "results.csv", out / "results.md", plots, markdown, rows)


def default_report_path(root="runs"):
    """`root/report/<timestamp>` (made unique)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = pathlib.Path(root) / "report" / stamp
    candidate, n = base, 1
    while candidate.exists():
        candidate, n = base.with_name(f"{stamp}-{n}"), n + 1
    return candidate


def report(paths, out=None):
    """Rebuilds tables and plots from one or several bench folders, merged.

    Args:
        paths: bench output folders (each holding `<task>/<arch>/seed<k>/` run directories).
        out: where to write; defaults to the folder itself for one bench, `runs/report/<timestamp>`
            for several.

    Returns:
        `ReportOutputs`; rows of a (task, arch, seed) found in several benches come from the first.
    """
    paths = [pathlib.Path(p) for p in paths]
    if not paths:
        raise ConfigError("report needs at least one bench folder.")
    groups = [collect_rows(p) for p in paths]
    rows, dropped = merge_rows(groups)
    mark_selected(rows)  # over the merged rows: each bench's selection, unless two benches swept one task
    if not rows:
        raise ConfigError(f"No run directories (<task>/<arch>/seed<k>/) found under {', '.join(map(str, paths))}.")
    cell_order = []
    for group in groups:
        cell_order += [r["task"] for r in group if r["task"] not in cell_order]
    rows = sort_rows(rows, cell_order)
    if out is None:
        out = paths[0] if len(paths) == 1 else default_report_path()
    outputs = write_report(rows, out, sources=[str(p) for p in paths])
    outputs.dropped = dropped
    return outputs
