"""The best model's process (``_wrapup.BestModel``): started ahead, it has imported torch before it is told which
sweep to publish; a best trial without a checkpoint needs nothing from it; an unneeded one is ended."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
from mlflow.tracking import MlflowClient

from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from hydra_plugins.pipeline_sweeper._wrapup import BestModel, ReportSchedule
from pipeline.search import SearchSpace


def plan(uri: str, ours: bool = True) -> SweepPlan:
    return SweepPlan(strategy="random", space=SearchSpace.from_grammar({"x": "interval(0, 1)"}), fixed=[],
                     n_trials=2, uri=uri, records_itself=ours, experiment="wrapup")


def loaded_torch(pid: int) -> bool:
    try:
        return any("libtorch" in m.path for m in psutil.Process(pid).memory_maps())
    except psutil.Error:
        return False


def test_the_process_imports_ahead_and_ends_when_not_needed(tracking_uri):
    uri = tracking_uri
    model = BestModel(plan(uri))
    model.prepare()
    proc = model.proc
    deadline = time.monotonic() + 120
    while not loaded_torch(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert loaded_torch(proc.pid) and proc.poll() is None  # ready, and waiting to be told the sweep
    model.prepare()
    assert model.proc is proc  # one process per sweep
    model.close()
    assert proc.poll() is not None and model.proc is None
    assert MlflowClient(uri).search_registered_models() == []


def test_a_foreign_app_starts_nothing_and_a_best_trial_without_checkpoint_needs_nothing(tracking_uri):
    uri = tracking_uri
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("wrapup"))
    model = BestModel(plan(uri, ours=False))
    model.prepare()
    assert model.proc is None
    assert model.publish("parent-of-no-consequence", run.info.run_id) is False and model.proc is None


def test_the_registry_told_nothing_exits_cleanly(tracking_uri):
    uri = tracking_uri  # a store made from the migrated template: a new one would spend seconds on migrations
    done = subprocess.run([sys.executable, "-m", "pipeline.registry", "--wait", "--name", "m"], input="\n",
                          capture_output=True, text=True, env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    assert MlflowClient(uri).search_registered_models() == []


def test_the_mid_sweep_report_waits_report_every_from_the_start(tracking_uri, tmp_path, caplog):
    uri = tracking_uri
    ReportSchedule(True, 3600).maybe(uri, "0" * 32, tmp_path)  # a short sweep: no mid-sweep report
    assert "Could not write the sweep report" not in caplog.text
    ReportSchedule(False, 0).maybe(uri, "0" * 32, tmp_path)
    assert "Could not write the sweep report" not in caplog.text
    ReportSchedule(True, 0).maybe(uri, "0" * 32, tmp_path)  # due at once: tried (on a parent that is not there)
    assert "Could not write the sweep report" in caplog.text


def test_the_end_of_a_sweep_takes_the_run_ids_its_trials_returned(tracking_uri):
    """Trials that follow the protocol return their run's id: nothing is searched for them. Only trials that ran
    without saying (an app that logs its own runs and returns a bare number) are looked up among the children."""
    from types import SimpleNamespace

    from hydra_plugins.pipeline_sweeper._wrapup import trial_runs
    from pipeline.tracking import names
    from pipeline.tracking.store import get_client
    from pipeline.tracking.sweep_run import SweepRun, TrialRecord

    parent = SweepRun.create(tracking_uri, "wrapup", "sweep", {names.SWEEP_TAG: "random"}, {})
    client = get_client(tracking_uri)
    child = client.create_run(parent.experiment_id, tags={names.PARENT_RUN_TAG: parent.run_id,
                                                          names.TRIAL_NUMBER_TAG: "1"}).info.run_id
    client.set_terminated(child)  # the app ended its run
    untaken = parent.create_trials([2], [{}])[2]  # a run made at launch that its trial never took
    sweep = SimpleNamespace(parent=parent)
    said = [TrialRecord(0, {}, "complete", 1.0, run_id="returned-0"), TrialRecord(1, {}, "failed", run_id="r1")]
    assert trial_runs(sweep, said) == {0: "returned-0", 1: "r1"}  # taken as they are: no search would find these
    unsaid = [TrialRecord(0, {}, "complete", 1.0, run_id="returned-0"), TrialRecord(1, {}, "complete", 2.0),
              TrialRecord(2, {}, "complete", 3.0)]
    assert trial_runs(sweep, unsaid) == {0: "returned-0", 1: child} and unsaid[1].run_id == child
    # the untaken run is not its trial's record (it wrote elsewhere): trial 2 is missing, and that run ends FAILED
    assert client.get_run(untaken).info.status == "FAILED" and "wrote elsewhere" in client.get_run(
        untaken).data.tags[names.ERROR_TAG]


def test_where_to_look_fits_the_app_and_opens_the_runs_view():
    from hydra_plugins.pipeline_sweeper._wrapup import runs_page, ui_command

    ours, foreign = ui_command("sqlite:////s/mlflow.db"), ui_command("sqlite:////s/mlflow.db", this_project=False)
    assert ours.startswith("MLFLOW_TRACKING_URI=sqlite:////s/mlflow.db make ui") and "make" not in foreign
    assert foreign == "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri sqlite:////s/mlflow.db " \
                      "--workers 1"
    assert ui_command("http://u:pw@host:5000") == "open http://***@host:5000 in a browser"  # no credential
    assert runs_page("sqlite:////s/mlflow.db", "4") == \
        "http://127.0.0.1:5000/#/experiments/4/runs?workflowType=machine_learning"
    assert runs_page("https://u:pw@ml.example.org/", "4", None).startswith("https://ml.example.org/#/experiments/4/")
    assert runs_page("sqlite:////s/mlflow.db", "4", "http://box:8080").startswith("http://box:8080/#/")


def test_a_best_model_that_cannot_be_logged_makes_the_sweep_exit_non_zero(tmp_path, new_store):
    """A plugged-in model MLflow cannot save (it holds a lock): the sweep's record is complete and FINISHED, the
    report written, and the command exits 1 saying the best model could not be logged."""
    from tests.conftest import SWEEP_FAST, run_train, sweep_runs

    (tmp_path / "locked_model.py").write_text(
        "import threading\nfrom pipeline.models import mlp\n\n"
        "def net(input_shape, num_outputs):\n    m = mlp(input_shape, num_outputs, hidden_dim=8)\n"
        "    m.lock = threading.Lock()\n    return m\n")
    uri = new_store(tmp_path / "store")
    fast = [a for a in SWEEP_FAST if not a.startswith(("cv.refit", "tracking.log_", "hydra.sweeper.reg"))]
    proc = run_train(["-m", *fast, "model._target_=locked_model.net", "~model.hidden_dim", "~model.num_layers",
                      "~model.activation", "~model.batch_norm", "~model.dropout", "hydra/sweeper=random",
                      "hydra.sweeper.n_trials=2", f"tracking.uri={uri}"], tmp_path,
                     env={"PYTHONPATH": str(tmp_path)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "Could not log or register the best model" in out
    parent, children = sweep_runs(uri)
    assert parent.info.status == "FINISHED" and len(children) == 2
