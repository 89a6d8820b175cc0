"""One shared check that every serializable kerasllm object round-trips.

`assert_round_trips(obj, tmp_path, inputs=...)` checks:
1. `get_config()` is JSON-serializable and `from_config(get_config())` gives an equal config;
2. the object survives `keras.saving.serialize_keras_object` / `deserialize_keras_object` with
   `safe_mode=True` (so it is registered and needs no unsafe code);
3. for layers and models, given `inputs` (a dict of keyword -> numpy array): saving in the `.keras`
   format and loading with `safe_mode=True` gives identical outputs.
"""

import json

import keras
import numpy as np

# For runs of a few tiny steps: XLA's compile time would dominate them on TensorFlow, while JAX runs op by op
# (much slower) unless it compiles.
COMPILE_SHORT_RUNS = keras.backend.backend() == "jax"


def functional_wrapper(layer, inputs):
    symbolic = {
        key: keras.Input(shape=value.shape[1:], dtype=str(value.dtype), name=key)
        for key, value in inputs.items()
    }
    outputs = layer(**symbolic)
    return keras.Model(symbolic, outputs)


def assert_round_trips(obj, tmp_path, inputs=None, atol=1e-6):
    config = obj.get_config()
    json.dumps(config)  # must be plain JSON
    clone = type(obj).from_config(config)
    assert clone.get_config() == config, "from_config(get_config()) changed the config"

    serialized = keras.saving.serialize_keras_object(obj)
    restored = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    assert type(restored) is type(obj)
    assert restored.get_config() == config

    if inputs is None:
        return restored
    assert isinstance(obj, keras.layers.Layer), "inputs are only for layers and models"
    # Models (heads) take the input dict; a bare layer is wrapped in a functional model.
    model = obj if isinstance(obj, keras.Model) else functional_wrapper(obj, inputs)
    expected = keras.ops.convert_to_numpy(model(inputs))
    path = str(tmp_path / "object.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    actual = keras.ops.convert_to_numpy(loaded(inputs))
    np.testing.assert_allclose(actual, expected, atol=atol)
    return loaded
