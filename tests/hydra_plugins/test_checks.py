"""The app's check in a child process (``_checks.Checker``): started before the configs exist, it gets them on
stdin; a rejection is one line naming the edge point, a checker that cannot run says so, an unused one ends."""

from __future__ import annotations

import os
import time

import pytest

from hydra_plugins.pipeline_sweeper._checks import Checker, edge_points
from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from pipeline.search import SearchSpace

APP = '''
import os, time
IMPORTED_AT = time.time()
if os.environ.get("CHECK_STAMP"):
    with open(os.environ["CHECK_STAMP"] + ".imported", "w") as f:
        f.write(repr(IMPORTED_AT))
def check(cfg):
    if cfg.lr > 0.5:
        raise ValueError(f"lr={cfg.lr}: expected at most 0.5")
def imported_at(cfg):
    with open(os.environ["CHECK_STAMP"], "w") as f:
        f.write(repr(IMPORTED_AT))
'''


@pytest.fixture
def app(tmp_path, monkeypatch):
    (tmp_path / "tiny_app_checks.py").write_text(APP)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    return tmp_path


def plan() -> SweepPlan:
    space = SearchSpace.from_grammar({"lr": "interval(0.1, 0.9)"})
    return SweepPlan(strategy="random", space=space, fixed=[], n_trials=4, n_jobs=1, direction="minimize",
                     command="python app.py -m")


def configs(space, conf_dir):
    """The trial configs at the edges of ``space``, composed by Hydra as the sweeper composes them."""
    from hydra.types import RunMode

    from tests.hydra_plugins.test_compose import loader_for

    (conf_dir / "config.yaml").write_text("lr: 0.1\n")
    loader = loader_for(conf_dir)
    master = loader.load_configuration("config", [], RunMode.MULTIRUN)
    return [(label, loader.load_sweep_config(master, [f"lr={p['lr']}"])) for label, p in edge_points(space)]


def test_a_rejected_edge_is_one_line_naming_it(app):
    checker = Checker.start({"check": "tiny_app_checks.check"})
    with pytest.raises(ValueError) as err:
        checker.send(configs(plan().space, app))
        checker.result(plan())
    assert str(err.value) == "lr=0.9: expected at most 0.5"  # the searched edge it was found at is the one it names
    assert checker.proc.returncode == 2


def test_checkers_run_in_turn_and_a_light_first_one_answers_before_the_next_imports(app):
    """``validate`` then ``check`` in this project: the first rejection ends the check; a later checker that could
    not even be imported is never reached."""
    checker = Checker.start({"check": ["tiny_app_checks.check", "no_such_module.heavy_check"]})
    with pytest.raises(ValueError, match=r"^lr=0.9: expected at most 0.5$"):
        checker.send(configs(plan().space, app))
        checker.result(plan())
    fine = Checker.start({"check": ["tiny_app_checks.check", "tiny_app_checks.check"]})
    fine.send(configs(SearchSpace.from_grammar({"lr": "interval(0.1, 0.2)"}), app))
    fine.result(plan())


def test_the_child_imports_the_app_before_the_configs_arrive(app, monkeypatch):
    monkeypatch.setenv("CHECK_STAMP", str(app / "stamp"))
    checker = Checker.start({"check": "tiny_app_checks.imported_at"})
    imported = app / "stamp.imported"  # written by the app's module as it is imported
    deadline = time.monotonic() + 120
    while not imported.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert imported.exists()  # before any config was sent: the child did not wait for them to import the app
    checker.send(configs(SearchSpace.from_grammar({"lr": "interval(0.1, 0.2)"}), app))
    checker.result(plan())
    assert (app / "stamp").read_text() == imported.read_text()


def test_a_checker_that_cannot_run_says_so(app):
    checker = Checker.start({"check": "tiny_app_checks.no_such_function"})
    with pytest.raises(ValueError, match=r"hydra.sweeper.check='tiny_app_checks.no_such_function' could not run: "):
        checker.send(configs(plan().space, app))
        checker.result(plan())


def test_no_check_no_process_and_an_unused_checker_ends(app):
    assert Checker.start({"check": None}) is None and Checker.start({}) is None
    checker = Checker.start({"check": "tiny_app_checks.check"})
    checker.close()
    assert checker.proc.poll() is not None
