"""Every docstring example runs: pytest collects them all (`--doctest-modules`, setup.cfg), none is skipped,
every module but a few has one, and the isolation around them (conftest.py) sees every registry."""

import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "kerasllm"

#: Modules with no natural example: entry points, the version string, suites (data files, shown by suites/).
WITHOUT_EXAMPLE = {
    "__main__.py", "cli.py", "version.py",
    "bench/suites/quick.py", "bench/suites/classification.py", "bench/suites/lm.py", "bench/suites/diagnostics.py",
    "bench/suites/translation.py", "bench/suites/summarization.py", "bench/suites/transfer.py",
}


def modules():
    return {str(path.relative_to(PACKAGE)): path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")}


def test_pytest_collects_the_examples_of_the_package():
    import configparser

    ini = configparser.ConfigParser(interpolation=None)
    ini.read(PACKAGE.parent / "setup.cfg")
    assert "kerasllm" in ini["tool:pytest"]["testpaths"].split()
    assert "--doctest-modules" in ini["tool:pytest"]["addopts"].split()


def test_every_module_but_a_few_has_an_example():
    lacking = sorted(name for name, text in modules().items() if ">>>" not in text and name not in WITHOUT_EXAMPLE)
    assert not lacking, f"add a short runnable Example: to {lacking}"


def test_no_example_is_skipped():
    skipped = sorted(name for name, text in modules().items() if "doctest: +SKIP" in text)
    assert not skipped, f"rewrite the skipped examples of {skipped} small (tiny task, temp folder) so they run"


def test_the_isolation_of_the_examples_sees_every_registry(kerasllm_registries):
    kinds = {registry.kind for registry in kerasllm_registries}
    assert {"architecture", "task", "tokenizer", "sampler", "lab", "head"} <= kinds
