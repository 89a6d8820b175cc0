"""`tfidf_lr`: TF-IDF over word unigrams and bigrams, then logistic regression with C chosen on validation.

The linear baseline row of a classification bench (scikit-learn). It reads the task's own train / validation /
test splits and fits `TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)` on the training texts
only. The vectorizer is its own word analyzer (lowercased words of two or more letters, whole texts): the
config's tokenizer and `max_length` do not apply, so an IMDB review is read whole where the neural rows
of the classification suite see its first 256 tokens. Then one L2-regularized `LogisticRegression`
(newton-cg; the multinomial loss for 3+ classes) per C of the grid, and the one with the best validation
accuracy is kept (a tie goes to the smaller C, the stronger regularization). It is not refitted on
train + validation, just as a neural run keeps its best checkpoint.

The kept model is scored with the neural runs' own metrics (`metrics_for`: accuracy, macro_f1) and their
cross-entropy in nats (`loss`), under the same names (`validation_accuracy`, `test_macro_f1`, ...). It
writes config.json, manifest.json and metrics.json (last: a finished run) into the run directory; no
model.keras, tokenizer or TensorBoard curves. `parameters` counts the learned coefficients and intercepts.
metrics.json also holds the chosen `C`, the `C_grid` and each C's validation accuracy
(`C_grid_validation_accuracy`), the vocabulary size (`features`) and the split sizes (`examples`).
`train_seconds` covers fitting the vectorizer and every C; `train_tokens_per_second` is the training split's
words over it; `validation_seconds` / `test_seconds` are vectorizing and scoring the split; `steps` is 0 and
`epochs` null (no optimizer steps).

The fit is deterministic: the same config gives the same metrics (all but the timings). Only `task`,
`task_options`, `data_dir`, `seed` and `arch_options` are read; `arch_options` may set `c_grid` (a list of
C, default 0.25, 0.5, ..., 32), `min_df` (default 2) and `ngram_max` (default 2; 1 is a bag of words).
The bigrams matter: on `negation_sentiment` a bag of words (`ngram_max=1`) is at chance, while word pairs
such as "not dull" give the label away and tfidf_lr scores about 100%.

Example:
>>> import tempfile
>>> metrics = train_tfidf_lr({"task": "negation_sentiment", "arch": "tfidf_lr", "arch_options": {"c_grid": [1.0]},
...                           "task_options": {"num_train": 200, "num_validation": 50, "num_test": 50}},
...                          run_dir=tempfile.mkdtemp() + "/run")
>>> metrics["C"], metrics["C_grid"], sorted(k for k in metrics if k.startswith("test_"))
(1.0, [1.0], ['test_accuracy', 'test_loss', 'test_macro_f1', 'test_seconds'])
"""

import contextlib
import math
import time

import keras
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from kerasllm.checks import reject_unknown_keys, require
from kerasllm.config import TrainConfig
from kerasllm.data.base import TASKS, get_task
from kerasllm.errors import ConfigError
from kerasllm.training.baselines.registry import register_baseline
from kerasllm.training.metrics import metrics_for
from kerasllm.training.run_dir import RunDirectory, default_run_path, manifest, write_json_atomic

#: C values tried, smallest (strongest regularization) first: 2^-2 .. 2^5.
C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
#: `arch_options` of tfidf_lr and their defaults.
OPTIONS = {"c_grid": C_GRID, "min_df": 2, "ngram_max": 2}
MAX_ITER = 1000


def _options(arch_options):
    """(the sorted C grid, min_df, ngram_max) from the config's arch_options; one-line errors for bad values."""
    reject_unknown_keys(arch_options, OPTIONS, "arch_options key", " of tfidf_lr")
    options = {**OPTIONS, **arch_options}
    grid, min_df, ngram_max = options["c_grid"], options["min_df"], options["ngram_max"]
    require(isinstance(grid, (list, tuple)) and len(grid) > 0
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) and c > 0
                    for c in grid),
            f"arch_options.c_grid of tfidf_lr must be a non-empty list of positive numbers, got {grid!r}.")
    require(isinstance(min_df, int) and not isinstance(min_df, bool) and min_df >= 1,
            f"arch_options.min_df of tfidf_lr must be an integer >= 1, got {min_df!r}.")
    require(ngram_max in (1, 2, 3) and not isinstance(ngram_max, bool),
            f"arch_options.ngram_max of tfidf_lr must be 1, 2 or 3, got {ngram_max!r}.")
    return tuple(sorted({float(c) for c in grid})), min_df, ngram_max


def _check_task(config):
    """Refuses a task that is not a classification (from the registry's metadata, before reading any data)."""
    kind = TASKS.get(config.task).info.kind
    if kind != "classification":
        raise ConfigError(f"tfidf_lr is a baseline for classification tasks; '{config.task}' is a {kind} task. "
                          "Pick a neural --arch for it (kerasllm archs).")


def _probabilities(model, features, num_classes):
    """(examples, num_classes) class probabilities; a class absent from the training split gets 0."""
    probabilities = np.zeros((features.shape[0], num_classes), dtype=np.float32)
    probabilities[:, model.classes_] = model.predict_proba(features)
    return probabilities


def evaluate(model, features, labels, num_classes):
    """The neural runs' classification metrics (loss in nats, accuracy, macro_f1) of `model` on TF-IDF `features`."""
    probabilities = _probabilities(model, features, num_classes)
    labels = np.asarray(labels, dtype="int32")
    values = {"loss": float(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities)))}
    for metric in metrics_for("classification", num_classes):
        metric.update_state(labels, probabilities)
        values[metric.name] = float(metric.result())
    return values


def _timed(function, *args):
    """(function(*args), the seconds it took)."""
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def _count_words(vectorizer, texts):
    """Word tokens the vectorizer's analyzer sees in `texts` (what train_tokens_per_second counts)."""
    preprocess, tokenize = vectorizer.build_preprocessor(), vectorizer.build_tokenizer()
    return sum(len(tokenize(preprocess(text))) for text in texts)


@register_baseline("tfidf_lr", kinds=("classification",))
def train_tfidf_lr(config, run_dir=None, runs_root="runs", log=None):
    """TF-IDF over word unigrams + bigrams, then logistic regression with C chosen on the validation split.

    Args:
        config: a `TrainConfig` (arch "tfidf_lr") or a dict of its fields.
        run_dir: the run directory (default: a new timestamped folder under `runs_root`).
        runs_root: parent of default run directories. Defaults to "runs".
        log: a function of one line for progress (the run directory, then a line per C), or None.

    Returns:
        The metrics, also written to metrics.json.

    Raises:
        ConfigError: the task is not a classification, or arch_options are bad.
        RunDirectoryError: `run_dir` holds a finished run or another config, as for a neural run.
    """
    log = log or (lambda line: None)
    c = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    _check_task(c)
    grid, min_df, ngram_max = _options(c.arch_options)
    task = get_task(c.task, data_dir=c.data_dir, **c.task_options)
    info = task.info
    train, validation, test = (task.split(name) for name in ("train", "validation", "test"))
    if len(set(train.labels)) < 2:
        raise ConfigError(f"The training split of '{c.task}' has a single class; tfidf_lr needs two or more.")
    run = RunDirectory.check(run_dir or default_run_path(c, runs_root), c)
    if not run.resuming:  # an unfinished baseline run (killed) has nothing to resume: it is trained again
        run.create(c)
    with contextlib.suppress(OSError):
        run.checkpoint_dir.rmdir()  # made by create; a baseline keeps no checkpoints
    log(f"run directory: {run.path}" + (" (started before; training again)" if run.resuming else ""))

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, ngram_max), sublinear_tf=True, min_df=min_df, dtype=np.float32)
    try:
        train_features = vectorizer.fit_transform(train.texts)
    except ValueError as error:  # no term left after min_df (a tiny or empty training split)
        raise ConfigError(f"tfidf_lr found no features in the training split of '{c.task}' ({error}). "
                          "Lower arch_options.min_df or use more training data.") from None
    validation_features, validation_transform_seconds = _timed(vectorizer.transform, validation.texts)
    validation_labels = np.asarray(validation.labels)
    log(f"TF-IDF: {len(train):,} training texts, {train_features.shape[1]:,} features (1- to {ngram_max}-grams) "
        f"({time.perf_counter() - start:.1f} s)")
    best, best_accuracy, accuracies = None, -1.0, []
    for value in grid:
        fit_start = time.perf_counter()
        model = LogisticRegression(C=value, solver="newton-cg", max_iter=MAX_ITER, random_state=c.seed)
        model.fit(train_features, train.labels)
        accuracy = float(np.mean(model.predict(validation_features) == validation_labels))
        accuracies.append(accuracy)
        if accuracy > best_accuracy:  # strictly better: a tie keeps the smaller C
            best, best_accuracy = model, accuracy
        log(f"C={value:g}: validation accuracy {accuracy:.4f} ({time.perf_counter() - fit_start:.1f} s)")
    train_seconds = time.perf_counter() - start
    log(f"chosen C={best.C:g} (validation accuracy {best_accuracy:.4f}); trained in {train_seconds:.1f} s")

    metrics = {}
    test_features, test_transform_seconds = _timed(vectorizer.transform, test.texts)
    for name, split, features, transform_seconds in (
            ("validation", validation, validation_features, validation_transform_seconds),
            ("test", test, test_features, test_transform_seconds)):
        values, seconds = _timed(evaluate, best, features, split.labels, info.num_classes)
        for key, value in {**values, "seconds": transform_seconds + seconds}.items():  # as a neural run's
            metrics[f"{name}_{key}"] = value
    parameters = int(best.coef_.size + best.intercept_.size)
    metrics.update({
        "task": c.task, "arch": c.arch, "seed": c.seed, "headline_metric": info.metric,
        "parameters": parameters, "epochs": None, "steps": 0, "best_epoch": None,  # no optimizer steps
        "train_seconds": train_seconds,
        "train_tokens_per_second": _count_words(vectorizer, train.texts) / max(train_seconds, 1e-9),
        "C": float(best.C), "C_grid": list(grid), "C_grid_validation_accuracy": accuracies,
        "features": int(train_features.shape[1]),
        "examples": {"train": len(train), "validation": len(validation), "test": len(test)},
    })
    record = manifest(c)
    record["versions"]["scikit-learn"] = sklearn.__version__
    write_json_atomic(run.manifest_path, {**record, "parameters": parameters})
    write_json_atomic(run.metrics_path, metrics)
    return metrics
