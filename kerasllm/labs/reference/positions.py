"""The sinusoidal position encoding, written out with `keras.ops` (the teaching layer of lab 05)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasllm")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """The fixed sine/cosine position encoding of [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762).

    ```
    PE[t, 2i]     = sin(t / max_wavelength ** (2i / d))
    PE[t, 2i + 1] = cos(t / max_wavelength ** (2i / d))
    ```

    Every pair of channels is a rotation at its own frequency, from one turn per `2 pi` positions
    down to one per `2 pi max_wavelength`, so `PE[t + k]` is a fixed linear function of `PE[t]`.
    The layer returns the encoding (add it to the token embeddings yourself), exactly like
    `keras_hub.layers.SinePositionEncoding`, which it matches.

    Override point: `angles(positions, hidden_dim)` returns the `(batch or 1, T, hidden_dim)`
    angles that `sin` (even channels) and `cos` (odd channels) are taken of.

    Args:
        max_wavelength: int. The longest wavelength. Defaults to `10000`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, T, hidden_dim)` (only its shape is used).
        start_index: int. Position of the first step (for step-by-step decoding). Defaults to `0`.

    Example:
    >>> import numpy as np
    >>> from kerasllm.labs.reference import SinusoidalPositionEncoding
    >>> pe = SinusoidalPositionEncoding()(np.zeros((1, 4, 6), "float32"))
    >>> tuple(pe.shape), [round(float(v), 4) for v in pe[0, 1, :2]]   # sin(1), cos(1)
    ((1, 4, 6), [0.8415, 0.5403])

    A subclass with learned-looking, linearly spaced frequencies only overrides `angles`:
    >>> class LinearFrequencies(SinusoidalPositionEncoding):
    ...     def angles(self, positions, hidden_dim):
    ...         pair = ops.cast(ops.arange(hidden_dim) // 2, "float32")
    ...         return positions[:, :, None] * (1.0 / (1.0 + pair))[None, None, :]
    >>> tuple(LinearFrequencies()(np.zeros((1, 4, 6), "float32")).shape)
    (1, 4, 6)
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength

    def angles(self, positions, hidden_dim):
        """`positions[t] / max_wavelength ** (2 (j // 2) / hidden_dim)` for every channel j."""
        pair = ops.cast(2 * (ops.arange(hidden_dim) // 2), "float32")  # 0, 0, 2, 2, 4, 4, ...
        inverse_frequency = ops.power(float(self.max_wavelength), -pair / float(hidden_dim))  # (C,)
        return positions[:, :, None] * inverse_frequency[None, None, :]  # (1, T, C)

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        length, hidden_dim = shape[-2], inputs.shape[-1]
        positions = ops.cast(ops.arange(length) + start_index, "float32")[None, :]  # (1, T)
        angles = self.angles(positions, hidden_dim)
        odd = ops.cast(ops.arange(hidden_dim) % 2, "float32")  # 1 on cosine channels
        encoding = ops.sin(angles) * (1.0 - odd) + ops.cos(angles) * odd  # (1, T, C)
        return ops.broadcast_to(ops.cast(encoding, self.compute_dtype), shape)

    def get_config(self):
        config = super().get_config()
        config["max_wavelength"] = self.max_wavelength
        return config
