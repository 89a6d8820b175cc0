"""Teaching labs and their checker: a student writes a layer, the checker says exactly what is wrong.

Each lab is a `Lab` subclass registered by name (`rnn`, `lstm`, `gru`, `attention`,
`multi_head_attention`, `causal_conv`, `sampling`, `bpe`, `cross_attention`, `perplexity`); its checks run in
order and each prints a pass/fail line with a hint. The lab documents are in docs/labs/, the starters in
docs/labs/starters/, the reference solutions in `kerasllm.labs.reference`.

Example:
>>> from kerasllm.labs import check_lab, list_labs
>>> list_labs()[:3]
['rnn', 'lstm', 'gru']
>>> report = check_lab("rnn", "kerasllm.labs.reference.cells:SimpleRNNCell", train=False)
>>> report.passed
True
"""

import inspect

from kerasllm.imports import import_path_of, load_object
from kerasllm.labs import attention, bpe, causal_conv, cells, perplexity, sampling  # noqa: F401 (registers the labs)
from kerasllm.labs import cross_attention  # noqa: F401 (registers lab 09)
from kerasllm.labs.base import LABS, CheckResult, Lab, LabFailure, LabReport, check, register_lab


def list_labs():
    """Names of the labs in lab order (01 rnn ... 10 perplexity)."""
    return sorted(LABS.names(), key=lambda name: LABS.get(name).number)


def get_lab(name):
    """A fresh instance of the lab registered as `name` (did-you-mean on a typo)."""
    return LABS.get(name)()


def check_lab(name, target, train=True):
    """Runs lab `name` on `target` (an import path `file.py:Class` or the class) and returns a `LabReport`.

    Args:
        name: str. A name from `list_labs()`.
        target: str or class. The student's class, or where to import it from.
        train: bool. End with a short training run through the Trainer. Defaults to `True`.
    """
    lab = get_lab(name)
    if inspect.isclass(target):
        cls, spec = target, import_path_of(target)
    else:
        cls, spec = load_object(target), target
    return lab.run(cls, spec, train=train)


__all__ = ["LABS", "CheckResult", "Lab", "LabFailure", "LabReport", "check", "check_lab", "get_lab",
           "list_labs", "register_lab"]
