"""One Trainer for every task and architecture.

It builds the task, fits the tokenizer on the training split, encodes the splits, builds
backbone + head, compiles AdamW with warm-up + cosine decay and global gradient clipping, and fits
with TensorBoard logs and crash-safe checkpoints in a run directory. Re-running with the same run
directory resumes from the last checkpoint.

Example:
>>> import kerasllm as kl
>>> trainer = kl.Trainer({"task": "negation_sentiment", "arch": "gru", "epochs": 1,
...                       "hidden_dim": 32, "task_options": {"num_train": 256}}, run_dir="/tmp/doc-run")
>>> metrics = trainer.fit()                                        # doctest: +SKIP
>>> sorted(k for k in metrics if k.startswith("test_"))[:2]        # doctest: +SKIP
['test_accuracy', 'test_loss']
"""

import math
import time

import keras
import numpy as np

from kerasllm.config import TrainConfig
from kerasllm.data.base import get_task
from kerasllm.data.pipeline import encode_split, evaluation_dataset, training_dataset
from kerasllm.errors import ConfigError, RunDirectoryError, TrainingError
from kerasllm.models import CausalLM, TextClassifier, get_backbone
from kerasllm.models.backbone import BACKBONES
from kerasllm.tokenizers.base import TOKENIZERS, Tokenizer, get_tokenizer
from kerasllm.training.callbacks import Checkpointer, Throughput, restore_seed_states, save_model_atomic
from kerasllm.training.losses import SparseCrossEntropy
from kerasllm.training.metrics import LOWER_IS_BETTER, derived_metrics, metrics_for
from kerasllm.training.model_files import check_model_fits, load_model
from kerasllm.training.run_dir import RunDirectory, default_run_path, read_json, write_json_atomic
from kerasllm.training.schedule import WarmupCosine

DEFAULT_EPOCHS = 3
# Keras metric that tracks each headline metric during training (LM metrics are derived from CE).
MONITORED = {"accuracy": "accuracy", "token_accuracy": "token_accuracy",
             "perplexity": "cross_entropy", "bits_per_char": "cross_entropy"}


def count_parameters(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


class Trainer:
    """Trains and evaluates one (task, architecture, seed) cell.

    Args:
        config: a `TrainConfig` or a dict of its fields.
        run_dir: the run directory (default: a new timestamped folder under `runs_root`).
        runs_root: parent of default run directories. Defaults to "runs".
    """

    def __init__(self, config, run_dir=None, runs_root="runs"):
        self._open_task(config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config))
        BACKBONES.get(self.config.arch)  # fail on an unknown name before creating any directory
        TOKENIZERS.get(self.config.tokenizer or self.info.tokenizer)
        self.run = RunDirectory.check(run_dir or default_run_path(self.config, runs_root), self.config)
        # Read the data, fit the tokenizer and check the model settings before writing anything, so a
        # mistake in them leaves no half-made run directory behind.
        self.tokenizer = self._tokenizer()
        self.schedule()
        self.build_model()
        if not self.run.resuming:
            self.run.create(self.config)
        if not self.run.tokenizer_path.exists():
            self.tokenizer.save(self.run.tokenizer_path)
        self.model = None

    def _open_task(self, config):
        self.config = config
        self.task = get_task(config.task, data_dir=config.data_dir, **config.task_options)
        self.info = self.task.info
        self.max_length = config.max_length or self.info.max_length
        self._encoded = {}

    # ----------------------------------------------------------------------------- data
    def _tokenizer(self):
        if self.run.resuming and self.run.tokenizer_path.exists():
            return Tokenizer.load(self.run.tokenizer_path)
        name = self.config.tokenizer or self.info.tokenizer
        options = self.config.tokenizer_options or (self.info.tokenizer_options if not self.config.tokenizer else {})
        return get_tokenizer(name, **options).fit(self.task.train_texts())

    def encoded(self, split):
        """The split's padded arrays (cached)."""
        if split not in self._encoded:
            self._encoded[split] = encode_split(self.task, split, self.tokenizer, self.max_length)
        return self._encoded[split]

    # ---------------------------------------------------------------------------- model
    def build_model(self):
        """Backbone from the registry plus the head for the task kind."""
        c = self.config
        options = dict(c.arch_options)
        if c.position is not None:
            options["position"] = c.position
        dtype = "mixed_bfloat16" if c.mixed_precision else None
        backbone = get_backbone(
            c.arch, vocab_size=self.tokenizer.vocabulary_size, hidden_dim=c.hidden_dim,
            num_layers=c.num_layers, dropout=c.dropout, causal=self.info.kind != "classification",
            max_length=self.max_length, dtype=dtype, **options,
        )
        if self.info.kind == "classification":
            return TextClassifier(backbone, num_classes=self.info.num_classes, pooling=c.pooling, dtype=dtype)
        return CausalLM(backbone, tie_weights=c.tie_weights, dtype=dtype)

    def compile(self, model, total_steps):
        c = self.config
        schedule = WarmupCosine(c.learning_rate, total_steps, round(c.warmup_ratio * total_steps), c.min_lr_ratio)
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=c.weight_decay, global_clipnorm=c.clipnorm)
        metrics = metrics_for(self.info.kind, self.info.num_classes)
        weighted = self.info.kind != "classification"
        model.compile(
            optimizer=optimizer, loss=SparseCrossEntropy(c.label_smoothing),
            metrics=None if weighted else metrics, weighted_metrics=metrics if weighted else None,
            jit_compile="auto" if c.jit_compile else False, steps_per_execution=c.steps_per_execution,
        )

    # ---------------------------------------------------------------------------- loops
    def schedule(self):
        """(steps_per_epoch, epochs): an "epoch" is one validation period."""
        c = self.config
        if c.steps is None:
            return math.ceil(self.encoded("train").num_examples / c.batch_size), c.epochs or DEFAULT_EPOCHS
        eval_every = c.eval_every or next(c.steps // n for n in range(10, 0, -1) if c.steps % n == 0)
        if c.steps % eval_every:
            raise ConfigError(f"steps ({c.steps}) must be a multiple of eval_every ({eval_every}).")
        return eval_every, c.steps // eval_every

    def _monitor(self):
        metric = MONITORED[self.info.metric]
        return "val_" + metric, ("min" if metric == "cross_entropy" else "max")

    def fit(self, callbacks=(), verbose=2):
        """Trains (or resumes) and returns the final metrics, also written to metrics.json.

        Args:
            callbacks: extra Keras callbacks, run after the Trainer's own.
            verbose: Keras' `fit` verbosity: 2 prints one line per epoch, 0 nothing (when a
                progress display is among `callbacks`).
        """
        if self.run.finished:
            raise RunDirectoryError(f"The run in {self.run.path} is finished. Choose a new --out.")
        c = self.config
        keras.utils.set_random_seed(c.seed)
        train = self.encoded("train")
        steps_per_epoch, epochs = self.schedule()
        state = read_json(self.run.state_path) if self.run.resuming and self.run.state_path.exists() else None
        initial_epoch = state["epoch"] if state else 0
        if state:
            self.model = self._load(self.run.checkpoint_dir / state["last_checkpoint"])
            restore_seed_states(self.model, state.get("seed_states"))
        else:
            self.model = self.build_model()
            self.compile(self.model, steps_per_epoch * epochs)
        self.model({"token_ids": train.token_ids[:2], "padding_mask": train.padding_mask[:2]})  # builds it
        self.run.write_manifest(c, {"parameters": count_parameters(self.model)})

        dataset = training_dataset(train, c.batch_size, c.seed, skip_batches=initial_epoch * steps_per_epoch)
        tokens_per_step = train.num_input_tokens / train.num_examples * c.batch_size
        throughput = Throughput(tokens_per_step)
        monitor, mode = self._monitor()
        checkpointer = Checkpointer(self.run, monitor, mode, state, throughput)
        callbacks = [
            throughput,
            keras.callbacks.TerminateOnNaN(),
            checkpointer,
            keras.callbacks.TensorBoard(log_dir=str(self.run.path), write_graph=False),
            *callbacks,
        ]
        if c.early_stopping_patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor, patience=c.early_stopping_patience, mode=mode))
        if initial_epoch < epochs:
            history = self.model.fit(
                dataset, steps_per_epoch=steps_per_epoch, epochs=epochs, initial_epoch=initial_epoch,
                validation_data=evaluation_dataset(self.encoded("validation"), c.batch_size),
                callbacks=callbacks, verbose=verbose, shuffle=False,
            )
            losses = history.history.get("loss", [])
            if any(math.isnan(v) or math.isinf(v) for v in losses):
                raise TrainingError(
                    f"The training loss became NaN/inf at epoch {len(losses) + initial_epoch}. "
                    "Lower learning_rate or clipnorm (or check the data); the last good checkpoint is kept."
                )
        final_state = read_json(self.run.state_path)
        self.model = self._load(self.run.checkpoint_dir / final_state["best_checkpoint"])
        save_model_atomic(self.model, self.run.model_path)
        metrics = {}
        for split in ("validation", "test"):
            for name, value in self.evaluate(split).items():
                metrics[f"{split}_{name}"] = value
        metrics.update({
            "task": c.task, "arch": c.arch, "seed": c.seed, "headline_metric": self.info.metric,
            "parameters": count_parameters(self.model), "epochs": final_state["epoch"],
            "steps": final_state["epoch"] * steps_per_epoch, "best_epoch": final_state["best_epoch"],
            "train_seconds": final_state["train_seconds"],
            "train_tokens_per_second": tokens_per_step * steps_per_epoch * final_state["epoch"]
            / max(final_state["train_seconds"], 1e-9),
        })
        write_json_atomic(self.run.metrics_path, metrics)
        return metrics

    def evaluate(self, split="test"):
        """Metrics of the current model on `split`, token-weighted for LM tasks."""
        if self.model is None:
            raise TrainingError("No model yet: call fit() first, or use Trainer.from_run_dir(path).")
        encoded = self.encoded(split)
        data = evaluation_dataset(encoded, self.config.batch_size)
        start = time.perf_counter()
        values = self.model.evaluate(data, verbose=0, return_dict=True)
        seconds = time.perf_counter() - start
        tokens_per_character = (
            encoded.num_target_tokens / encoded.num_characters if self.info.kind == "lm" else None
        )
        values = derived_metrics(self.info.kind, values, tokens_per_character)
        values["seconds"] = seconds
        return values

    @classmethod
    def from_run_dir(cls, path, data_dir=None, trust_code=False):
        """Reopens a finished run to evaluate its saved model (optionally reading data elsewhere).

        A run whose config names a user's code (`--cell my_cell.py:MyCell`) is refused unless
        `trust_code=True`: a run folder from someone else never runs code on its own.
        """
        run = RunDirectory(path)
        if not run.config_path.exists() or not run.model_path.exists():
            raise RunDirectoryError(
                f"{path} is not a finished kerasllm run (config.json or model.keras missing)."
            )
        config = run.saved_config(trust_code)
        self = cls.__new__(cls)
        self._open_task(config if data_dir is None else config.replace(data_dir=str(data_dir)))
        self.run = run
        self.tokenizer = Tokenizer.load(run.tokenizer_path)
        self.model = self._load(run.model_path)
        return self

    def _load(self, path):
        """Loads a checkpoint or model.keras of this run (safe_mode on) and checks it fits the run."""
        model = load_model(path)
        num_classes = self.info.num_classes if self.info.kind == "classification" else None
        check_model_fits(model, path, self.config.arch, self.tokenizer.vocabulary_size, num_classes)
        return model
