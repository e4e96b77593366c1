"""The sweeper is found by Hydra's plugin discovery (from outside the repo) and passes Hydra's own suite."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite


def test_discovered_from_another_directory(tmp_path):
    code = ("from hydra.core.plugins import Plugins; from hydra.plugins.sweeper import Sweeper; "
            "print(sorted(p.__name__ for p in Plugins.instance().discover(Sweeper)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "PipelineSweeper" in out.stdout


def test_sweeper_configs_registered():
    from hydra.core.config_store import ConfigStore

    import hydra_plugins.pipeline_sweeper.config  # noqa: F401

    names = ConfigStore.instance().list("hydra/sweeper")
    assert {"grid.yaml", "random.yaml", "bayes.yaml", "evolution.yaml"} <= set(names)


@pytest.mark.parametrize("launcher_name, overrides", [("basic", ["hydra/sweeper=grid", "hydra.sweeper.batch_size=2"])])
class TestGridSweeperBatches(BatchedSweeperTestSuite):
    """Hydra's batched-sweeper suite: 6 grid points in 3 batches of 2, in the basic sweeper's order."""
