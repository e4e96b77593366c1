"""The run record's names (``pipeline.tracking.names``): the trial states, the codecs of a sweep's parent tags,
and one owner for every name: a string ``names`` defines (a tag, a metric, an artifact, a config key of the trial
protocol) is written nowhere else in ``pipeline/`` or ``hydra_plugins/``; the objective's own keys likewise live
only in ``pipeline.objective``. A typo in a second copy would silently break resume, the report or the registry."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from pipeline import objective
from pipeline.tracking import names
from pipeline.tracking.names import SweepTags, TrialState

ROOT = Path(__file__).resolve().parents[2]
OWNERS = {ROOT / "pipeline" / "tracking" / "names.py": names, ROOT / "pipeline" / "objective.py": objective}
# Plain words a record name shares with ordinary code (a config group, an exception's field): too common to
# police as literals; every other name of the record is.
COMMON = {"error", "lease", "data", "model", "task", "value", "pruned", "run_id", "report", "score", "best_epoch",
          "killed", "basic"}


def owned_strings() -> dict[str, Path]:
    """Every string constant the owners define at module level (and their templates' fixed parts)."""
    found: dict[str, Path] = {}
    for path, module in OWNERS.items():
        for name in dir(module):
            value = getattr(module, name)
            if name.isupper() and isinstance(value, str) and value not in COMMON and len(value) > 2:
                found[value] = path
    return found


def literals(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every string constant in ``path``'s code (docstrings left out)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    exported = {id(c) for n in ast.walk(tree) if isinstance(n, ast.Assign)  # __all__ lists functions, not names
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets) for c in ast.walk(n.value)}
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings | exported]


def test_the_owners_define_the_names_the_record_shares():
    owned = owned_strings()
    for name in ("sweep.space", "trial.number", "best.run_id", "hydra.overrides", "cv_mean", "intermediate/objective",
                 "optimization_results.yaml", "tracking.parent_run_id", "mlflow.runName"):
        assert name in owned or any(name in v for v in owned), name


@pytest.mark.parametrize("path", sorted(p for folder in ("pipeline",
                                                         "hydra_plugins") for p in (ROOT / folder).rglob("*.py")
                                        if p not in OWNERS), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_record_name_is_spelled_twice(path):
    owned = owned_strings()
    copies = [f"{path.relative_to(ROOT)}:{line}: {text!r} (owned by {owned[text].relative_to(ROOT)})"
              for line, text in literals(path) if text in owned]
    assert not copies, "\n".join(copies)


def test_the_check_would_catch_a_copy(tmp_path):
    copy = tmp_path / "copy.py"
    copy.write_text('def f(tags):\n    """Reads sweep.space."""\n    return tags["sweep.seed"]\n')
    assert [text for _, text in literals(copy) if text in owned_strings()] == ["sweep.seed"]


@pytest.mark.parametrize("state, status, ended", [
    (TrialState.COMPLETE, "FINISHED", True), (TrialState.PRUNED, "FINISHED", True), (TrialState.FAILED, "FAILED", True),
    (TrialState.INTERRUPTED, "KILLED", False), (TrialState.RUNNING, "RUNNING", False), (TrialState.ABORTED, "KILLED",
                                                                                        False),
])
def test_each_state_has_its_run_status(state, status, ended):
    assert state.run_status == status and state.ended is ended and state == str(state)


@pytest.mark.parametrize("status, state", [("FINISHED", "complete"), ("FAILED", "failed"), ("KILLED", "interrupted"),
                                           ("RUNNING", "running"), ("SCHEDULED", "running")])
def test_a_run_status_reads_back_as_its_state(status, state):
    assert TrialState.of_status(status) == state


def test_sweep_tags_round_trip_and_say_what_a_resume_lacks():
    tags = SweepTags(strategy="bayes", space={"x": "interval(0, 1)"}, fixed=["a=1"], seed=3, n_trials=20,
                     direction="maximize", options={"n_initial": 4}, command="python train.py -m",
                     objective_key="cv_mean")
    encoded = tags.encode()
    assert all(isinstance(v, str) for v in encoded.values()) and SweepTags.decode(encoded) == tags
    assert SweepTags.decode(encoded).complete and not SweepTags.decode({names.SWEEP_TAG: "basic"}).complete
    clipped = {**encoded, names.SPACE_TAG: encoded[names.SPACE_TAG][:-2] + "..."}  # cut at MLflow's length limit
    assert SweepTags.decode(clipped).space is None and SweepTags.decode(clipped).n_trials == 20
    assert tags.params(n_jobs=2)[names.N_JOBS_PARAM] == 2 and tags.params(2)["space.x"] == "interval(0, 1)"


def test_run_names_say_how_a_trial_ended():
    assert names.trial_run_name(7) == "trial-007"
    assert names.ended_run_name("trial-007", TrialState.COMPLETE, 0.978412) == "trial-007 0.978412"
    assert names.ended_run_name("trial-017", TrialState.COMPLETE, 0.97981) != names.ended_run_name(
        "trial-017", TrialState.COMPLETE, 0.97984)  # seen colliding at 4 digits
    assert names.trial_run_name(7) == "trial-007" and names.trial_run_name(12, "wide") == "wide-012"
    assert names.ended_run_name("trial-007", TrialState.COMPLETE) == "trial-007"
    assert names.ended_run_name("x", TrialState.INTERRUPTED) == "x killed"
    assert names.ended_run_name("x", TrialState.PRUNED, 0.5) == "x pruned"


def test_a_trials_run_carries_its_searched_values_and_they_read_back_typed():
    params = {"optimizer.lr": 0.01, "model": "cnn", "model.hidden_dim": 64}
    tags = names.launched_tags(3, params, "parent")
    assert tags[names.PARENT_RUN_TAG] == "parent" and tags[names.TRIAL_NUMBER_TAG] == "3"
    assert names.launched_run_params(tags) == params and names.launched_run_params({}) is None
    assert names.launched_run_params({names.TRIAL_PARAMS_TAG: '{"optimizer.lr": 0.0...'}) is None  # clipped


def test_launched_params_codec_of_older_parents_round_trips_and_skips_clipped_tags():
    params = [{"optimizer.lr": 0.01, "model": "cnn"}, {"optimizer.lr": 1e-4, "model": "mlp"}]
    tags = names.parent_launched_tags([3, 4], params)
    assert set(tags) == {"trial.3.params", "trial.4.params"} and json.loads(tags["trial.3.params"]) == params[0]
    tags.update({"trial.5.params": '{"optimizer.lr": 0.0...', "trial.x.params": "{}", "sweep.space": "{}"})
    assert names.launched_params(tags) == {3: params[0], 4: params[1]}


def test_rerun_codec():
    tags = names.rerun_tags([(2, 7), (3, 8)])
    assert tags == {"trial.2.rerun_as": "7", "trial.3.rerun_as": "8"}
    assert names.rerun_numbers({**tags, "trial.2.params": "{}"}) == {2, 3}
