"""Safe loading: model files never run code, tokenizers are JSON, YAML goes through safe_load.

The malicious `.keras` files are built here: one with a Lambda layer (Python bytecode in the file), one
whose config names an unknown class in a module that would leave a marker file if it were ever imported,
and one that calls a non-modelling Keras function (`keras.utils.get_file`). Every kerasllm loading path
(`kerasllm evaluate`, `open_run`, resuming from a checkpoint, `model_files.load_model`) must
refuse them with a one-line `ModelFileError` and run nothing.
"""

import json
import pathlib
import pickle
import re
import shutil
import sys
import zipfile

import keras
import keras_hub
import pytest

import kerasllm
from kerasllm.cli import main
from kerasllm.config import TrainConfig
from kerasllm.errors import ConfigError, DataError, KerasLLMError
from kerasllm.tokenizers import Tokenizer, get_tokenizer, list_tokenizers
from kerasllm.training import Trainer, open_run
from kerasllm.training.model_files import ModelFileError, load_model

PACKAGE = pathlib.Path(kerasllm.__file__).resolve().parent
RUN_CONFIG = {"task": "negation_sentiment", "arch": "gru", "epochs": 1, "hidden_dim": 8, "num_layers": 1,
              "batch_size": 16, "task_options": {"num_train": 64, "num_validation": 32, "num_test": 32}}
PROBE = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")
class EvilLayer:
    pass
"""


def plain_model_file(path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="relu", name="dense")])
    model.save(path)
    return path


def rewrite_config(source, target, edit):
    """Copies the .keras archive `source` to `target` with its config.json passed through `edit`."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "config.json":
                data = json.dumps(edit(json.loads(data))).encode()
            new.writestr(item, data)
    return target


def dense_layer(config):
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")


@pytest.fixture
def marker(tmp_path, monkeypatch):
    """A module `evil_probe` on sys.path that writes `marker` if anything imports it."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "evil_probe.py").write_text(PROBE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop("evil_probe", None)


def lambda_file(tmp_path):
    path = tmp_path / "lambda.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)]).save(path)
    with zipfile.ZipFile(path) as archive:  # the bytecode really is in the file
        assert "__lambda__" in archive.read("config.json").decode()
    return path


def unknown_class_file(tmp_path):
    def edit(config):
        layer = dense_layer(config)
        layer.update(module="evil_probe", class_name="EvilLayer", registered_name="evil_probe>EvilLayer")
        return config

    return rewrite_config(plain_model_file(tmp_path / "plain.keras"), tmp_path / "unknown.keras", edit)


def non_modelling_function_file(tmp_path):
    def edit(config):
        dense_layer(config)["config"]["activation"] = {
            "module": "keras.utils", "class_name": "function", "config": "get_file", "registered_name": "get_file"}
        return config

    return rewrite_config(plain_model_file(tmp_path / "plain.keras"), tmp_path / "get_file.keras", edit)


MALICIOUS = {
    "lambda-layer": (lambda_file, "holds a Lambda layer or Python function"),
    "unknown-custom-object": (unknown_class_file, "needs the unknown class or function 'EvilLayer'"),
    "non-modelling-keras-function": (non_modelling_function_file, "calls a Keras function that is not modelling code"),
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("safe") / "run"
    Trainer(RUN_CONFIG, run_dir=out).fit()
    return out


def test_the_crafted_files_are_otherwise_loadable(tmp_path, marker):
    """Without safe mode Keras would run the Lambda: the refusals below are safe mode's doing."""
    model = keras.saving.load_model(lambda_file(tmp_path), safe_mode=False)
    assert keras.ops.convert_to_numpy(model(keras.ops.ones((1, 4)))).tolist() == [[2.0] * 4]


@pytest.mark.parametrize("kind", MALICIOUS)
def test_load_model_refuses_malicious_files(kind, tmp_path, marker):
    build, reason = MALICIOUS[kind]
    path = build(tmp_path)
    with pytest.raises(ModelFileError) as raised:
        load_model(path)
    message = str(raised.value)
    assert reason in message and "safe_mode on" in message and "Only load .keras files written by kerasllm" in message
    assert "\n" not in message
    assert not marker.exists(), "the module named in the file was imported"


@pytest.mark.parametrize("kind", MALICIOUS)
def test_evaluate_and_open_run_refuse_a_malicious_model(kind, tmp_path, marker, finished_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    shutil.copy(MALICIOUS[kind][0](tmp_path), run / "model.keras")
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "kerasllm evaluate: error: Refusing to load" in err and MALICIOUS[kind][1] in err
    with pytest.raises(ModelFileError, match="Refusing to load"):
        open_run(run)
    assert not marker.exists()


def test_resume_refuses_a_malicious_checkpoint(tmp_path, marker, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "metrics.json").unlink()
    (run / "model.keras").unlink()
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    shutil.copy(unknown_class_file(tmp_path), run / "checkpoints" / state["last_checkpoint"])
    with pytest.raises(ModelFileError, match="unknown class or function 'EvilLayer'"):
        Trainer(RUN_CONFIG, run_dir=run).fit()
    assert not marker.exists()
    assert not (run / "metrics.json").exists()


def test_every_model_load_in_the_package_goes_through_the_safe_loader():
    """The package calls keras.saving.load_model in one place (model_files.py), always with safe_mode=True,
    and never turns safe mode off."""
    calls = {}
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "safe_mode=False" not in text and "enable_unsafe_deserialization" not in text, path
        found = re.findall(r"(?:saving|models)\.load_model\((.*)\)", text)
        if found:
            calls[path.relative_to(PACKAGE).as_posix()] = found
    assert calls == {"training/model_files.py": ["path, safe_mode=True"]}


# ------------------------------------------------------------------------------- tokenizers and YAML
def test_no_pickle_or_unsafe_deserialization_in_the_package():
    banned = re.compile(r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib|shelve|marshal)\b|pickle\.|"
                        r"allow_pickle\s*=\s*True|yaml\.(load|unsafe_load|full_load)\(|yaml\.(Unsafe)?Loader|"
                        r"\beval\(|torch\.load\(", re.MULTILINE)
    offenders = {path.relative_to(PACKAGE).as_posix(): banned.findall(path.read_text(encoding="utf-8"))
                 for path in PACKAGE.rglob("*.py")}
    assert {path: hits for path, hits in offenders.items() if hits} == {}
    yaml_calls = {m for path in PACKAGE.rglob("*.py") for m in re.findall(r"yaml\.(\w+)\(", path.read_text())}
    assert yaml_calls <= {"safe_load", "safe_dump"}


@pytest.mark.parametrize("name", list_tokenizers())
def test_tokenizers_save_as_plain_json(name, tmp_path):
    options = {"wordpiece": {"vocabulary_size": 60}, "bpe": {"vocabulary_size": 270}}.get(name, {})
    if name == "hub":  # a keras-hub tokenizer (a preset's, offline here)
        options = {"layer": keras_hub.models.BertTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat"])}
    tokenizer = get_tokenizer(name, **options).fit(["the cat sat on the mat", "a dog sat on a log"] * 5)
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert set(payload) == {"name", "config"} and payload["name"] == name
    assert Tokenizer.load(path).encode("the cat") == tokenizer.encode("the cat")


class _Boom:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickling this would create the marker file
        return (pathlib.Path.write_text, (pathlib.Path(self.marker), "unpickled"))


def test_a_pickled_tokenizer_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled.txt"
    path = tmp_path / "tokenizer.json"
    path.write_bytes(pickle.dumps(_Boom(str(marker))))
    with pytest.raises(DataError, match="is not a valid kerasllm tokenizer"):
        Tokenizer.load(path)
    assert not marker.exists()


YAML_WITH_CODE = "!!python/object/apply:os.system ['touch {marker}']\n"


def test_yaml_config_goes_through_safe_load(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "config.yaml"
    path.write_text(YAML_WITH_CODE.format(marker=marker))
    with pytest.raises(ConfigError, match="could not determine a constructor"):
        TrainConfig.from_file(path)
    path.write_text(f"task: mqar\narch: gru\nhidden_dim: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError):
        TrainConfig.from_file(path)
    assert not marker.exists()


def test_yaml_suite_goes_through_safe_load(tmp_path):
    from kerasllm.bench import load_suite

    marker = tmp_path / "pwned"
    path = tmp_path / "suite.yaml"
    path.write_text(YAML_WITH_CODE.format(marker=marker))
    with pytest.raises(KerasLLMError):
        load_suite(str(path))
    assert not marker.exists()


def test_a_run_config_naming_code_is_refused_without_trust_code(tmp_path, capsys):
    """A run folder from someone else: its config.json names a .py file that would run when imported."""
    import json

    from kerasllm.cli import main
    from kerasllm.config import TrainConfig
    from kerasllm.data import get_task
    from kerasllm.generation import load_language_model
    from kerasllm.models import build_model
    from kerasllm.training import open_run

    marker = tmp_path / "imported"
    payload = tmp_path / "payload.py"
    payload.write_text(f"open({str(marker)!r}, 'w').write('ran')\nclass Cell:\n    pass\n")
    run = tmp_path / "run"
    run.mkdir()
    config = {"task": "negation_sentiment", "arch": "rnn", "arch_options": {"cell": f"{payload}:Cell"}}
    (run / "config.json").write_text(json.dumps(config))
    for name in ("model.keras", "tokenizer.json"):
        (run / name).write_text("{}")
    for argv in (["evaluate", str(run)], ["generate", str(run), "--prompt", "a"],
                 ["score", str(run), str(payload)], ["train", "--config", str(run / "config.json")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "names code that would be imported and run" in err and "--trust-code" in err, err
        assert len(err.strip().splitlines()) == 1
    for call in (lambda: open_run(run), lambda: load_language_model(run),
                 lambda: TrainConfig.from_file(run / "config.json")):
        with pytest.raises(ConfigError, match="trust_code=True"):
            call()
    assert not marker.exists(), "code named in a run's config ran without --trust-code"
    trusted = TrainConfig.from_file(run / "config.json", trust_code=True)  # vouched for: read, still plain data
    assert not marker.exists(), "reading a config must import nothing"
    with pytest.raises(ConfigError):  # the payload's Cell is no layer, but building the model imports the file
        build_model(trusted, get_task("negation_sentiment").info, 50)
    assert marker.exists()
