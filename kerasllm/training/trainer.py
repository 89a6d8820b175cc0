"""One Trainer for every task and architecture.

It builds the task, fits the tokenizer on the training split, encodes the splits, builds
backbone + head, compiles the architecture's recipe (`kerasllm.models.recipes`: AdamW or SGD with warm-up +
cosine decay and global gradient clipping, unless the config overrides it), and fits
with crash-safe checkpoints and TensorBoard scalars (`kerasllm.training.tensorboard`: train/ and validation/,
stepped by the optimizer step) in a run directory. Re-running with the same run
directory resumes from the last checkpoint.

Example:
>>> import tempfile
>>> import kerasllm as kl
>>> trainer = kl.Trainer({"task": "negation_sentiment", "arch": "gru", "steps": 2, "hidden_dim": 8,
...                       "num_layers": 1, "jit_compile": False, "task_options": {"num_train": 64,
...                       "num_validation": 16, "num_test": 16}}, run_dir=tempfile.mkdtemp() + "/run")
>>> metrics = trainer.fit(verbose=0)
>>> sorted(k for k in metrics if k.startswith("test_"))[:2]
['test_accuracy', 'test_loss']
"""

import functools
import math

import keras

from kerasllm.config import TrainConfig
from kerasllm.data.base import get_task
from kerasllm.data.objectives import objective_task
from kerasllm.data.pipeline import encode_split, evaluation_dataset, training_dataset
from kerasllm.errors import ConfigError, RunDirectoryError, TrainingError
from kerasllm.models.build import build_model, count_parameters, max_length_of, separate_vocabularies
from kerasllm.models.flops import train_flops_per_token
from kerasllm.models.hub import hub_preset
from kerasllm.models.recipes import with_recipe
from kerasllm.tokenizers.base import Tokenizer, get_tokenizer
from kerasllm.tokenizers.hub import HubTokenizer
from kerasllm.training.callbacks import Checkpointer, StopOnNaN, Throughput, copy_file_atomic, restore_seed_states
from kerasllm.training.distribution import data_parallel
from kerasllm.training.finished_run import evaluate_split, written_text
from kerasllm.training.losses import SparseCrossEntropy
from kerasllm.training.metrics import derived_metrics, metrics_for
from kerasllm.training.model_files import load_run_model
from kerasllm.training.initialize import start_weights
from kerasllm.training.optimizers import OPTIMIZERS, Grouped, build_optimizer, group_rates_of, parameter_groups
from kerasllm.training.pretrained import check_init_from, pretrained_tokenizer
from kerasllm.training.run_dir import RunDirectory, default_run_path, read_json, write_json_atomic
from kerasllm.training.schedule import WarmupCosine
from kerasllm.training.tensorboard import StepScalars
from kerasllm.training.text_metrics import text_metrics_for
from kerasllm.training.text_scores import TextScores, output_writer

DEFAULT_EPOCHS = 3
#: The splits `fit` evaluates the best model on, unless told fewer.
EVALUATED_SPLITS = ("validation", "test")
# Keras metric that tracks each headline metric during training (LM metrics are derived from CE).
MONITORED = {"accuracy": "accuracy", "token_accuracy": "token_accuracy",
             "perplexity": "cross_entropy", "bits_per_char": "cross_entropy",
             "bleu": "bleu", "rouge1": "rouge1"}  # text metrics: logged by `TextScores` after each validation


def fit_tokenizer(config, task, side="both"):
    """The run's tokenizer (the config's, else the task's default with its options), fitted on the training split:
    all its text (`side="both"`), or only its sources or targets ("source", "target"). A keras-hub preset
    (`--arch hub:<preset>`) reads text with its own tokenizer instead: nothing is fitted."""
    preset = hub_preset(config.arch)
    if preset is not None:
        if config.tokenizer:
            raise ConfigError(f"The keras-hub preset '{preset}' reads text with its own tokenizer, so "
                              f"tokenizer={config.tokenizer} does not apply. Remove it.")
        return HubTokenizer(preset=preset, sequence_length=max_length_of(config, task.info))
    name = config.tokenizer or task.info.tokenizer
    options = config.tokenizer_options or (task.info.tokenizer_options if not config.tokenizer else {})
    train = task.split("train")
    texts = {"both": task.train_texts, "source": lambda: train.texts, "target": lambda: train.targets}[side]()
    return get_tokenizer(name, **options).fit(texts)


def fit_tokenizers(config, task):
    """`(tokenizer, source_tokenizer)`: the run's tokenizer (the target side's when the run keeps separate
    vocabularies) and the source side's, or None when one vocabulary serves both."""
    if separate_vocabularies(config, task.info):
        return fit_tokenizer(config, task, "target"), fit_tokenizer(config, task, "source")
    return fit_tokenizer(config, task), None


def _distributed(method):
    """Runs a Trainer method inside the scope of the run's distribution (`kerasllm.training.distribution`), so
    that the model's weights, its optimizer and its batches are placed on every device of a data-parallel run."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self.distribution.scope():
            return method(self, *args, **kwargs)

    return run


class Trainer:
    """Trains and evaluates one (task, architecture, seed) cell.

    Args:
        config: a `TrainConfig` or a dict of its fields.
        run_dir: the run directory (default: a new timestamped folder under `runs_root`).
        runs_root: parent of default run directories. Defaults to "runs".
    """

    def __init__(self, config, run_dir=None, runs_root="runs"):
        config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
        task = get_task(config.task, data_dir=config.data_dir, **config.task_options)
        self.task = objective_task(task, config.objective)  # the task itself, or its text as an lm / mlm task
        self.info = self.task.info
        # The architecture's recipe for this kind of task fills the optimizer settings the config leaves open.
        self.config = c = with_recipe(config, self.info.kind)
        OPTIMIZERS.get(c.optimizer)  # an unknown name fails here, before anything is written
        self.distribution = data_parallel(c.distribution, c.batch_size, c.jit_compile)  # see _distributed
        self.max_length = max_length_of(c, self.info)
        self._encoded = {}
        if c.init_from:
            check_init_from(c)  # a mismatched earlier run fails here, before anything is written
        self.run = RunDirectory.check(run_dir or default_run_path(c, runs_root), c)
        # Read the data, fit the tokenizer and build the model before writing anything, so a mistake in
        # the settings leaves no half-made run directory behind.
        resumed = self.run.resuming and self.run.tokenizer_path.exists()
        if resumed:
            source = self.run.source_tokenizer_path
            self.tokenizer, self.source_tokenizer = (Tokenizer.load(self.run.tokenizer_path),
                                                     Tokenizer.load(source) if source.exists() else None)
        elif c.init_from:  # fine-tuning reads text as the earlier run did
            self.tokenizer, self.source_tokenizer = pretrained_tokenizer(c), None
        else:
            self.tokenizer, self.source_tokenizer = fit_tokenizers(c, self.task)
        self.schedule()
        self._resume_state = read_json(self.run.state_path) if self.run.resuming and self.run.state_path.exists() \
            else None
        self._fresh_model = None
        if self._resume_state is None:
            keras.utils.set_random_seed(c.seed)  # initialization, then dropout and data order, follow the seed
            with self.distribution.scope():  # the weights live on every device of a data-parallel run
                self._fresh_model = build_model(c, self.info, self.tokenizer.vocabulary_size,
                                                self._source_vocabulary())
                self.initialized = start_weights(self._fresh_model, c, self.tokenizer, self.task.train_texts())
        else:  # resuming: what the first attempt started from is in its manifest
            self.initialized = read_json(self.run.manifest_path).get("initialized", {}) \
                if self.run.manifest_path.exists() else {}
        # Built here, so that a bad lm_metric fails before the run directory is made.
        with self.distribution.scope():  # metric variables too are placed on every device
            self._metrics = metrics_for(self.info.kind, self.info.num_classes, extra=c.lm_metric)
        if not self.run.resuming:
            self.run.create(c)
        if not self.run.tokenizer_path.exists():
            self.tokenizer.save(self.run.tokenizer_path)
        if self.source_tokenizer is not None and not self.run.source_tokenizer_path.exists():
            self.source_tokenizer.save(self.run.source_tokenizer_path)
        self.model = None
        self._writer_model = self._writer = None

    # ----------------------------------------------------------------------------- data
    def encoded(self, split):
        """The split's padded arrays (cached)."""
        if split not in self._encoded:
            self._encoded[split] = encode_split(self.task, split, self.tokenizer, self.max_length,
                                                self.config.seq2seq_form, self.source_tokenizer)
        return self._encoded[split]

    @property
    def tokens_per_step(self):
        """Average real (non-pad) input tokens in one training batch: what tokens/s counts."""
        train = self.encoded("train")
        return train.num_input_tokens / train.num_examples * self.config.batch_size

    # ---------------------------------------------------------------------------- model
    @_distributed
    def compile(self, model, total_steps, steps_per_epoch=None):
        """Compiles the recipe's optimizer and schedule over `total_steps`. Keras runs `steps_per_execution`
        steps per call, whole calls only (validation too), so it is cut to the largest divisor of `steps_per_epoch`
        and of `validation_batches` not above it (validation periods then end where they should). `jit_compile`
        compiles with XLA (on TensorFlow also on a CPU, where Keras' "auto" would not; the other backends decide
        as Keras' "auto" does)."""
        c = self.config
        schedule = WarmupCosine(c.learning_rate, total_steps, round(c.warmup_ratio * total_steps), c.min_lr_ratio)
        optimizer = build_optimizer(c, schedule, group_rates_of(c, steps_per_epoch or total_steps))
        weighted = self.info.kind != "classification"
        period, validation = steps_per_epoch or c.steps_per_execution, self._validation_steps()
        model.compile(
            optimizer=optimizer, loss=SparseCrossEntropy(c.label_smoothing, log_probs=model.outputs_log_probs),
            metrics=None if weighted else self._metrics, weighted_metrics=self._metrics if weighted else None,
            jit_compile=(True if keras.backend.backend() == "tensorflow" else "auto") if c.jit_compile else False,
            steps_per_execution=largest_divisor(math.gcd(period, validation or period), c.steps_per_execution),
        )
        if model.built:
            # Built now, not inside the first traced step: on TensorFlow, a variable created while tracing makes
            # tf.function trace the whole training step a second time (one trace, not two, is seconds per run).
            model.optimizer.build(model.trainable_variables)
        _set_groups(model)

    # ---------------------------------------------------------------------------- loops
    def schedule(self):
        """(steps_per_epoch, epochs): an "epoch" is one validation period.

        A token budget becomes steps: ceil(tokens / tokens_per_step), then, with `eval_every`
        (default: a tenth of those steps, rounded up, so about 10 validations), rounded up to a whole
        number of validation periods. Every architecture of a task has the same tokens_per_step, so
        the same budget gives each the same steps and the same training tokens.
        """
        c = self.config
        if c.tokens is not None:
            train = self.encoded("train")
            # ceil(tokens / tokens_per_step) in integers, so an exact multiple is not rounded up by float error
            needed = -(-c.tokens * train.num_examples // (int(train.num_input_tokens) * c.batch_size))
            eval_every = c.eval_every or math.ceil(needed / 10)
            return eval_every, math.ceil(needed / eval_every)
        if c.steps is None:
            return math.ceil(self.encoded("train").num_examples / c.batch_size), c.epochs or DEFAULT_EPOCHS
        eval_every = c.eval_every or next(c.steps // n for n in range(10, 0, -1) if c.steps % n == 0)
        if c.steps % eval_every:
            raise ConfigError(f"steps ({c.steps}) must be a multiple of eval_every ({eval_every}).")
        return eval_every, c.steps // eval_every

    def _validation_steps(self):
        """Batches of each validation during training: `validation_batches` (at most the split's), or None: all."""
        if not self.config.validation_batches:
            return None
        return min(self.config.validation_batches, math.ceil(self.encoded("validation").num_examples /
                                                             self.config.batch_size))

    def _monitor(self):
        metric = MONITORED[self.info.metric]
        return "val_" + metric, ("min" if metric == "cross_entropy" else "max")

    @_distributed
    def fit(self, callbacks=(), verbose=2, evaluate=EVALUATED_SPLITS):
        """Trains (or resumes) and returns the final metrics, also written to metrics.json.

        Args:
            callbacks: extra Keras callbacks, run after the Trainer's own.
            verbose: Keras' `fit` verbosity: 2 prints one line per epoch, 0 nothing (when a
                progress display is among `callbacks`).
            evaluate: the splits the best model is evaluated on at the end (`validation_*` and
                `test_*` metrics). A learning-rate sweep passes `("validation",)`, so that no test
                number exists before a rate is chosen; `open_run(path).evaluate("test")` adds it later.
        """
        if self.run.finished:
            raise RunDirectoryError(f"The run in {self.run.path} is finished. Choose a new --out.")
        unknown = [split for split in evaluate if split not in EVALUATED_SPLITS]
        if unknown or not evaluate:
            raise ConfigError(f"fit(evaluate=...) takes splits among {', '.join(EVALUATED_SPLITS)}, got {evaluate!r}.")
        c = self.config
        train = self.encoded("train")
        steps_per_epoch, epochs = self.schedule()
        state = self._resume_state
        initial_epoch = state["epoch"] if state else 0
        if state:
            keras.utils.set_random_seed(c.seed)
            self.model = self._load(self.run.checkpoint_dir / state["last_checkpoint"])
            restore_seed_states(self.model, state.get("seed_states"))
        else:
            self.model, self._fresh_model = self._fresh_model, None
            self.compile(self.model, steps_per_epoch * epochs, steps_per_epoch)
        self.run.write_manifest(c, {"parameters": count_parameters(self.model),
                                    **({"initialized": self.initialized} if self.initialized else {})})

        dataset = training_dataset(train, c.batch_size, c.seed, skip_batches=initial_epoch * steps_per_epoch)
        tokens_per_step = self.tokens_per_step
        throughput = Throughput(tokens_per_step)
        monitor, mode = self._monitor()
        validation_steps = self._validation_steps()  # None: the whole split
        checkpointer = Checkpointer(self.run, monitor, mode, state, throughput)
        scores_text = text_metrics_for(self.info.metric)
        callbacks = [
            throughput,
            StopOnNaN(),
            *([TextScores(self.task.split("validation"), self.tokenizer, self.info.metric, self.run.path,
                          source_tokenizer=self.source_tokenizer,
                          num_examples=validation_steps and validation_steps * c.batch_size)]
              if scores_text else []),
            checkpointer,
            StepScalars(self.run.path),  # after the checkpointer: a logged epoch is a saved one
            *callbacks,
        ]
        if c.early_stopping_patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor, patience=c.early_stopping_patience, mode=mode))
        if initial_epoch < epochs:
            history = self.model.fit(
                dataset, steps_per_epoch=steps_per_epoch, epochs=epochs, initial_epoch=initial_epoch,
                validation_data=evaluation_dataset(self.encoded("validation"), c.batch_size),
                validation_steps=validation_steps,
                callbacks=callbacks, verbose=verbose, shuffle=False,
            )
            losses = history.history.get("loss", [])
            if any(math.isnan(v) or math.isinf(v) for v in losses):
                raise TrainingError(
                    f"The training loss became NaN/inf at epoch {len(losses) + initial_epoch}. "
                    "Lower learning_rate or clipnorm (or check the data); the last good checkpoint is kept."
                )
        final_state = read_json(self.run.state_path)
        best = self.run.checkpoint_dir / final_state["best_checkpoint"]
        # The model in memory is the best one when this call trained the epoch that was best: no reload (its
        # compiled evaluation serves every split). model.keras is a copy of the best checkpoint's file.
        in_memory = initial_epoch < final_state["epoch"] == final_state["best_epoch"]
        if not in_memory:
            self.model = self._load(best)
        copy_file_atomic(best, self.run.model_path)
        metrics, scored = {}, {}
        if in_memory and validation_steps is None and not scores_text:  # its last validation was the split's
            logged = {name[len("val_"):]: values[-1] for name, values in history.history.items()
                      if name.startswith("val_")}
            scored["validation"] = {
                **derived_metrics(self.info.kind, logged, self.encoded("validation").tokens_per_character),
                "seconds": throughput.last_validation_seconds,
            }
        for split in (*evaluate, *(self.info.extra_test_splits if "test" in evaluate else ())):
            same = next((done for done in scored if self._same_split(done, split)), None)
            scored[split] = scored[same] if same is not None else self.evaluate(split)  # test = validation: once
            for name, value in scored[split].items():
                metrics[f"{split}_{name}"] = value
        steps = final_state["epoch"] * steps_per_epoch
        metrics.update({
            "task": c.task, "arch": c.arch, "seed": c.seed, "headline_metric": self.info.metric,
            "parameters": count_parameters(self.model), "epochs": final_state["epoch"],
            "steps": steps, "best_epoch": final_state["best_epoch"],
            "train_seconds": final_state["train_seconds"],
            "train_tokens": round(tokens_per_step * steps),
            "train_tokens_per_second": tokens_per_step * steps / max(final_state["train_seconds"], 1e-9),
            "train_flops_per_token": train_flops_per_token(self.model),
        })
        write_json_atomic(self.run.metrics_path, metrics)
        return metrics

    @_distributed
    def evaluate(self, split="test"):
        """Metrics of the trained model on `split`, token-weighted for LM tasks."""
        if self.model is None:
            raise TrainingError("No model yet: call fit() first, or open a finished run with "
                                "kerasllm.training.open_run(path).evaluate(split).")
        return evaluate_split(self.model, self.encoded(split), self.info.kind, self.config.batch_size,
                              written_text(self._output_writer, self.task, split))  # BLEU, ROUGE...

    def _same_split(self, split, other):
        """Whether two splits hold the same text (Tiny Shakespeare's test is its validation text)."""
        a, b = self.task.split(split), self.task.split(other)
        return a is b or a == b

    def _output_writer(self):
        """The writer of the current model's outputs, one per model (its compiled decoder serves every split)."""
        if self._writer_model is not self.model:
            self._writer_model, self._writer = self.model, output_writer(
                self.model, self.tokenizer, source_tokenizer=self.source_tokenizer)
        return self._writer

    def _source_vocabulary(self):
        return None if self.source_tokenizer is None else self.source_tokenizer.vocabulary_size

    @_distributed
    def _load(self, path):
        """Loads a checkpoint or model.keras of this run (safe_mode on) and checks it fits the run."""
        num_classes = self.info.num_classes if self.info.kind == "classification" else None
        return _set_groups(load_run_model(path, self.config, self.tokenizer.vocabulary_size, num_classes))


def largest_divisor(n, at_most):
    """The largest divisor of `n` that is at most `at_most`.

    Example:
    >>> largest_divisor(200, 50), largest_divisor(2105, 50), largest_divisor(7, 50)
    (50, 5, 7)
    """
    return max(d for d in range(1, min(n, at_most) + 1) if n % d == 0)


def _set_groups(model):
    """Tells a fine-tuning optimizer (`Grouped`, see kerasllm.training.optimizers) which part each weight is in."""
    if isinstance(getattr(model, "optimizer", None), Grouped):
        model.optimizer.set_parameter_groups(parameter_groups(model))
    return model
