"""What TensorBoard itself serves for a bench folder, through its own HTTP data API.

tests/test_bench.py reads the event files with `EventAccumulator`; this file asks TensorBoard: the WSGI app
that `tensorboard --logdir OUT/<task> --load_fast=false` serves (every default plugin, the Python
multiplexer), called in-process with werkzeug's test client, no port and no browser. The routes are the
ones the dashboards fetch: `/data/runs` (the run selector), `/data/plugin/scalars/tags` (the charts),
`/data/plugin/hparams/experiment` and `/data/plugin/hparams/session_groups` (the HParams table; POSTed JSON,
as its frontend sends). benchmarks/tensorboard_screenshots.py loads the same dashboards in headless
Chromium.
"""

import json
import math

import pytest

from kerasllm.bench import Cell, Suite, run_bench
from kerasllm.bench.hparams import HPARAM_NAMES
from kerasllm.training.summaries import WRITERS, HParam, Metric, summary_writer

ARCHS = ("gru", "cnn")
SIZES = {"num_train": 64, "num_validation": 32, "num_test": 32}
CELLS = {  # task folder -> the task kind's own final metric (the other task must not have it)
    "negation_sentiment": "final/test_macro_f1",
    "mqar@pairs4": "final/test_token_accuracy",
}
STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def tiny_bench(out):
    """gru and cnn on two tiny tasks, one seed, 4 steps each."""
    suite = Suite(name="tiny", archs=ARCHS,
                  settings={"hidden_dim": 8, "num_layers": 1, "batch_size": 16, "steps": 4, "eval_every": 2, "jit_compile": False},
                  cells=[Cell("negation_sentiment", task_options=SIZES),
                         Cell("mqar", name="mqar@pairs4", task_options={**SIZES, "num_pairs": 4, "num_queries": 2})])
    result = run_bench(suite, out, log=lambda line: None)
    assert all(outcome.status == "ok" for outcome in result.outcomes), result.outcomes
    return out


def tensorboard_client(logdir):
    """A werkzeug test client on the app `tensorboard --logdir LOGDIR --load_fast=false` serves, loaded once."""
    from tensorboard import default, program
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_ingester
    from werkzeug.test import Client

    server = program.TensorBoard(plugins=default.get_plugins())
    server.configure(logdir=str(logdir), load_fast="false", reload_task="blocking", reload_interval=0)
    ingester = data_ingester.LocalDataIngester(server.flags)
    ingester.start()  # blocking: the whole folder is read before the first request
    app = application.TensorBoardWSGIApp(server.flags, server.plugin_loaders, ingester.data_provider,
                                         server.assets_zip_provider, ingester.deprecated_multiplexer)
    return Client(app)


def get_json(client, route):
    response = client.get(route)
    assert response.status_code == 200, (route, response.get_data(as_text=True))
    return response.get_json()


def post_json(client, route, request):
    response = client.post(route, data=json.dumps(request), content_type="application/json")
    assert response.status_code == 200, (route, response.get_data(as_text=True))
    return response.get_json()


def test_tensorboard_serves_two_runs_per_cell_and_one_experiment_with_the_headline_filled(tmp_path):
    bench_dir = tiny_bench(tmp_path / "bench")  # one bench for both tasks (a fixture would run per xdist worker)
    for task in CELLS:
        assert_served(bench_dir, task)


def assert_served(bench_dir, task):
    """What `tensorboard --logdir bench_dir/task` serves: the run selector, the charts, the HParams table."""
    client = tensorboard_client(bench_dir / task)

    # The run selector: exactly <arch>/seed0/{train,validation} per architecture, plus "." (the experiment).
    runs = get_json(client, "/data/runs")
    assert sorted(runs) == sorted([".", *(f"{arch}/seed0/{split}" for arch in ARCHS
                                          for split in ("train", "validation"))])
    scalar_tags = get_json(client, "/data/plugin/scalars/tags")
    for arch in ARCHS:  # train and validation both chart `loss`, so they share a card
        assert "loss" in scalar_tags[f"{arch}/seed0/train"] and "loss" in scalar_tags[f"{arch}/seed0/validation"]
        assert "final/validation_headline" in scalar_tags[f"{arch}/seed0/validation"]

    # One experiment for the folder: the headline columns first, then this task kind's metrics only.
    experiment = post_json(client, "/data/plugin/hparams/experiment", {"experimentName": ""})
    columns = [info["name"]["tag"] for info in experiment["metricInfos"]]
    assert columns[:2] == ["final/validation_headline", "final/test_headline"]
    assert columns[-1] == "final/still_improving"
    assert CELLS[task] in columns
    assert not [other for name, other in CELLS.items() if name != task and other in columns]
    hparams = [info["name"] for info in experiment["hparamInfos"]]
    assert hparams == sorted(HPARAM_NAMES)  # TensorBoard lists an experiment's hparams by name
    assert len(list((bench_dir / task).glob("*.experiment"))) == 1  # written once per task folder

    # The HParams table: one row per architecture, named <arch>/seed0, its session the validation run.
    groups = post_json(client, "/data/plugin/hparams/session_groups", {
        "experimentName": "", "allowedStatuses": STATUSES, "colParams": [], "startIndex": 0, "sliceSize": 100})
    assert groups["totalSize"] == len(ARCHS)
    by_name = {group["name"]: group for group in groups["sessionGroups"]}
    assert sorted(by_name) == sorted(f"{arch}/seed0" for arch in ARCHS)
    for arch in ARCHS:
        group = by_name[f"{arch}/seed0"]
        assert [session["name"] for session in group["sessions"]] == [f"{arch}/seed0/validation"]
        assert group["hparams"]["arch"] == arch and group["hparams"]["task"] == task
        values = {value["name"]["tag"]: value["value"] for value in group["metricValues"]}
        metrics = json.loads((bench_dir / task / arch / "seed0" / "metrics.json").read_text())
        headline = metrics["headline_metric"]
        for split in ("validation", "test"):  # the headline column is filled for every session
            assert math.isfinite(values[f"final/{split}_headline"])
            assert values[f"final/{split}_headline"] == pytest.approx(metrics[f"{split}_{headline}"], rel=1e-6)


# ------------------------------------------------------------------ the writer without TensorFlow
def write_every_kind_of_summary(logdir, kind):
    """What kerasllm writes: scalars, one text and a list of texts, an HParams session and an experiment."""
    with summary_writer(logdir, filename_suffix=".every", kind=kind) as writer:
        writer.scalar("loss", 0.25, step=3)
        writer.scalar("final/validation_headline", 1.5, step=7)
        writer.text("config", "| setting | value |\n|---|---|\n| arch | gru |", step=7)
        writer.text("outputs/greedy", ["**source:** a \u00e9", "**output:** b"], step=3)
        writer.hparams({"arch": "gru", "seed": 0, "learning_rate": 0.003, "tied": True}, trial_id="gru/seed0")
        writer.hparams_config([HParam(name) for name in ("arch", "seed")],
                              [Metric("final/validation_headline", display_name="validation_headline")])


def read_summaries(logdir):
    """{tag: [(step, dtype, shape, values, plugin, plugin content, data class)]}, as TensorBoard reads the folder;
    the HParams summaries' clock fields are zeroed (they hold the time of writing)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    events = EventAccumulator(str(logdir), size_guidance={"tensors": 0}).Reload()
    read = {}
    for tag in events.Tags()["tensors"]:
        metadata = events.SummaryMetadata(tag)
        content = metadata.plugin_data.content
        if metadata.plugin_data.plugin_name == "hparams":
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            part = getattr(data, data.WhichOneof("data"))
            for clock in ("start_time_secs", "time_created_secs"):
                if hasattr(part, clock):
                    setattr(part, clock, 0)
            content = data.SerializeToString(deterministic=True)
        read[tag] = [(event.step, event.tensor_proto.dtype, str(event.tensor_proto.tensor_shape),
                      tensor_util.make_ndarray(event.tensor_proto).tolist(), metadata.plugin_data.plugin_name,
                      content, metadata.data_class) for event in events.Tensors(tag)]
    return read


def test_the_writer_without_tensorflow_reads_back_as_tf_summary_does(tmp_path):
    assert sorted(WRITERS.names()) == ["tensorboard", "tensorflow"]
    for kind in WRITERS.names():
        write_every_kind_of_summary(tmp_path / kind, kind)
    with_tf, without_tf = read_summaries(tmp_path / "tensorflow"), read_summaries(tmp_path / "tensorboard")
    assert sorted(with_tf) == ["_hparams_/experiment", "_hparams_/session_start_info", "config",
                               "final/validation_headline", "loss", "outputs/greedy"]
    assert without_tf == with_tf
    assert [(step, values) for step, _, _, values, *_ in with_tf["loss"]] == [(3, 0.25)]
    assert with_tf["outputs/greedy"][0][3] == ["**source:** a \u00e9".encode(), b"**output:** b"]
    [path] = (tmp_path / "tensorboard").iterdir()
    assert path.name.startswith("events.out.tfevents.") and path.name.endswith(".every")
