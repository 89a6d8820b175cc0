"""Writes benchmarks/suites/<name>.json from the suites shipped in kerasllm/bench/suites/.

The JSON files mirror the package's suites so they can be read (and copied, and edited into new
suites) without opening Python; `kerasllm bench benchmarks/suites/quick.json` runs the same bench as
`kerasllm bench quick`. tests/test_bench.py fails when a mirror is out of date; rerun:

    python benchmarks/export_suites.py
"""

import json
import pathlib

from kerasllm.bench import list_suites, load_suite

FOLDER = pathlib.Path(__file__).resolve().parent / "suites"


def main():
    for name in list_suites():
        path = FOLDER / f"{name}.json"
        path.write_text(json.dumps(load_suite(name).to_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
