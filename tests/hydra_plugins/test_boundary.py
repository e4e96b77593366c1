"""The sweeper and the trial meet only in overrides and return values: the plugin never imports the
trial's training code, not at start-up and not lazily inside a function."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "hydra_plugins.pipeline_sweeper"
# The trial's side: the training package, models, data, the trial, its callbacks and what rebuilds its model.
TRAINING = {"pipeline.training", *(f"pipeline.training.{m}" for m in ("loop", "cv", "builders", "batches", "metrics",
                                                                      "checks", "progress")),
            "pipeline.models", "pipeline.data", "pipeline.trial", "pipeline.tracking.callbacks",
            "pipeline.results.served", "pipeline.results.serving", "pipeline.results.best_model",
            "pipeline.results.registry", "pipeline.results.reproduce", "torch.nn", "torchvision"}


def module_file(name: str) -> Path | None:
    """The source file of a first-party module (``pipeline.*``, ``hydra_plugins.pipeline_sweeper.*``)."""
    path = ROOT / Path(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports_in(name: str) -> list[tuple[str, set[str]]]:
    """``(module, the submodules it names)`` for each import in a first-party module's source, functions included
    (``from a.b import c`` -> ``("a.b", {"a.b.c"})`` when ``c`` is a module); typing-only imports under ``if
    TYPE_CHECKING:`` are left out: they run nowhere."""
    tree = ast.parse(module_file(name).read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
    package = name if module_file(name).name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, set()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.append((base, {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}))
    return found


def imported_by(name: str) -> set[str]:
    """Every module a first-party module imports anywhere in its source (functions included), with the
    packages each import runs first (``import a.b.c`` runs ``a/__init__`` and ``a/b/__init__``)."""
    with_parents = set()
    for base, submodules in imports_in(name):
        for mod in {base, *submodules}:
            parts = mod.split(".")
            with_parents |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return with_parents


def import_graph(start: str) -> set[str]:
    """Everything reachable from ``start`` through first-party modules (third-party ones are leaves)."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name.split(".")[0] in ("pipeline", "hydra_plugins") and module_file(name):
            todo += sorted(imported_by(name))
    return seen


def test_the_plugin_never_imports_training_code():
    reached = set()
    for path in (ROOT / "hydra_plugins" / "pipeline_sweeper").glob("*.py"):
        reached |= import_graph(f"{PLUGIN}.{path.stem}")
    assert "pipeline.search" in reached and "pipeline.tracking.sweep_run" in reached  # the walk does follow imports
    assert "pipeline.results.report" in reached  # imported inside a function of _wrapup: lazy imports are seen too
    assert not reached & TRAINING, sorted(reached & TRAINING)


def test_the_walk_would_see_training_code():
    assert {"pipeline.training.cv", "pipeline.training.builders", "pipeline.data"} <= import_graph("pipeline.trial")
    assert "pipeline.training.builders" in import_graph("pipeline.results.registry")


def test_importing_the_plugin_loads_no_training_module():
    code = ("import sys, hydra_plugins.pipeline_sweeper._impl, hydra_plugins.pipeline_sweeper.config; "
            f"print(sorted(m for m in sys.modules if m in {sorted(TRAINING)!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    assert importlib.util.find_spec(PLUGIN) is not None


def test_no_function_of_the_plugin_takes_more_than_five_parameters():
    """The sweeper's state lives in one object (``_impl.Sweep``), not in long argument lists."""
    long = []
    for path in sorted((ROOT / "hydra_plugins" / "pipeline_sweeper").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs) if p.arg not in ("self", "cls")]
                if len(names) > 5:
                    long.append(f"{path.name}:{node.lineno} {node.name}({', '.join(names)})")
    assert not long, long
