"""The default configuration a sweep records (``_defaults``): each searched parameter's value in the app's config."""

from __future__ import annotations

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import RunMode

from hydra_plugins.pipeline_sweeper._compose import ComposeCache
from hydra_plugins.pipeline_sweeper._defaults import with_defaults
from tests.hydra_plugins.test_conditional import CONF, planned


def defaults_of(tmp_path, overrides: list[str], space: dict[str, str] | None = None) -> dict | None:
    loader = ComposeCache(ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF))))
    master = loader.load_configuration("config", [*overrides, f"tracking.uri=sqlite:///{tmp_path / 'p.db'}"],
                                       RunMode.MULTIRUN)
    return with_defaults(planned(tmp_path, overrides, space), loader, master).defaults


def test_a_family_search_starts_from_the_configs_own_family_and_its_values(tmp_path):
    from omegaconf import OmegaConf

    found = defaults_of(tmp_path, ["+sweep=families"])
    base = OmegaConf.load(CONF / "model" / "mlp.yaml")
    assert found["model"] == "mlp"  # the group's option in the defaults list
    assert found["model.num_layers"] == base.num_layers and found["model.hidden_dim"] == base.hidden_dim
    assert "model.channels" not in found and "model.depth" not in found  # the cnn's and net's keys: inactive there


def test_a_fixed_override_is_part_of_the_default_and_an_appended_key_is_not(tmp_path):
    from omegaconf import OmegaConf

    found = defaults_of(tmp_path, [], {"model": "cnn", "model.channels": "4,8", "+extra": "1,2"})
    assert found == {"model.channels": OmegaConf.load(CONF / "model" / "cnn.yaml").channels}


def test_a_value_only_a_trial_resolves_is_left_out_of_the_default_configuration():
    from omegaconf import OmegaConf

    from hydra_plugins.pipeline_sweeper._defaults import _value

    cfg = OmegaConf.create({"lr": "${oc.env:SURELY_UNSET_VARIABLE_42}", "wd": 0.1, "hydra": {"runtime": {}}})

    class Loader:  # no config groups
        @staticmethod
        def list_groups(_: str) -> list[str]:
            return []

    assert _value(cfg, Loader(), "lr") is None and _value(cfg, Loader(), "wd") == 0.1
