"""The labs' reference solutions: layers written out with `keras.ops`, to read and compare against.

One layer per file, each the solution of a lab in docs/labs/:
- `cells.py`: `SimpleRNNCell`, `LSTMCell`, `GRUCell` (labs 01-03), with the weights of Keras' cells;
- `scaled_dot_product_attention.py`: `ScaledDotProductAttention` (lab 04);
- `positions.py`: `SinusoidalPositionEncoding` (lab 05);
- `causal_conv.py`: `CausalConvBlock` (lab 06);
- `perplexity.py`: `TokenPerplexity` (lab 10), a Keras metric rather than a layer.

The backbones never run these: `rnn` / `gru` / `lstm` run Keras' own layers, `transformer` runs
`kerasllm.layers.MultiHeadSelfAttention` and `cnn` runs `kerasllm.layers.ResidualConvBlock`. Like a
student's class, a reference layer goes into a backbone as `cell=`, `attention=` or `block=`
(`get_backbone("rnn", ..., cell=GRUCell)`). They stay registered for Keras serialization as
`kerasllm>SimpleRNNCell` and so on, so a model saved with one loads once this package is imported.

Example (the reference LSTM cell computes exactly what `keras.layers.LSTM` does with the same weights):
>>> import keras, numpy as np
>>> from kerasllm.labs.reference import LSTMCell
>>> ours, theirs = keras.layers.RNN(LSTMCell(4)), keras.layers.LSTM(4)
>>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
>>> _ = ours(x), theirs(x)
>>> theirs.set_weights(ours.get_weights())
>>> bool(np.allclose(ours(x), theirs(x), atol=1e-5))
True
"""

from kerasllm.labs.reference.causal_conv import CausalConvBlock
from kerasllm.labs.reference.cells import GRUCell, LSTMCell, SimpleRNNCell
from kerasllm.labs.reference.perplexity import TokenPerplexity
from kerasllm.labs.reference.positions import SinusoidalPositionEncoding
from kerasllm.labs.reference.scaled_dot_product_attention import ScaledDotProductAttention

__all__ = [
    "CausalConvBlock",
    "GRUCell",
    "LSTMCell",
    "ScaledDotProductAttention",
    "SimpleRNNCell",
    "SinusoidalPositionEncoding",
    "TokenPerplexity",
]
