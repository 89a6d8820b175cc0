"""Learning-rate sweeps: each (cell, architecture) trains at every rate, and the validation picks one.

As in Zoology's experiments, a suite (or `kerasllm bench --lr-sweep 3e-4,1e-3,3e-3`) lists learning
rates, or factors of each architecture's own recipe rate (`--lr-sweep x0.3,x1,x3`: the recurrent LM recipe trains
with SGD at 20, where absolute AdamW rates mean nothing, see `kerasllm.models.recipes`); each neural run then lives in ``OUT/<cell>/<arch>/lr<rate>/seed<k>/`` (`rate_label`) and is
evaluated on the validation split only. Per (cell, architecture) the rate with the best validation
headline metric, averaged over the finished seeds, is *selected* (`select_rates`; a tie goes to the
smaller rate), and only the selected rate's runs are then evaluated on the test split
(`kerasllm.bench.deferred_test`), so no test number takes part in the choice. Baselines (tfidf_lr) have
no learning rate and keep one run per seed in ``OUT/<cell>/<arch>/seed<k>/``.

Example:
>>> rate_label(3e-4), rate_label(0.0015), rate_of("lr3e-04"), rate_of("seed0")
('lr3e-04', 'lr1.5e-03', 0.0003, None)
>>> check_rates([1e-3, "x3"]), entry_rate("x3", recipe_rate=20.0), entry_rate(1e-3, recipe_rate=20.0)
((0.001, 'x3'), 60.0, 0.001)
>>> rows = [{"task": "mqar", "arch": "gru", "learning_rate": rate, "status": "ok", "validation_metric": value,
...          "lower_is_better": False, "lr_selected": False}
...         for rate, value in [(1e-3, 0.6), (1e-3, 0.7), (3e-3, 0.9), (3e-3, 0.3)]]
>>> select_rates(rows)  # mean validation 0.65 at 1e-3 against 0.6 at 3e-3
{('mqar', 'gru'): 0.001}
>>> [row["lr_selected"] for row in mark_selected(rows)]
[True, True, False, False]
"""

import math
import re
import statistics

from kerasllm.errors import ConfigError

_RATE_FOLDER = re.compile(r"lr(\d(?:\.\d+)?e[+-]\d+)")


def rate_label(rate):
    """The run folder of a swept rate: "lr" and the rate in exponent notation, trailing zeros dropped."""
    mantissa, exponent = f"{rate:.6e}".split("e")
    return f"lr{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def rate_of(folder_name):
    """The learning rate a run folder of a sweep stands for, or None for any other folder."""
    match = _RATE_FOLDER.fullmatch(folder_name)
    return float(match.group(1)) if match else None


def _factor(entry):
    """The factor of a relative entry "x3" (3.0), or None for anything else."""
    if not isinstance(entry, str) or not entry.startswith("x"):
        return None
    try:
        return float(entry[1:])
    except ValueError:
        return None


def _positive(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def check_rates(rates, where="lr_sweep"):
    """`rates` as a tuple of entries: a float is a learning rate, a string "x<factor>" a factor of each
    architecture's recipe rate; a `ConfigError` for anything else."""
    if isinstance(rates, (str, bytes)) or not hasattr(rates, "__iter__"):
        raise ConfigError(f"{where} must be a list of learning rates, e.g. [3e-4, 1e-3, 3e-3], got {rates!r}.")
    checked = []
    for rate in rates:
        if _positive(_factor(rate)):
            checked.append(f"x{_factor(rate):g}")
        elif _positive(rate):
            checked.append(float(rate))
        else:
            raise ConfigError(f"{where} must hold positive learning rates (e.g. [3e-4, 1e-3]) or factors of each "
                              f"architecture's recipe rate (e.g. [\"x0.3\", \"x1\", \"x3\"]), got {rate!r}.")
    labels = [rate if isinstance(rate, str) else rate_label(rate) for rate in checked]
    if len(set(labels)) < len(labels):
        raise ConfigError(f"{where} lists a learning rate twice ({', '.join(labels)}); give each rate once.")
    return tuple(checked)


def entry_rate(entry, recipe_rate):
    """The learning rate a sweep entry stands for: the entry itself, or its factor times `recipe_rate`."""
    factor = _factor(entry)
    return entry if factor is None else factor * recipe_rate


def entries_text(entries):
    """'3e-4, x3': the sweep entries as a person reads them."""
    return ", ".join(entry if isinstance(entry, str) else f"{entry:g}" for entry in entries)


def select_rates(rows):
    """{(task, arch): selected rate} over the swept rows (those whose `lr_selected` is not None).

    A rate's score is the mean of `validation_metric` over its finished rows (status "ok"); the best
    score in the metric's direction (`lower_is_better`) wins, a tie going to the smaller rate. Rows that
    confirm the selected rate with more seeds (`lr_confirms`, see `Suite.sweep_seeds`) are left out, so
    the seeds trained after the choice never change it.
    """
    values, signs = {}, {}
    for row in rows:
        if row.get("lr_selected") is None or row["status"] != "ok" or row.get("validation_metric") is None \
                or row.get("lr_confirms"):
            continue
        key = (row["task"], row["arch"])
        values.setdefault(key, {}).setdefault(row["learning_rate"], []).append(float(row["validation_metric"]))
        signs[key] = 1.0 if row["lower_is_better"] else -1.0  # minimise sign * value
    return {key: min(by_rate, key=lambda rate: (signs[key] * statistics.fmean(by_rate[rate]), rate))
            for key, by_rate in values.items()}


def mark_selected(rows):
    """Sets `lr_selected` of every swept row to whether its rate is the selected one; returns `rows`."""
    chosen = select_rates(rows)
    for row in rows:
        if row.get("lr_selected") is not None:
            row["lr_selected"] = chosen.get((row["task"], row["arch"])) == row["learning_rate"]
    return rows
