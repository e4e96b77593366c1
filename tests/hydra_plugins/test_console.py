"""Launch lines: a launcher's per-job line shows the trial's name and searched values, the rest at debug level."""

from __future__ import annotations

import logging

from hydra_plugins.pipeline_sweeper._console import LaunchLines, launch_lines

LINE = ("\t#7 : trainer.epochs=3 optimizer.lr=0.0123 model.hidden_dim=64 +data.note='a b=c' "
        "tracking.uri=sqlite:////tmp/x.db tracking.parent_run_id='abc' tracking.trial_number=7")


def test_the_job_line_shows_the_trials_name_and_searched_values_only(caplog):
    record = logging.LogRecord("hydra._internal.core_plugins.basic_launcher", logging.INFO, "", 0, LINE, None, None)
    with caplog.at_level(logging.DEBUG, logger="hydra_plugins.pipeline_sweeper._console"):
        assert LaunchLines(["optimizer.lr", "model.hidden_dim", "+data.note"]).filter(record)
    assert record.getMessage() == "\ttrial-007 : optimizer.lr=0.0123 model.hidden_dim=64 +data.note='a b=c'"
    assert [r.getMessage() for r in caplog.records] == [LINE.strip()]  # all of it, at debug level
    other = logging.LogRecord("x", logging.INFO, "", 0, "Launching 2 jobs locally", None, None)
    assert LaunchLines(["x"]).filter(other) and other.getMessage() == "Launching 2 jobs locally"


def test_every_launchers_logger_is_rewritten_while_the_sweep_runs(caplog):
    class JoblibLauncher:  # a launcher's class names the module that logs its lines
        __module__ = "hydra_plugins.hydra_joblib_launcher.joblib_launcher"

    caplog.set_level(logging.INFO)
    names = ["hydra._internal.core_plugins.basic_launcher", "hydra_plugins.hydra_joblib_launcher._core",
             "hydra_plugins.hydra_joblib_launcher.joblib_launcher", "hydra_plugins.hydra_ray_launcher._core",
             "hydra_plugins.hydra_submitit_launcher.submitit_launcher"]
    with launch_lines(["optimizer.lr"], JoblibLauncher()):
        for name in names:
            logging.getLogger(name).info("\t#%d : %s", 3, "a=1 optimizer.lr=0.5")
    logging.getLogger(names[0]).info("\t#%d : %s", 4, "a=1")  # after the sweep: Hydra's own line again
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == \
        ["\ttrial-003 : optimizer.lr=0.5"] * len(names) + ["\t#4 : a=1"]


def test_a_launcher_that_numbers_each_launch_from_zero_still_names_the_trial():
    lines = LaunchLines(["x"])
    lines.expect(12, ["a=1", "x=0.5", "hydra.job.chdir=false"])
    record = logging.LogRecord("j", logging.INFO, "", 0, "\t#0 : a=1 x=0.5", None, None)
    assert lines.filter(record) and record.getMessage() == "\ttrial-012 : x=0.5"
