"""The optimizer a plan gets (``_optimizer``): the options the sweeper sets from what it knows of the objectives."""

from __future__ import annotations

from tests.hydra_plugins.test_conditional import planned


def test_bayes_models_the_parameter_count_on_its_log_scale_and_accuracy_as_it_is(tmp_path):
    from hydra_plugins.pipeline_sweeper._optimizer import make_sweep_optimizer

    plan = planned(tmp_path, ["hydra.sweeper.objective=[val_accuracy,n_params]"])
    optimizer, _ = make_sweep_optimizer(plan)
    assert optimizer.log_objectives == (False, True)
    single, _ = make_sweep_optimizer(planned(tmp_path, []))
    assert single.log_objectives == (False,)
