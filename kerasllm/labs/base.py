"""The checker's machinery: a lab is a list of checks run in order, each passing or failing with a hint.

A check is a method that returns nothing when the student's class is right and raises `LabFailure(hint)`
when it is not. Any other exception the student's code raises fails the check too, with the error and
the line of the student's file it came from. A failing `fatal` check skips the checks after it (they
need what it checked).

Example (a lab with one check):
>>> from kerasllm.labs.base import Lab, LabFailure, check
>>> class PositiveLab(Lab):
...     name = "positive"
...     @check("returns a positive number", fatal=True)
...     def returns_positive(self):
...         if self.cls()() <= 0:
...             raise LabFailure("return a number above 0")
>>> report = PositiveLab().run(lambda: (lambda: -1), "inline:negative", train=False)
>>> print(report.lines()[0])
FAIL  returns a positive number: return a number above 0
"""

import dataclasses
import json
import math
import os
import re
import traceback
import warnings

import keras
import numpy as np

from kerasllm.registry import Registry

LABS = Registry("lab")
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Keras colours the messages of errors raised inside call


def register_lab(name):
    """Registers a `Lab` subclass under `name` (what `kerasllm lab check NAME ...` takes)."""

    def decorator(cls):
        cls.name = name
        return LABS.register(name)(cls)

    return decorator


class LabFailure(Exception):
    """A check found a mistake; the message is the hint shown to the student."""


def check(title, fatal=False):
    """Marks a `Lab` method as a check titled `title` (checks run in definition order)."""

    def decorator(method):
        method.check_title = title
        method.check_fatal = fatal
        return method

    return decorator


@dataclasses.dataclass
class CheckResult:
    title: str
    status: str  # "PASS", "FAIL" or "SKIP"
    hint: str = ""

    def line(self):
        if self.status == "FAIL":
            return f"FAIL  {self.title}: {self.hint}"
        if self.status == "SKIP":
            return f"SKIP  {self.title} ({self.hint})"
        return f"PASS  {self.title}" + (f" ({self.hint})" if self.hint else "")


@dataclasses.dataclass
class LabReport:
    lab: str
    target: str
    results: list

    @property
    def passed(self):
        return all(result.status == "PASS" for result in self.results)

    def failures(self):
        return [result for result in self.results if result.status != "PASS"]

    def lines(self):
        return [result.line() for result in self.results]


class Lab:
    """Base class of the labs. A subclass sets the class attributes and defines `@check` methods.

    During `run`, `self.cls` is the student's class and `self.spec` its import path.
    """

    name = ""
    number = ""
    title = ""
    #: What the student's class must look like (shown by `kerasllm lab list` and in the lab's document).
    convention = ""
    #: Import path of the reference solution.
    reference = ""
    #: File name of the starter under docs/labs/starters/.
    starter = ""

    @classmethod
    def check_methods(cls):
        seen, methods = set(), []
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if hasattr(value, "check_title") and attr not in seen:
                    seen.add(attr)
                    methods.append(attr)
        # Overrides keep their first position; definition order otherwise.
        return [getattr(cls, attr) for attr in methods]

    def run(self, cls, spec, train=True):
        """Runs every check on `cls` and returns a `LabReport` (the training check only if `train`)."""
        self.cls, self.spec = cls, spec
        results, blocked = [], False
        for method in self.check_methods():
            if method.__name__ == "trains" and not train:
                continue
            title = method.check_title
            if blocked:
                results.append(CheckResult(title, "SKIP", "an earlier check it needs failed"))
                continue
            try:
                method(self)
            except LabFailure as failure:
                results.append(CheckResult(title, "FAIL", str(failure)))
            except Exception as error:  # the student's code: any error is a failed check, with its place
                results.append(CheckResult(title, "FAIL", self._describe(error)))
            else:
                results.append(CheckResult(title, "PASS", getattr(self, "_note", "")))
                self._note = ""
                continue
            if method.check_fatal:
                blocked = True
        return LabReport(self.name, spec, results)

    def note(self, text):
        """Adds a short note to the current check's PASS line (e.g. a measured number)."""
        self._note = text

    def _describe(self, error):
        where = ""
        student_file = self.spec.split(":")[0] if self.spec.endswith(".py") or ".py:" in self.spec else ""
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            if student_file and os.path.abspath(frame.filename) == os.path.abspath(student_file):
                where = f" (line {frame.lineno} of {os.path.basename(frame.filename)})"
                break
        lines = [ANSI.sub("", line).strip() for line in str(error).splitlines()]
        lines = [line for line in lines if line and not line.startswith("Exception encountered when calling")]
        message = lines[0] if lines else ""
        hint = "it raised " + type(error).__name__ + (f": {message}" if message else "") + where
        if isinstance(error, NotImplementedError) or "TODO" in message:
            hint += ". Fill in the TODOs of the starter"
        return hint


# ------------------------------------------------------------------------------------------ helpers
def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def max_error(actual, expected):
    return float(np.max(np.abs(to_numpy(actual).astype("float64") - np.asarray(expected, "float64"))))


def close(actual, expected, atol=1e-5):
    actual = to_numpy(actual)
    return actual.shape == np.shape(expected) and max_error(actual, expected) <= atol


def weights_without_gradient(model, inputs, layers):
    """Names (`layer/weight`) of the trainable weights of `layers` that one SGD step on `model` leaves unchanged.

    Backend-neutral: under plain SGD a weight changes exactly when its gradient is non-zero.
    """
    layers = layers if isinstance(layers, (list, tuple)) else [layers]
    weights = [(f"{layer.name}/{w.name}", w) for layer in layers for w in layer.trainable_weights]
    outputs = model(inputs)
    targets = np.random.default_rng(0).normal(size=to_numpy(outputs).shape).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse", jit_compile=False)
    before = [to_numpy(w).copy() for _, w in weights]
    with warnings.catch_warnings():  # Keras warns about weights without gradient: that is what we look for
        warnings.simplefilter("ignore", UserWarning)
        model.train_on_batch(inputs, targets)
    return [name for (name, w), old in zip(weights, before) if np.array_equal(to_numpy(w), old)]


def check_config_round_trip(obj, required):
    """Fails unless `get_config` is JSON with the `required` keys and `from_config` rebuilds it."""
    config = obj.get_config()
    missing = [key for key in required if key not in config]
    if missing:
        example = ", ".join(f"'{key}': self.{key}" for key in missing)
        raise LabFailure(f"get_config() lacks {', '.join(missing)}, so from_config cannot rebuild the layer: "
                         f"add config.update({{{example}}}) to get_config")
    try:
        json.dumps(config)
    except TypeError as error:
        raise LabFailure(f"get_config() is not plain JSON ({error}): store numbers and strings only")
    clone = type(obj).from_config(config)
    if clone.get_config() != config:
        raise LabFailure("from_config(get_config()) gives a different config: every __init__ argument must be "
                         "stored under its own name in get_config")
    return clone


def finite_metrics(metrics, keys):
    bad = [key for key in keys if not math.isfinite(metrics.get(key, float("nan")))]
    if bad:
        raise LabFailure(f"training gave non-finite {', '.join(bad)}: look for a division by zero or an "
                         "exp/log of a large number in call")
