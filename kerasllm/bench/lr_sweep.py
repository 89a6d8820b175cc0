"""Learning-rate sweeps: each (cell, architecture) trains at every rate, and the validation picks one.

As in Zoology's experiments, a suite (or `kerasllm bench --lr-sweep 3e-4,1e-3,3e-3`) lists learning
rates; each neural run then lives in ``OUT/<cell>/<arch>/lr<rate>/seed<k>/`` (`rate_label`) and is
evaluated on the validation split only. Per (cell, architecture) the rate with the best validation
headline metric, averaged over the finished seeds, is *selected* (`select_rates`; a tie goes to the
smaller rate), and only the selected rate's runs are then evaluated on the test split
(`kerasllm.bench.deferred_test`), so no test number takes part in the choice. Baselines (tfidf_lr) have
no learning rate and keep one run per seed in ``OUT/<cell>/<arch>/seed<k>/``.

Example:
>>> rate_label(3e-4), rate_label(0.0015), rate_of("lr3e-04"), rate_of("seed0")
('lr3e-04', 'lr1.5e-03', 0.0003, None)
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


def check_rates(rates, where="lr_sweep"):
    """`rates` as a tuple of floats, or a `ConfigError` for a value that is not a positive learning rate."""
    if isinstance(rates, (str, bytes)) or not hasattr(rates, "__iter__"):
        raise ConfigError(f"{where} must be a list of learning rates, e.g. [3e-4, 1e-3, 3e-3], got {rates!r}.")
    checked = []
    for rate in rates:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            raise ConfigError(f"{where} must hold positive learning rates, e.g. [3e-4, 1e-3], got {rate!r}.")
        checked.append(float(rate))
    labels = [rate_label(rate) for rate in checked]
    if len(set(labels)) < len(labels):
        raise ConfigError(f"{where} lists a learning rate twice ({', '.join(labels)}); give each rate once.")
    return tuple(checked)


def select_rates(rows):
    """{(task, arch): selected rate} over the swept rows (those whose `lr_selected` is not None).

    A rate's score is the mean of `validation_metric` over its finished rows (status "ok"); the best
    score in the metric's direction (`lower_is_better`) wins, a tie going to the smaller rate.
    """
    values, signs = {}, {}
    for row in rows:
        if row.get("lr_selected") is None or row["status"] != "ok" or row.get("validation_metric") is None:
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
