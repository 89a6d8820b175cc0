"""Benchmark suites as data: a suite is a list of cells plus shared settings; one runner serves all.

A *cell* is one task setting (task, its options, sequence length, step budget, any other
`TrainConfig` field); the runner crosses every cell with every architecture and seed. Suites are
small Python files defining ``SUITE`` (the shipped ones live in `kerasllm/bench/suites/`), or JSON /
YAML files with the same fields (`Suite.to_dict()`), in the style of Zoology's experiment configs:
unknown keys are rejected with a did-you-mean.

Example:
>>> suite = Suite.from_dict({
...     "name": "mine", "archs": ["gru", "cnn"], "settings": {"hidden_dim": 32, "steps": 40},
...     "cells": [{"task": "mqar", "name": "mqar@pairs4", "task_options": {"num_pairs": 4}}]})
>>> [(run.label, run.arch, run.seed) for run in plan(suite, "/tmp/out")]
[('mqar@pairs4', 'gru', 0), ('mqar@pairs4', 'cnn', 0)]
>>> plan(suite, "/tmp/out")[0].config.hidden_dim
32
"""

import dataclasses
import importlib
import importlib.util
import pathlib
from typing import Optional

from kerasllm.bench.lr_sweep import check_rates, entry_rate, rate_label
from kerasllm.checks import did_you_mean, read_settings_file, reject_unknown_keys
from kerasllm.config import TrainConfig
from kerasllm.data.base import TASKS
from kerasllm.data.objectives import objective_info
from kerasllm.errors import ConfigError
from kerasllm.imports import absolute_import_path, is_import_path, is_prefixed_arch
from kerasllm.models import BACKBONES, list_backbones
from kerasllm.models.hub import check_prefixed_arch
from kerasllm.models.plugins import plugin_arch
from kerasllm.models.recipes import with_recipe
from kerasllm.training.baselines import BASELINES, plans_on

# Suites shipped with the package: name -> module under kerasllm.bench.suites.
BUILTIN_SUITES = ("quick", "classification", "lm", "diagnostics", "translation", "summarization", "transfer")
# Settings that belong to the cell, not to the shared settings (the runner sets them itself).
RESERVED = ("task", "arch", "seed")
# The TrainConfig fields that set how long a run trains; a config takes one of them.
BUDGET_FIELDS = ("steps", "epochs", "tokens")


def _check_settings(where, settings):
    if not isinstance(settings, dict):
        raise ConfigError(f"{where} must be a mapping of TrainConfig settings, got {settings!r}.")
    reject_unknown_keys(settings, [k for k in TrainConfig.fields() if k not in RESERVED], "setting", f" in {where}")


def merge_settings(*layers):
    """Merges dicts of settings left to right; dict-valued settings (arch_options, ...) merge by key."""
    merged = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


@dataclasses.dataclass(frozen=True)
class Cell:
    """One task setting of a suite.

    Args:
        task: task name (`kerasllm tasks`).
        name: label used for the run folder and the tables, e.g. "mqar@pairs16". Defaults to `task`.
        task_options: keyword arguments of the task (sizes of generated tasks, ...).
        max_length: tokens per sequence (the task's default if None).
        steps, epochs, tokens, eval_every: the training budget of this cell (else the suite's
            settings): optimizer steps, passes over the data, or training tokens (see `TrainConfig`).
        settings: any other `TrainConfig` field for this cell only (e.g. batch_size).
        archs: the architectures that run this cell (empty: all of the suite's), e.g. only the non-causal
            families on a masked-LM pre-training cell.
        init_from_cell: the label of an earlier cell of the suite: each run of this cell starts from that cell's run
            of the same architecture and seed (`TrainConfig.init_from`), e.g. fine-tuning after pre-training.
    """

    task: str
    name: Optional[str] = None
    task_options: dict = dataclasses.field(default_factory=dict)
    max_length: Optional[int] = None
    steps: Optional[int] = None
    epochs: Optional[int] = None
    tokens: Optional[int] = None
    eval_every: Optional[int] = None
    settings: dict = dataclasses.field(default_factory=dict)
    archs: tuple = ()
    init_from_cell: Optional[str] = None

    def __post_init__(self):
        object.__setattr__(self, "archs", tuple(self.archs))

    @property
    def label(self):
        return self.name or self.task

    def training_settings(self):
        """The TrainConfig fields this cell fixes."""
        values = {"task_options": dict(self.task_options)}
        for key in ("max_length", *BUDGET_FIELDS, "eval_every"):
            if getattr(self, key) is not None:
                values[key] = getattr(self, key)
        return merge_settings(values, self.settings)

    @classmethod
    def from_dict(cls, values):
        if isinstance(values, str):
            return cls(task=values)
        if not isinstance(values, dict):
            raise ConfigError(f"A suite cell must be a mapping (or a task name), got {values!r}.")
        reject_unknown_keys(values, [f.name for f in dataclasses.fields(cls)], "cell key")
        if not values.get("task"):
            raise ConfigError(f"A suite cell needs a 'task', got {values!r}.")
        cell = cls(**values)
        _check_settings(f"cell '{cell.label}' settings", cell.settings)
        if "/" in cell.label or cell.label in (".", ".."):
            raise ConfigError(f"Cell name '{cell.label}' cannot be a path; use e.g. 'mqar@pairs16'.")
        return cell


@dataclasses.dataclass(frozen=True)
class Suite:
    """A benchmark: cells x architectures x seeds, with shared settings.

    Args:
        name: suite name (default output folder `runs/<name>/<timestamp>/`).
        cells: the task settings (`Cell`s or dicts).
        description: one line for `kerasllm bench --help` and the docs.
        archs: architectures to compare (empty: every registered backbone).
        settings: `TrainConfig` fields shared by every run (hidden_dim, num_layers, batch_size, ...).
        arch_settings: per architecture, `TrainConfig` fields for that architecture only,
            e.g. ``{"transformer": {"arch_options": {"num_heads": 4}}}``.
        seeds: seeds per (cell, architecture): 0 .. seeds-1.
        params: if set, every architecture is sized to this many parameters (see `sizing`).
        time_budget: if set, seconds of training per run (`TimeBudget`).
        lr_sweep: learning rates to train every (cell, architecture) at, or factors of each architecture's
            recipe rate ("x0.3", "x1", "x3"); the best on validation is kept per (cell, architecture) and only
            it is evaluated on test (`kerasllm.bench.lr_sweep`).
            Empty (the default): every run uses its `learning_rate` setting.
        sweep_seeds: in a sweep, how many seeds (0 .. sweep_seeds-1) train at every rate; the selected
            rate then trains the other seeds up to `seeds`, so a 3-seed table costs rates + 2 runs per
            (cell, architecture), not rates x 3. None (the default): every rate trains every seed.
    """

    name: str
    cells: tuple
    description: str = ""
    archs: tuple = ()
    settings: dict = dataclasses.field(default_factory=dict)
    arch_settings: dict = dataclasses.field(default_factory=dict)
    seeds: int = 1
    params: Optional[int] = None
    time_budget: Optional[float] = None
    lr_sweep: tuple = ()
    sweep_seeds: Optional[int] = None

    def __post_init__(self):
        object.__setattr__(self, "cells", tuple(c if isinstance(c, Cell) else Cell.from_dict(c) for c in self.cells))
        object.__setattr__(self, "archs", tuple(self.archs))
        object.__setattr__(self, "lr_sweep", check_rates(self.lr_sweep))
        if not self.name or "/" in self.name:
            raise ConfigError(f"A suite needs a simple name, got {self.name!r}.")
        if not self.cells:
            raise ConfigError(f"Suite '{self.name}' has no cells.")
        labels = [c.label for c in self.cells]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ConfigError(f"Suite '{self.name}' has several cells named {', '.join(duplicates)}; "
                              "give them distinct names (e.g. mqar@pairs16).")
        for index, cell in enumerate(self.cells):
            if cell.init_from_cell is not None and cell.init_from_cell not in labels[:index]:
                raise ConfigError(f"Cell '{cell.label}' starts from cell '{cell.init_from_cell}', which is not an earlier "
                                  f"cell of suite '{self.name}'. Put that cell before it.")
        if self.lr_sweep and any(cell.init_from_cell for cell in self.cells):
            raise ConfigError(f"Suite '{self.name}' fine-tunes from earlier cells (init_from_cell), which a learning-"
                              "rate sweep does not support yet. Drop --lr-sweep, or sweep the cells separately.")
        _check_settings(f"suite '{self.name}' settings", self.settings)
        for arch, settings in self.arch_settings.items():
            _check_settings(f"arch_settings['{arch}']", settings)
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"seeds must be an integer >= 1, got {self.seeds!r}.")
        if self.sweep_seeds is not None and (isinstance(self.sweep_seeds, bool) or not isinstance(self.sweep_seeds, int)
                                             or not 1 <= self.sweep_seeds <= self.seeds):
            raise ConfigError(f"sweep_seeds must be an integer from 1 to seeds ({self.seeds}), got {self.sweep_seeds!r}.")
        if self.sweep_seeds is not None and not self.lr_sweep:
            raise ConfigError("sweep_seeds (--sweep-seeds) sets how many seeds train at every rate of a learning-rate "
                              "sweep; add --lr-sweep, or drop it.")
        if self.params is not None and (isinstance(self.params, bool) or not isinstance(self.params, int)
                                        or self.params < 1):
            raise ConfigError(f"params must be a positive integer, got {self.params!r}.")
        if self.time_budget is not None and not (isinstance(self.time_budget, (int, float))
                                                 and self.time_budget > 0):
            raise ConfigError(f"time_budget must be a positive number of seconds, got {self.time_budget!r}.")

    @classmethod
    def from_dict(cls, values):
        if not isinstance(values, dict):
            raise ConfigError(f"A suite must be a mapping, got {type(values).__name__}.")
        reject_unknown_keys(values, [f.name for f in dataclasses.fields(cls)], "suite key")
        return cls(**values)

    def to_dict(self):
        values = dataclasses.asdict(self)
        values["cells"] = [dataclasses.asdict(c) for c in self.cells]
        values["archs"] = list(self.archs)
        values["lr_sweep"] = list(self.lr_sweep)
        return values

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def list_suites():
    """Names of the suites shipped with kerasllm."""
    return list(BUILTIN_SUITES)


def load_suite(name_or_path):
    """A shipped suite by name, or a suite file: Python (defines `SUITE`), JSON or YAML."""
    text = str(name_or_path)
    if text in BUILTIN_SUITES:
        return importlib.import_module(f"kerasllm.bench.suites.{text}").SUITE
    path = pathlib.Path(text)
    if not path.suffix:
        raise ConfigError(f"Unknown suite '{text}'.{did_you_mean(text, BUILTIN_SUITES)} Use one of "
                          f"{', '.join(BUILTIN_SUITES)} or a .py / .json / .yaml suite file.")
    if not path.is_file():
        raise ConfigError(f"Suite file {path} does not exist.")
    if path.suffix == ".py":
        spec = importlib.util.spec_from_file_location(f"kerasllm_suite_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        suite = getattr(module, "SUITE", None)
        if not isinstance(suite, Suite):
            raise ConfigError(f"Suite file {path} must define SUITE = kerasllm.bench.Suite(...).")
        return suite
    if path.suffix not in (".json", ".yaml", ".yml"):
        raise ConfigError(f"Suite file {path}: use a .py, .json, .yaml or .yml file.")
    values = read_settings_file(path, "suite file")
    return Suite.from_dict(values)


def select(suite, archs=None, tasks=None, params=None, seeds=None, epochs=None, steps=None, tokens=None,
           time_budget=None, data_dir=None, lr_sweep=None, sweep_seeds=None):
    """The suite with command-line choices applied (None keeps the suite's value).

    Args:
        archs: architecture or baseline names (must be registered), or a student's class as an import path
            `file.py:Class`: a `Backbone`, or a cell / attention / block run inside rnn / transformer / cnn.
        tasks: cell names or task names to keep; a registered task the suite lacks becomes a new
            cell with the suite's shared settings.
        params, seeds, time_budget, lr_sweep, sweep_seeds: replace the suite's values.
        epochs, steps, tokens: replace every cell's training budget (and let eval_every default); give one.
        data_dir: parent folder of real datasets, for every run.
    """
    given = {"epochs": epochs, "steps": steps, "tokens": tokens}
    if sum(value is not None for value in given.values()) > 1:
        raise ConfigError("Give only one of --epochs, --steps or --tokens.")
    changes = {}
    if archs:
        archs = [absolute_import_path(arch) for arch in archs]
        for arch in archs:
            if is_import_path(arch):
                plugin_arch(arch)  # a student's class: it must load and be a backbone, cell, attention or block
            elif is_prefixed_arch(arch):
                check_prefixed_arch(arch)  # hub:<ClassName> must be known, hub:<preset> must load
            elif arch not in BASELINES:  # a baseline (tfidf_lr) is a row too
                BACKBONES.get(arch)  # unknown names fail here, with a did-you-mean
        changes["archs"] = tuple(dict.fromkeys(archs))
    cells = list(suite.cells)
    if tasks:
        chosen = []
        for name in dict.fromkeys(tasks):
            matches = [c for c in cells if name in (c.label, c.task)]
            if not matches:
                TASKS.get(name)
                matches = [Cell(task=name)]
            chosen.extend(c for c in matches if c not in chosen)
        cells = chosen
    if any(value is not None for value in given.values()):
        budget = {**given, "eval_every": None}
        cells = [dataclasses.replace(c, settings={k: v for k, v in c.settings.items() if k not in budget}, **budget)
                 for c in cells]
        changes["settings"] = {k: v for k, v in suite.settings.items() if k not in budget}
    changes["cells"] = tuple(cells)
    if data_dir is not None:
        changes["settings"] = {**changes.get("settings", suite.settings), "data_dir": str(data_dir)}
    if params is not None:
        changes["params"] = params
    if seeds is not None:
        changes["seeds"] = seeds
    if time_budget is not None:
        changes["time_budget"] = time_budget
    if lr_sweep is not None:
        changes["lr_sweep"] = tuple(lr_sweep)
    if sweep_seeds is not None:
        changes["sweep_seeds"] = sweep_seeds
    return suite.replace(**changes)


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One (cell, architecture, seed) of a bench, with its config and run directory; in a learning-rate
    sweep, one (cell, architecture, rate, seed), with `rate` its learning rate (else None). A run that
    `confirms` is a seed past `Suite.sweep_seeds`: it trains only if its rate is the one selected."""

    label: str
    arch: str
    seed: int
    config: TrainConfig
    path: pathlib.Path
    rate: Optional[float] = None
    confirms: bool = False

    @property
    def name(self):
        sweep = f"{rate_label(self.rate)}/" if self.rate is not None else ""
        return f"{self.label}/{self.arch}/{sweep}seed{self.seed}"


def suite_archs(suite):
    """The suite's architectures, or every registered backbone."""
    return list(suite.archs) or list_backbones()


def run_config(suite, cell, arch, seed):
    """The `TrainConfig` of one run: shared settings < arch settings < cell settings, with the settings none of
    them gives taken from the architecture's recipe (`kerasllm.models.recipes`), as the run records them.

    A student's class (`file.py:Class`) runs as its own backbone, or inside the built-in architecture it
    plugs into (a cell in rnn, attention in transformer, a block in cnn).
    """
    plugged = {}
    if is_import_path(arch):
        name, options = plugin_arch(arch)
        plugged = {"arch_options": options} if options else {}
        arch_settings = merge_settings(suite.arch_settings.get(name), suite.arch_settings.get(arch), plugged)
        arch = name
    else:
        arch_settings = suite.arch_settings.get(arch)
    values = merge_settings(suite.settings, arch_settings, cell.training_settings())
    embeddings, data_dir = values.get("embeddings"), values.get("data_dir")
    if embeddings and data_dir and not pathlib.Path(embeddings).is_absolute():  # a suite names shipped vectors
        values["embeddings"] = str(pathlib.Path(data_dir).absolute() / embeddings)  # relative to the data folder
    config = TrainConfig.from_dict({**values, "task": cell.task, "arch": arch, "seed": seed})
    return with_recipe(config, task_kind(cell.task, config.objective))


def task_kind(task, objective=None):
    """The kind of a registered task ("lm", "classification", "seq2seq"), or of what `objective` makes of it
    ("lm", "mlm"), read off its class without building it."""
    return objective_info(TASKS.get(task).info, objective).kind


def arch_label(arch):
    """The name of an architecture in run folders and tables: a student's class by its class name, a keras-hub
    preset given as a folder or handle (`hub:/path/to/my_bert`, `hub:kaggle://.../bert_tiny_en_uncased`) by
    its last part."""
    if is_prefixed_arch(arch):
        prefix, _, rest = arch.partition(":")
        return f"{prefix}:{rest.rstrip('/').rsplit('/', 1)[-1]}"
    return arch.rsplit(":", 1)[-1] if is_import_path(arch) else arch


def plan(suite, out):
    """Every run of the suite in order (cell, then architecture, then learning rate, then seed); a baseline
    (tfidf_lr) only on cells of the task kinds it trains on (`plans_on`), and never swept.

    Without a sweep a run lives in `out/<cell>/<arch>/seed<k>/`; in a sweep, in
    `out/<cell>/<arch>/lr<rate>/seed<k>/` (`kerasllm.bench.lr_sweep.rate_label`). With `Suite.sweep_seeds`,
    the seeds from `sweep_seeds` on are planned at every rate with `confirms=True`: the runner trains those of
    the selected rate only.
    """
    out = pathlib.Path(out)
    runs = []
    for cell in suite.cells:
        for arch in [a for a in suite_archs(suite) if _runs_on(a, cell)]:
            label = arch_label(arch)
            base = run_config(suite, cell, arch, seed=0)  # the seed is the only difference between its runs
            entries = suite.lr_sweep if suite.lr_sweep and arch not in BASELINES else (None,)
            for entry in entries:
                rate = None if entry is None else entry_rate(entry, base.learning_rate)
                folder = out / cell.label / label / (rate_label(rate) if rate is not None else "")
                if any(run.path.parent == folder for run in runs):
                    raise ConfigError(f"The learning-rate sweep gives {label} on {cell.label} the rate {rate:g} twice "
                                      "(a rate and a factor of its recipe rate coincide); give each rate once.")
                swept = base if rate is None else base.replace(learning_rate=rate)
                for seed in range(suite.seeds):
                    config = swept if seed == 0 else swept.replace(seed=seed)
                    if cell.init_from_cell is not None:
                        config = config.replace(init_from=str(out.absolute() / cell.init_from_cell / label / f"seed{seed}"))
                    confirms = rate is not None and suite.sweep_seeds is not None and seed >= suite.sweep_seeds
                    runs.append(PlannedRun(cell.label, label, seed, config, folder / f"seed{seed}", rate, confirms))
    return runs


def first_and_confirming(runs):
    """The planned runs to train first, and the `(cell, arch, seed)`s that confirm a sweep's choice once it is
    made (`PlannedRun.confirms`: one of them per seed trains, at the selected rate)."""
    first = [run for run in runs if not run.confirms]
    confirming = list(dict.fromkeys((run.label, run.arch, run.seed) for run in runs if run.confirms))
    return first, confirming


def _runs_on(arch, cell):
    """Whether `arch` runs on `cell`: the cell's own list of architectures allows it, and a baseline (tfidf_lr) runs
    only on cells of its task kinds that train the task itself from scratch (no objective, vectors or init)."""
    if cell.archs and arch_label(arch) not in cell.archs and arch not in cell.archs:
        return False
    if arch in BASELINES and (cell.init_from_cell or any(cell.settings.get(key) for key in ("objective", "embeddings"))):
        return False
    return plans_on(arch, cell.task)
