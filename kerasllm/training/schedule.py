"""Learning-rate schedule: linear warm-up, then cosine decay to a floor.

The formula is a pure function (`warmup_cosine`), unit-tested on its own; `WarmupCosine` wraps it as
a serializable Keras schedule.

Example:
>>> round(warmup_cosine(0, peak=1e-3, total_steps=100, warmup_steps=10), 6)
0.0001
>>> warmup_cosine(10, peak=1e-3, total_steps=100, warmup_steps=10)
0.001
>>> round(warmup_cosine(100, peak=1e-3, total_steps=100, warmup_steps=10, min_ratio=0.1), 6)
0.0001
"""

import math

import keras
from keras import ops


def warmup_cosine(step, peak, total_steps, warmup_steps, min_ratio=0.0):
    """Learning rate at optimizer step `step` (0-based).

    Rises linearly from peak / warmup_steps at step 0 to `peak` at `warmup_steps`, then follows a
    half cosine down to `peak * min_ratio` at `total_steps`, and stays there.
    """
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    floor = peak * min_ratio
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


@keras.saving.register_keras_serializable(package="kerasllm")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """`warmup_cosine` as a Keras schedule (the same formula in `keras.ops`).

    Args:
        peak: learning rate after warm-up.
        total_steps: step at which the decay reaches its floor.
        warmup_steps: length of the linear warm-up.
        min_ratio: floor as a fraction of `peak`. Defaults to 0.0.

    Example:
    >>> schedule = WarmupCosine(1e-3, total_steps=100, warmup_steps=10)
    >>> optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    """

    def __init__(self, peak, total_steps, warmup_steps, min_ratio=0.0):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_ratio = float(min_ratio)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(1, self.warmup_steps)
        progress = ops.clip((step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps), 0.0, 1.0)
        floor = self.peak * self.min_ratio
        decayed = floor + (self.peak - floor) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_ratio": self.min_ratio,
        }
