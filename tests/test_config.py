"""TrainConfig: unknown keys, type coercion, range checks, files."""

import json

import pytest

from kerasllm.config import TrainConfig
from kerasllm.errors import ConfigError


def test_overrides_are_typed():
    config = TrainConfig(task="mqar", arch="gru").with_overrides(
        ["hidden_dim=64", "learning_rate=3e-4", "tie_weights=false", "arch_options.num_heads=8", "steps=20"])
    assert (config.hidden_dim, config.learning_rate, config.tie_weights) == (64, 3e-4, False)
    assert config.arch_options == {"num_heads": 8} and config.steps == 20


@pytest.mark.parametrize("values, message", [
    ({"task": "mqar", "arch": "gru", "hiden_dim": 3}, "Did you mean 'hidden_dim'"),
    ({"task": "mqar", "arch": "gru", "batch_size": 0}, "batch_size must be at least 1"),
    ({"task": "mqar", "arch": "gru", "dropout": 1.5}, "dropout must be in [0, 1)"),
    ({"task": "mqar", "arch": "gru", "hidden_dim": "wide"}, "hidden_dim must be an integer"),
    ({"task": "mqar", "arch": "gru", "epochs": 2, "steps": 10}, "Give only one of epochs, steps or tokens, got epochs"),
    ({"task": "mqar", "arch": "gru", "steps": 10, "tokens": 1000}, "got steps and tokens"),
    ({"task": "mqar", "arch": "gru", "epochs": 1, "tokens": 1000}, "got epochs and tokens"),
    ({"task": "mqar", "arch": "gru", "tokens": 0}, "tokens must be at least 1, got 0"),
    ({"task": "mqar", "arch": "gru", "tokens": 2.5}, "tokens must be an integer"),
    ({"arch": "gru"}, "'task' is required"),
])
def test_bad_values_are_rejected_with_a_clear_message(values, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)").replace("(", r"\(")):
        TrainConfig.from_dict(values)


def test_config_files_json_and_yaml(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"task": "mqar", "arch": "cnn", "epochs": 2}))
    (tmp_path / "b.yaml").write_text("task: mqar\narch: cnn\nepochs: 2\n")
    assert TrainConfig.from_file(tmp_path / "a.json") == TrainConfig.from_file(tmp_path / "b.yaml")
    (tmp_path / "bad.yaml").write_text("!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrainConfig.from_file(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="Cannot read"):
        TrainConfig.from_file(tmp_path / "missing.json")


def test_a_config_json_written_before_a_setting_existed_still_matches():
    config = TrainConfig(task="mqar", arch="gru")
    saved = config.to_dict()
    del saved["shared_vocabulary"], saved["seq2seq_form"]  # an older run's file lacks the newer fields
    assert config.changes_from(saved) == []
    assert config.replace(shared_vocabulary=False).changes_from(saved) == ["shared_vocabulary"]
    assert config.changes_from({**saved, "hidden_dim": 7}) == ["hidden_dim"]
