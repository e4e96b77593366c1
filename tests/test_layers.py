"""The parts of ``pipeline/`` import each other one way only, lazy imports inside functions included: training
knows nothing of tracking or results, tracking knows only the objective, the errors and the process object, the
sweeper plugin never reaches training (``tests/hydra_plugins/test_boundary.py``), and no module reaches itself."""

from __future__ import annotations

import pytest

from tests.hydra_plugins.test_boundary import ROOT, import_graph, imports_in, module_file


def first_party() -> list[str]:
    """Every module of ``pipeline`` and of the sweeper plugin."""
    found = []
    for folder in ("pipeline", "hydra_plugins/pipeline_sweeper"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def ours(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] in ("pipeline", "hydra_plugins") and module_file(n)}


def in_part(module: str, part: str) -> bool:
    return module == part or module.startswith(part + ".")


# (part, what it may reach in the rest of the project besides itself: modules, or whole packages with a dot-star)
RULES = [
    ("pipeline.training", {"pipeline", "pipeline.objective", "pipeline.errors", "pipeline.contract", "pipeline.data.*",
                           "pipeline.pruning", "pipeline.pruning.rules"}),
    ("pipeline.tracking", {"pipeline", "pipeline.objective", "pipeline.errors", "pipeline.runtime"}),
    ("pipeline.search", {"pipeline", "pipeline.objective", "pipeline.errors", "pipeline.tracking",
                         "pipeline.tracking.names"}),
]


def allowed_by(module: str, allowed: set[str]) -> bool:
    return module in allowed or any(a.endswith(".*") and in_part(module, a[:-2]) for a in allowed)


@pytest.mark.parametrize("part, allowed", RULES, ids=[r[0] for r in RULES])
def test_each_part_imports_only_what_it_may(part, allowed):
    reached = set()
    for module in (m for m in first_party() if in_part(m, part)):
        reached |= ours(import_graph(module))
    outside = {m for m in reached if not in_part(m, part) and not allowed_by(m, allowed)}
    assert not outside, sorted(outside)


def test_the_light_modules_import_nothing_of_the_project_but_each_other():
    for module in ("pipeline.errors", "pipeline.objective", "pipeline.runtime", "pipeline.tracking.names"):
        assert ours(import_graph(module)) <= {"pipeline", "pipeline.errors", "pipeline.objective", "pipeline.runtime",
                                              "pipeline.tracking", "pipeline.tracking.names", module}, module


def named_imports(name: str) -> set[str]:
    """The first-party modules ``name`` imports by name. A package's ``__init__`` that a submodule import runs
    first is not counted: that is how Python loads a package, not a module needing another."""
    return ours({m for base, submodules in imports_in(name) for m in (submodules or {base})}) - {name}


def test_no_module_reaches_itself():
    graph = {m: named_imports(m) for m in first_party()}
    cycles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*path, nxt]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert not cycles, "\n".join(sorted(cycles)[:10])


def test_the_walk_would_see_a_violation():
    assert "pipeline.tracking.tracker" in ours(import_graph("pipeline.trial"))  # trial is the composition root
    assert "pipeline.training.cv" in ours(import_graph("pipeline.results.served"))
    assert "pipeline.tracking.names" in named_imports("pipeline.tracking.runs")
    assert "hydra_plugins.pipeline_sweeper._impl" not in named_imports("hydra_plugins.pipeline_sweeper._wrapup")
