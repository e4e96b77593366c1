"""No state hidden at module level: importing any module of the project changes no environment variable and no
MLflow setting; what must be process-wide is one object (``pipeline.runtime``) that an entry point starts."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.test_layers import first_party

IMPORT_ALL = """
import importlib, json, os, sys
# the libraries of the field first: some set variables of their own on import (torch: KMP_*)
for library in ("numpy", "scipy", "sklearn", "torch", "torchvision", "mlflow", "hydra", "omegaconf", "plotly",
                "matplotlib", "psutil", "yaml"):
    importlib.import_module(library)
before = dict(os.environ)
import mlflow
uri = mlflow.get_tracking_uri()
for name in sys.argv[1:]:
    importlib.import_module(name)
changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
from pipeline import runtime
print(json.dumps({"changed": changed, "uri_before": uri, "uri_after": mlflow.get_tracking_uri(),
                  "process": runtime._process is not None}))
"""


def test_importing_every_module_changes_no_environment_and_no_mlflow_setting(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MLFLOW_")}
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL, *first_party()], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["changed"] == [] and found["uri_after"] == found["uri_before"]
    assert found["process"] is False  # nothing made the process object on import


START = """
import json, os
from pipeline import runtime
from pipeline.tracking.store import MLFLOW_DEFAULTS
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "9"  # the user's own setting wins
first = runtime.start(MLFLOW_DEFAULTS)
print(json.dumps({"same": runtime.process() is first and runtime.start() is first,
                  "retries": os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"],
                  "telemetry": os.environ.get("MLFLOW_DISABLE_TELEMETRY")}))
"""


def test_an_entry_point_starts_one_process_object_and_sets_only_unset_variables():
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MLFLOW_")}
    out = subprocess.run([sys.executable, "-c", START], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout) == {"same": True, "retries": "9", "telemetry": "true"}


def test_fluent_mlflow_settings_are_put_back_exactly(tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import fluent

    from pipeline.tracking.tracker import mlflow_fluent

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///somewhere.db")
    before = (mlflow.get_tracking_uri(), fluent._active_experiment_id)
    with mlflow_fluent(f"sqlite:///{tmp_path / 'x.db'}", "7"):
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'x.db'}" and fluent._active_experiment_id == "7"
    assert (mlflow.get_tracking_uri(), fluent._active_experiment_id) == before
    assert __import__("os").environ["MLFLOW_TRACKING_URI"] == "sqlite:///somewhere.db"
