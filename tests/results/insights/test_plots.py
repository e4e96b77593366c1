"""The figures: every file for every sweep shape, the right axes, and the states marked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.results.insights.importance import sweep_importance
from pipeline.results.insights.plots import (
    curves_figure,
    history_figure,
    parallel_figure,
    slice_figure,
    slice_filename,
    write_figures,
)
from pipeline.search.space import SearchSpace

SPACE = SearchSpace.from_grammar({"optimizer.lr": "tag(log,interval(0.0001,0.1))", "model.name": "mlp,cnn",
                                  "model.hidden_dim": "int(interval(16,64))"})
PNG = b"\x89PNG\r\n\x1a\n"
# The figures every report has, whatever its space (one slice per parameter comes on top).
FIXED_NAMES = ("optimization_history.png", "parallel_coordinates.png", "importance.png", "learning_curves.png")


def history(states: list[str]) -> SweepHistory:
    """Trials in ``states``; complete ones get values, curves and a spread of parameters."""
    rows = []
    for k, state in enumerate(states):
        params = {"optimizer.lr": 10 ** (-4 + 3 * k / max(1, len(states) - 1)), "model.name": ["mlp", "cnn"][k % 2],
                  "model.hidden_dim": 16 + 8 * (k % 7)}
        value = 0.5 + 0.04 * k if state in ("complete", "pruned") else None
        curve = [(e, value - 0.1 / e) for e in (1, 2, 3)] if state == "complete" else []
        rows.append(TrialRow(k, state, value, params, run_id=f"run{k}", curve=curve))
    return SweepHistory("parent", "0", "random", "maximize", "val_accuracy", SPACE, rows)


MIXED = ["complete", "failed", "complete", "pruned", "interrupted", "complete", "complete", "running"]


@pytest.mark.parametrize("states", [MIXED, ["failed", "interrupted"], []], ids=["mixed", "no-complete", "empty"])
def test_every_figure_is_written_for_every_sweep(states, tmp_path):
    h = history(states)
    written = write_figures(h, sweep_importance(h), tmp_path)
    expected = [*FIXED_NAMES, *(slice_filename(n) for n in SPACE.names)]
    assert list(written) == expected
    for name in expected:
        assert Path(tmp_path, name).read_bytes()[:8] == PNG, name


def test_slice_axes_follow_the_search_space():
    h = history(MIXED)
    assert slice_figure(h, SPACE["optimizer.lr"]).axes[0].get_xscale() == "log"
    assert slice_figure(h, SPACE["model.hidden_dim"]).axes[0].get_xscale() == "linear"
    ax = slice_figure(h, SPACE["model.name"]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["mlp", "cnn"]
    assert slice_filename("+model.x y") == "slice__model.x_y.png"


def test_history_marks_each_state_and_the_best_so_far():
    ax = history_figure(history(MIXED)).axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["complete", "best so far", "best: trial 6", "pruned", "failed", "interrupted", "running"]
    assert "4 complete, 1 pruned, 1 failed, 1 interrupted, 1 running" in ax.get_title()


def test_parallel_coordinates_has_one_line_per_complete_trial_and_an_objective_axis():
    ax = parallel_figure(history(MIXED)).axes[0]
    [lines] = ax.collections
    assert len(lines.get_segments()) == 4
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "cv val_accuracy"


def test_learning_curves_of_the_top_trials_best_first():
    h = history(["complete"] * 7)
    labels = curves_figure(h, top_k=5).axes[0].get_legend_handles_labels()[1]
    assert [label.split(":")[0] for label in labels] == ["trial 6", "trial 5", "trial 4", "trial 3", "trial 2"]


def test_minimized_objective_puts_the_lowest_first():
    h = history(["complete"] * 4)
    h.direction, h.metric = "minimize", "val_loss"
    assert h.best.number == 0
    assert curves_figure(h).axes[0].get_legend_handles_labels()[1][0].startswith("trial 0")
