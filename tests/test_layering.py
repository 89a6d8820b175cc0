"""The package's layers, read from its source: no module imports a layer above its own (../shared/DESIGN.md).

From the top: the CLI, labs, bench, generation, training, data, models, tokenizers, layers, and at the bottom
the small shared modules (config, registry, errors, checks, imports, ...). A module may import its own floor
and the floors below it. Imports inside functions are allowed only in the CLI, where they keep start-up fast.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "kerasllm"

#: Floors from the top; a module's floor is its subpackage, or its own name for top-level modules.
FLOORS = [
    ("kerasllm", "kerasllm.__main__", "kerasllm.cli"),
    ("kerasllm.labs",),
    ("kerasllm.bench",),
    ("kerasllm.generation",),
    ("kerasllm.training",),
    ("kerasllm.data",),
    ("kerasllm.models",),
    ("kerasllm.tokenizers",),
    ("kerasllm.layers",),
    ("kerasllm.config", "kerasllm.registry", "kerasllm.errors", "kerasllm.checks", "kerasllm.imports",
     "kerasllm.catalog", "kerasllm.registration", "kerasllm.version"),
]
#: Imports allowed inside functions: module -> the modules it may import there ("*": any), each for a reason.
LAZY_IMPORTS_ALLOWED = {
    "kerasllm.cli": "*",  # the command line answers --help, archs, tasks and typos without loading TensorFlow
    "kerasllm.imports": {"keras"},  # configs and the CLI parse import paths without loading Keras
    "kerasllm.generation.decode": {"tensorflow", "jax"},  # the compiled loop of the backend in use
    # TensorFlow only where it is used, so that JAX / PyTorch run without it (tests/test_without_tensorflow.py):
    "kerasllm.training.summaries": {"tensorflow"},  # tf.summary when it imports, tensorboard's writer otherwise
    "kerasllm.data.pipeline": {"tensorflow"},  # tf.data on the TensorFlow backend, numpy batches on the others
    "kerasllm.tokenizers.subword": {"tensorflow", "tensorflow_text"},  # WordPiece runs on tf-text ops
    "kerasllm.bench.plots": {"matplotlib", "matplotlib.backends.backend_agg", "matplotlib.figure"},  # plots only
    "kerasllm.training.distribution": {"tensorflow", "jax"},  # the engine of the backend in use (MirroredStrategy, jax.process_count)
    "kerasllm.bench.callbacks": {"jax"},  # a GPU's own allocator peak, on the JAX backend only
    "kerasllm.bench.ray_executor": {"ray"},  # an optional extra: `pip install "kerasllm[ray]"`
}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(name):
    """Index of the floor of module `name` (0 is the top), or None outside the package."""
    if name != "kerasllm" and not name.startswith("kerasllm."):
        return None
    best = None
    for index, members in enumerate(FLOORS):
        for member in members:
            if (name == member or name.startswith(member + ".")) and (best is None or len(member) > len(best[1])):
                best = (index, member)
    assert best is not None, f"{name} is on no floor: add it to FLOORS"
    return best[0]


def imports_of(path):
    """(imported module, line, at module level) for every import statement of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, node.lineno, id(node) in top_level))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_on_a_floor():
    for path in MODULES:
        floor_of(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_imports_a_floor_above_its_own(path):
    name = module_name(path)
    own = floor_of(name)
    for imported, line, at_module_level in imports_of(path):
        target = floor_of(imported)
        if target is not None:
            assert target >= own, f"{name} (line {line}) imports {imported}, which sits above it"
        allowed = LAZY_IMPORTS_ALLOWED.get(name, ())
        if not at_module_level and allowed != "*" and imported not in allowed:
            raise AssertionError(f"{name} (line {line}) imports {imported} inside a function; import it at the "
                                 "top of the module (only the CLI defers imports, for its start-up time)")


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rule can fail: a models module that imports generation is caught."""
    fake = PACKAGE / "models" / "heads.py"
    source = "from kerasllm.generation import generate\n"
    tree_imports = [(node.module, node.lineno) for node in ast.walk(ast.parse(source))
                    if isinstance(node, ast.ImportFrom)]
    assert floor_of(tree_imports[0][0]) < floor_of(module_name(fake))
