"""Matched sizes: choose each architecture's width so that it has a given number of parameters.

Depth (`num_layers`) stays as the suite sets it; the sizer searches `hidden_dim` by bisection
(each step first tries where the count interpolates to the target, then halves the bracket),
building the full model (backbone from the registry + the task's head, on the task's fitted
tokenizer) and counting its trainable parameters, and keeps the width whose count is closest to the
target. Widths the backbone rejects (for the Transformer, widths not divisible by `num_heads`) are
skipped. If the nearest allowed widths still miss the tolerance (at small budgets the Transformer's
width moves in steps of `num_heads`, i.e. several percent), a backbone that accepts
`intermediate_dim` (feed-forward width) gets it tuned by a second bisection at the width just
below the target; a user-set `arch_options.intermediate_dim` is never changed.

Example:
>>> from kerasllm.config import TrainConfig
>>> sizer = Sizer()
>>> config = TrainConfig(task="negation_sentiment", arch="gru", num_layers=2)
>>> result = sizer.size(config, 50_000)
>>> abs(result.parameters - 50_000) / 50_000 <= 0.05
True
"""

import dataclasses
import inspect

from kerasllm.data.base import get_task
from kerasllm.data.objectives import objective_task
from kerasllm.errors import ConfigError
from kerasllm.models.build import build_model, count_parameters
from kerasllm.models.plugins import resolve_arch
from kerasllm.training.trainer import fit_tokenizers

TOLERANCE = 0.05
# Widths tried first when bracketing the target (then doubled or halved).
START_WIDTH = 32
MAX_WIDTH = 1 << 16
# Backbone arguments that set a secondary width, tuned when the main width is too coarse.
SECONDARY_WIDTHS = ("intermediate_dim",)


@dataclasses.dataclass(frozen=True)
class SizingResult:
    """The chosen width (and arch_options) and the exact parameter count it gives."""

    arch: str
    target: int
    hidden_dim: int
    arch_options: dict
    parameters: int
    probes: int

    @property
    def relative_error(self):
        return (self.parameters - self.target) / self.target

    def apply(self, config):
        """The config with the chosen width."""
        return config.replace(hidden_dim=self.hidden_dim, arch_options=dict(self.arch_options))

    def to_dict(self):
        return {**dataclasses.asdict(self), "relative_error": self.relative_error}


def _sizing_key(config):
    """What the tokenizer (hence vocabulary size) and head depend on."""
    return (config.task, repr(sorted(config.task_options.items())), config.data_dir, config.tokenizer,
            repr(sorted(config.tokenizer_options.items())), config.max_length, config.seq2seq_form,
            config.shared_vocabulary, config.objective)


class Sizer:
    """Sizes architectures to a parameter budget; reuses one task and fitted tokenizer per task setting.

    Args:
        tolerance: accepted relative error (default 0.05, i.e. +-5%).
    """

    def __init__(self, tolerance=TOLERANCE):
        self.tolerance = tolerance
        self._tasks = {}

    def _task_and_vocabulary(self, config):
        """The task's info, the fitted tokenizer's vocabulary size and the source tokenizer's (None unless the run
        keeps separate vocabularies) for `config` (cached per task setting)."""
        key = _sizing_key(config)
        if key not in self._tasks:
            task = objective_task(get_task(config.task, data_dir=config.data_dir, **config.task_options),
                                  config.objective)
            tokenizer, source = fit_tokenizers(config, task)
            self._tasks[key] = (task.info, tokenizer.vocabulary_size, source and source.vocabulary_size)
        return self._tasks[key]

    def count(self, config):
        """Trainable parameters of the model `config` describes, or None if the backbone rejects it."""
        info, vocabulary_size, source_vocabulary_size = self._task_and_vocabulary(config)
        try:
            model = build_model(config, info, vocabulary_size, source_vocabulary_size)
        except ConfigError:
            return None
        return count_parameters(model)

    def size(self, config, target):
        """Returns the `SizingResult` closest to `target` parameters, within the tolerance.

        Raises:
            ConfigError: no width gets within the tolerance (e.g. the embedding alone is too big).
        """
        if isinstance(target, bool) or not isinstance(target, int) or target < 1:
            raise ConfigError(f"The parameter budget must be a positive integer, got {target!r}.")
        counts = {}

        def count(**changes):
            key = tuple(sorted(changes.items()))
            if key not in counts:
                options = {**config.arch_options, **{k: v for k, v in changes.items() if k != "hidden_dim"}}
                counts[key] = self.count(config.replace(hidden_dim=changes["hidden_dim"], arch_options=options))
            return counts[key]

        below, above = _bisect(lambda h: count(hidden_dim=h), target, START_WIDTH, config.arch)
        best = _closest(target, [(h, {}) for h in (below, above) if h is not None],
                        lambda h, extra: count(hidden_dim=h, **extra))
        if abs(best[2] - target) > self.tolerance * target and below is not None:
            accepted = inspect.signature(resolve_arch(config.arch, config.arch_options)[0].__init__).parameters
            for knob in SECONDARY_WIDTHS:
                if knob not in accepted or knob in config.arch_options:
                    continue
                low, high = _bisect(lambda v: count(hidden_dim=below, **{knob: v}), target, 4 * below,
                                    config.arch, what=knob)
                candidates = [(below, {knob: v}) for v in (low, high) if v is not None]
                best = _closest(target, [(best[0], best[1]), *candidates],
                                lambda h, extra: count(hidden_dim=h, **extra))
        hidden_dim, extra, parameters = best
        if abs(parameters - target) > self.tolerance * target:
            raise ConfigError(
                f"Cannot size '{config.arch}' to {target:,} parameters within +-{self.tolerance:.0%} by width: "
                f"the nearest widths give {_describe(below, counts)} and {_describe(above, counts)}. "
                "Change --params (or the suite's num_layers / vocabulary size)."
            )
        return SizingResult(config.arch, target, hidden_dim, {**config.arch_options, **extra}, parameters,
                            probes=sum(v is not None for v in counts.values()))


def _describe(width, counts):
    if width is None:
        return "nothing (no allowed width on that side)"
    return f"{counts[(('hidden_dim', width),)]:,} (hidden_dim={width})"


def _closest(target, candidates, count):
    scored = [(h, extra, count(h, extra)) for h, extra in candidates]
    return min(scored, key=lambda item: (abs(item[2] - target), item[0]))


def _valid_between(count, start, stop, step):
    """First value in range(start, stop, step) the backbone accepts, or None."""
    for value in range(start, stop, step):
        if count(value) is not None:
            return value
    return None


def _bisect(count, target, start, arch, what="hidden_dim"):
    """Bisection over integer values of a width whose parameter count grows with it.

    Returns (below, above): `below` is the largest allowed value counting fewer than
    `target` parameters and `above` the smallest allowed value counting at least `target` (either
    may be None when no allowed value lies on that side).
    """
    low, high = None, _valid_between(count, start, MAX_WIDTH, 1)
    if high is None:
        raise ConfigError(f"No {what} between {start} and {MAX_WIDTH} is accepted by '{arch}'.")
    while count(high) < target:  # bracket from above by doubling
        low = high
        if high * 2 > MAX_WIDTH:
            raise ConfigError(f"'{arch}' needs a {what} above {MAX_WIDTH} to reach {target:,} parameters.")
        high = _valid_between(count, high * 2, MAX_WIDTH, 1)
        if high is None:
            raise ConfigError(f"No {what} above {low} is accepted by '{arch}'.")
    if low is None:  # bracket from below by halving
        probe = high
        while probe > 1:
            probe = _valid_between(count, max(1, probe // 2), probe, 1)
            if probe is None:
                break
            if count(probe) < target:
                low = probe
                break
            high = probe
    interpolate = True
    while low is not None and high - low > 1:
        if interpolate:  # where the line through (low, count) and (high, count) crosses the target
            c_low, c_high = count(low), count(high)
            guess = low + (target - c_low) * (high - low) / max(c_high - c_low, 1)
            middle = min(max(round(guess), low + 1), high - 1)
        else:
            middle = (low + high) // 2
        value = _valid_between(count, middle, high, 1) or _valid_between(count, middle - 1, low, -1)
        if value is None:  # no allowed value strictly between low and high
            break
        width = high - low
        if count(value) < target:
            low, neighbour = value, _valid_between(count, value + 1, high, 1)
        else:
            high, neighbour = value, _valid_between(count, value - 1, low, -1)
        if interpolate and neighbour is not None:  # an interpolated guess usually lands next to the crossing
            if count(neighbour) < target:
                low = neighbour
            else:
                high = neighbour
        # Interpolate while it at least halves the bracket (it homes in on a smooth count in a few
        # steps); fall back to plain bisection otherwise, so the search always ends.
        interpolate = interpolate and high - low <= width / 2
    return low, high
