"""Screenshots of TensorBoard's Time Series, Scalars and HParams dashboards for one task of a bench, in Chromium.

Starts the TensorBoard server (`python -m tensorboard.main --logdir OUT/<task>`, on localhost and a free
port) as a subprocess, waits until it answers, prints what its data API serves (the runs of `/data/runs`,
the experiment's columns and one line per HParams session with its headline value), loads each dashboard
in headless Chromium, waits until it has drawn the data, saves a PNG and stops the server.
tests/test_tensorboard_data_api.py checks the same facts in CI without a browser; this is the check in a
real one.

    python benchmarks/tensorboard_screenshots.py --shots shots/             # a tiny bench of its own, ~3 min
    python benchmarks/tensorboard_screenshots.py --bench-dir runs/quick --task selective_copy@len16 \
        --dashboards timeseries,hparams --shots docs/images                  # the PNGs of docs/benchmarks.md

Needs Chromium (Debian: `apt-get install chromium`; it runs with `--no-sandbox`, which root needs). The
browser is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages ending in
a NUL byte, commands on fd 3, replies on fd 4), so each shot is taken once the page shows its data rather
than after a fixed delay: with `chromium --headless=new --screenshot --virtual-time-budget=15000` (or 60000)
the Time Series cards came out empty or without lines in five tries of five (and with `--timeout=20000`,
before the app had drawn anything), while the Scalars and HParams pages came out whole.

The pages are addressed as the TensorBoard 2.21 frontend reads them (`tensorboard/webfiles.zip`,
`index.js`). The Time Series dashboard takes query parameters before `#timeseries`: `tagFilter` (a regex;
here the task's headline metric and `loss`), `smoothing=0` (the logged values), `runFilter` (`/seed`, which
hides the experiment's own run `.`), `runColorGroup=regex:^([^/]+)/` (one colour per architecture, so a
cell's train and validation runs are a pair of curves in one colour) and the feature flag `forceSVG=true`
(lines drawn as SVG paths in the page rather than on a WebGL canvas from a worker, so the script can see
that they are drawn; both render in headless Chromium on real time). The settings pane is closed and each
card's data table expanded, so every run is listed by name beside its colour with its value at the last
step. The legacy Scalars and the HParams dashboards keep
their state in the hash (`#scalars&tagFilter=<regex>&_smoothingWeight=0`). The HParams table shows
TensorBoard's default columns: the first five hyperparameters by name (TensorBoard sorts an experiment's
hyperparameters by name; `arch`, `batch_size`, `budget`, `hidden_dim`, `learning_rate`) and the first five
metric columns, which begin with `validation_headline` and `test_headline`; its window is wide enough to
show them.
"""

import argparse
import base64
import json
import os
import pathlib
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

DEFAULT_ARCHS = "gru,lstm,cnn,transformer"
DASHBOARDS = ("timeseries", "scalars", "hparams")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SESSION_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
#: JavaScript helper: every element matching a selector, inside shadow roots too (the Polymer dashboards).
DEEP_QUERY = """window.deepAll = (selector, root = document) => { const found = [];
  const walk = (node) => { node.querySelectorAll(selector).forEach((e) => found.push(e));
    node.querySelectorAll("*").forEach((e) => { if (e.shadowRoot) walk(e.shadowRoot); }); };
  walk(root); return found; };"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def tiny_bench(out, archs, steps):
    """A bench of its own when none is given: the default suite's first task, a few steps per architecture."""
    command = [sys.executable, "-m", "kerasllm", "bench", "--tasks", "negation_sentiment", "--archs", archs,
               "--steps", str(steps), "--out", str(out)]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    return out


def task_folders(bench_dir):
    """The task folders of a bench (those holding an HParams experiment), by name."""
    folders = [path for path in sorted(bench_dir.iterdir()) if path.is_dir() and any(path.glob("*.experiment"))]
    if not folders:
        raise SystemExit(f"{bench_dir} holds no task folder (one with an HParams experiment file)")
    return folders


class TensorBoardServer:
    """`python -m tensorboard.main --logdir LOGDIR` on localhost, started and stopped as a context manager."""

    def __init__(self, logdir, port, timeout):
        self.logdir, self.port, self.timeout = logdir, port, timeout
        self.url = f"http://localhost:{port}"
        self.process = None

    def __enter__(self):
        command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(self.logdir), "--host", "localhost",
                   "--port", str(self.port), "--reload_interval", "0"]
        print("$", " ".join(command), flush=True)
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"tensorboard exited with {self.process.returncode}:\n{self.log.read().decode()}")
            try:  # loaded once the runs and the experiment are served
                if self.get("/data/runs") and self.post("/data/plugin/hparams/experiment", {}).get("metricInfos"):
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise SystemExit(f"tensorboard did not answer on {self.url} within {self.timeout} s")

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def get(self, route):
        with urllib.request.urlopen(self.url + route, timeout=10) as response:
            return json.load(response)

    def post(self, route, request):
        data = json.dumps(request).encode()
        post = urllib.request.Request(self.url + route, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(post, timeout=10) as response:
            return json.load(response)


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe: one tab, a fixed viewport."""

    def __init__(self, binary, timeout=30):
        self.timeout, self._id, self._buffer = timeout, 0, b""
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()
        # Chromium reads fd 3 and writes fd 4; dup first so dup2 never lands on its own source.
        child_in, child_out = os.dup(to_browser), os.dup(from_browser)

        def wire_pipes():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        command = [binary, "--headless=new", "--no-sandbox", "--hide-scrollbars", "--remote-debugging-pipe",
                   "--no-first-run", "about:blank"]
        self.process = subprocess.Popen(command, preexec_fn=wire_pipes, close_fds=False,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_browser, from_browser, child_in, child_out):
            os.close(fd)
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def send(self, method, in_page=False, **params):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if in_page:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" not in self._buffer:
                if not select.select([self._replies], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    raise SystemExit(f"chromium did not answer {method} within {self.timeout} s")
                chunk = os.read(self._replies, 1 << 20)
                if not chunk:
                    raise SystemExit(f"chromium exited (code {self.process.poll()}) during {method}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:  # events carry no id
                if "error" in reply:
                    raise SystemExit(f"chromium: {method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", in_page=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise SystemExit(f"chromium: {expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url, width, height):
        self.send("Emulation.setDeviceMetricsOverride", in_page=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", in_page=True, url=url)

    def wait_for(self, condition, timeout, what):
        """Polls a JavaScript expression until it is true (every page gets `deepAll`)."""
        check = f"{DEEP_QUERY} (() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(check):
                return
            time.sleep(0.5)
        raise SystemExit(f"the page did not show {what} within {timeout} s")

    def screenshot(self, path):
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", in_page=True, format="png")["data"]))

    def close(self):
        try:
            self.send("Browser.close")
        except SystemExit:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)


def describe(server):
    """Prints what the data API serves (the facts tests/test_tensorboard_data_api.py asserts); returns the
    runs, the experiment's metric columns and the session group names."""
    runs = server.get("/data/runs")
    experiment = server.post("/data/plugin/hparams/experiment", {"experimentName": ""})
    groups = server.post("/data/plugin/hparams/session_groups", {
        "experimentName": "", "allowedStatuses": SESSION_STATUSES, "startIndex": 0, "sliceSize": 1000})
    columns = [info["name"]["tag"] for info in experiment.get("metricInfos", [])]
    print(f"/data/runs: {len(runs)} runs: {', '.join(runs)}")
    print(f"hparams experiment: hparams {', '.join(info['name'] for info in experiment.get('hparamInfos', []))}")
    print(f"hparams experiment: metrics {', '.join(columns)}")
    print(f"hparams session_groups: {groups.get('totalSize', 0)} sessions")
    names = []
    for group in groups.get("sessionGroups", []):
        values = {value["name"]["tag"]: value["value"] for value in group.get("metricValues", [])}
        sessions = ", ".join(session["name"] for session in group["sessions"])
        print(f"  {group['name']}: final/validation_headline={values.get('final/validation_headline')} "
              f"(session {sessions})")
        names.append(group["name"])
    return runs, columns, names


def headline_tag(task_dir):
    """The task's headline metric, the curve name of its validation runs (`metrics.json` of any run)."""
    for metrics in sorted(task_dir.glob("**/metrics.json")):
        headline = json.loads(metrics.read_text()).get("headline_metric")
        if headline:
            return headline
    return None


def find_browser(name):
    for candidate in ([name] if name else BROWSERS):
        path = shutil.which(candidate)
        if path:
            return path
    raise SystemExit("no Chromium found: apt-get install chromium (or pass --chromium PATH)")


def js_list(values):
    return json.dumps(sorted(values))


def pages(server, tag, runs, groups, tags, width):
    """(name, url, width, height, condition to wait for, script to run before the shot) per dashboard."""
    runs = [run for run in runs if run != "."]
    timeseries = urllib.parse.urlencode({"tagFilter": tag, "smoothing": "0", "runFilter": "/seed",
                                         "runColorGroup": "regex:^([^/]+)/", "forceSVG": "true"})
    every_run = f"{js_list(runs)}.every((run) => card.textContent.includes(run))"
    cards_ready = (f"document.querySelectorAll('scalar-card').length === {len(tags)} && "
                   f"[...document.querySelectorAll('scalar-card')].every((card) => "
                   f"card.querySelectorAll('svg path').length > 0 && {every_run})")
    tidy_timeseries = ("document.querySelector('button[aria-label=\"Close side pane\"]')?.click(); "
                       "document.querySelectorAll('button[aria-label=\"Expand Table\"]').forEach((b) => b.click());")
    scalars = urllib.parse.quote(tag, safe="")
    trials_ready = (f"{js_list(groups)}.every((name) => deepAll('vaadin-grid-cell-content')"
                    f".some((cell) => cell.textContent.trim() === name))")
    return [
        ("timeseries", f"{server.url}/?{timeseries}#timeseries", width, 130 + 80 + len(runs) * 22 + 370,
         cards_ready, tidy_timeseries),
        ("scalars", f"{server.url}/#scalars&tagFilter={scalars}&_smoothingWeight=0", width, 900,
         f"deepAll('tf-scalar-card').length >= {len(tags)} && deepAll('path.line').length > 0", ""),
        ("hparams", f"{server.url}/#hparams", max(width, 1700), 150 + len(groups) * 30 + 120, trials_ready, ""),
    ]


def compress(path):
    """Fewer colours (pngquant) and a tighter encoding (optipng) where those tools are installed."""
    if shutil.which("pngquant"):
        subprocess.run(["pngquant", "--force", "--skip-if-larger", "--quality", "60-90", "--output", str(path),
                        str(path)], check=False)
    if shutil.which("optipng"):
        subprocess.run(["optipng", "-quiet", "-o2", str(path)], check=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench-dir", type=pathlib.Path,
                        help="a bench folder (`kerasllm bench --out DIR`); default: run a tiny bench first")
    parser.add_argument("--task", help="its task folder to show, e.g. mqar@pairs4 (default: the first by name)")
    parser.add_argument("--shots", type=pathlib.Path, default=pathlib.Path("tensorboard_shots"),
                        help="folder for the PNGs (default: %(default)s)")
    parser.add_argument("--tag", help="regex of the Time Series and Scalars tags to show (default: the "
                        "headline metric and loss, e.g. ^(accuracy|loss)$)")
    parser.add_argument("--archs", default=DEFAULT_ARCHS, help="the tiny bench's architectures (%(default)s)")
    parser.add_argument("--steps", type=int, default=200,
                        help="the tiny bench's steps per run (%(default)s; with the quick suite's steps_per_execution "
                        "of 20, a tenth of them must be a multiple of 20, or Keras runs whole executions past it)")
    parser.add_argument("--width", type=int, default=1280, help="browser window width (%(default)s; "
                        "the HParams page gets at least 1700, to show the headline columns)")
    parser.add_argument("--chromium", help=f"the browser binary (default: the first of {', '.join(BROWSERS)} on PATH)")
    parser.add_argument("--port", type=int, help="TensorBoard's port (default: a free one)")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds to wait for TensorBoard to answer and for each page to draw (%(default)s)")
    parser.add_argument("--dashboards", default=",".join(DASHBOARDS),
                        help="comma-separated dashboards to shoot, of %(default)s")
    parser.add_argument("--no-compress", action="store_true", help="keep the PNGs as Chromium wrote them")
    args = parser.parse_args(argv)
    dashboards = args.dashboards.split(",")
    if set(dashboards) - set(DASHBOARDS):
        parser.error(f"--dashboards: unknown {', '.join(sorted(set(dashboards) - set(DASHBOARDS)))}; "
                     f"choose from {', '.join(DASHBOARDS)}")

    binary = find_browser(args.chromium)
    bench_dir = args.bench_dir or tiny_bench(pathlib.Path(tempfile.mkdtemp(prefix="tb_bench_")), args.archs,
                                             args.steps)
    folders = task_folders(bench_dir)
    if args.task:
        matches = [folder for folder in folders if folder.name == args.task]
        if not matches:
            raise SystemExit(f"no task {args.task!r} in {bench_dir}: {', '.join(f.name for f in folders)}")
        task_dir = matches[0]
    else:
        task_dir = folders[0]
    headline = headline_tag(task_dir)
    tag = args.tag or (f"^({headline}|loss)$" if headline and headline != "loss" else "^loss$")
    args.shots.mkdir(parents=True, exist_ok=True)

    with TensorBoardServer(task_dir, args.port or free_port(), args.timeout) as server:
        runs, columns, groups = describe(server)
        if "final/validation_headline" not in columns:
            print("warning: the experiment has no final/validation_headline column", file=sys.stderr)
        tags = {name for run_tags in server.get("/data/plugin/scalars/tags").values() for name in run_tags
                if re.search(tag, name)}
        browser = Chromium(binary)
        try:
            for name, url, width, height, ready, tidy in pages(server, tag, runs, groups, tags, args.width):
                if name not in dashboards:
                    continue
                print(f"{name}: {url} ({width}x{height})", flush=True)
                browser.open(url, width, height)
                browser.wait_for(ready, args.timeout, f"the {name} dashboard's data")
                if tidy:
                    browser.evaluate(tidy)
                    time.sleep(1.5)  # the pane closes and the tables expand with an animation
                path = args.shots / f"tensorboard_{name}.png"
                browser.screenshot(path)
                if not args.no_compress:
                    compress(path)
                print(f"  {path}: {path.stat().st_size // 1024} KB", flush=True)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
