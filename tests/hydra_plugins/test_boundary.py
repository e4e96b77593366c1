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
# The trial's side: training loop, CV, models, data, optimizers, the trial and what rebuilds its model.
TRAINING = {"pipeline.training.loop", "pipeline.training.cv", "pipeline.models", "pipeline.data", "pipeline.optim", "pipeline.trial",
            "pipeline.tracking.callbacks", "pipeline.training.progress", "pipeline.training.checks", "pipeline.results.best_model", "pipeline.results.registry",
            "pipeline.results.reproduce", "torch.nn", "torchvision"}


def module_file(name: str) -> Path | None:
    """The source file of a first-party module (``pipeline.*``, ``hydra_plugins.pipeline_sweeper.*``)."""
    path = ROOT / Path(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported_by(name: str) -> set[str]:
    """Every module a first-party module imports anywhere in its source (functions included), with the
    packages each import runs first (``import a.b.c`` runs ``a/__init__`` and ``a/b/__init__``)."""
    tree = ast.parse(module_file(name).read_text())
    package = name if module_file(name).name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}
    with_parents = set()
    for mod in found:
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
    assert "pipeline.results.report" in reached  # imported inside a function of _impl: lazy imports are seen too
    assert not reached & TRAINING, sorted(reached & TRAINING)


def test_the_walk_would_see_training_code():
    assert {"pipeline.training.cv", "pipeline.models", "pipeline.data"} <= import_graph("pipeline.trial")
    assert "pipeline.models" in import_graph("pipeline.results.registry")


def test_importing_the_plugin_loads_no_training_module():
    code = ("import sys, hydra_plugins.pipeline_sweeper._impl, hydra_plugins.pipeline_sweeper.config; "
            f"print(sorted(m for m in sys.modules if m in {sorted(TRAINING)!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    assert importlib.util.find_spec(PLUGIN) is not None
