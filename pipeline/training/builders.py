"""Objects built from config entries by ``hydra.utils.instantiate`` (see ``pipeline.contract``): the model,
the optimizer, the scheduler and the loss. A ``_target_`` that does not import, or a callable that refuses
its arguments, is a ``ConfigError`` naming the entry and what was expected."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from omegaconf import DictConfig

from pipeline.errors import ConfigError, DataError

PASSED_THROUGH = (ConfigError, DataError)  # raised by a factory with a message of its own
EXPECTED = {  # what each entry's _target_ must be (pipeline/contract.py)
    "model": "a factory called as f(input_shape=..., num_outputs=..., <its keys>) returning a torch.nn.Module",
    "data": "a callable taking the entry's keys and returning a pipeline.contract.DataSplit",
    "optimizer": "an optimizer class taking params and the entry's keys (with _partial_: true)",
    "scheduler": "a scheduler class taking optimizer and the entry's keys (with _partial_: true)",
    "loss": "a module called as loss(outputs, targets)",
    "preprocess": "a factory called as f(x) with a fold's training inputs, returning a torch.nn.Module",
}


def build(cfg: Any, key: str, **kwargs: Any) -> Any:
    """``instantiate(cfg, **kwargs)``, a ``functools.partial`` result called; errors name ``key._target_``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    target = cfg.get("_target_") if isinstance(cfg, (DictConfig, dict)) else None
    if not target:
        raise ConfigError(f"{key} has no _target_: expected a config entry naming what to build "
                          f"(e.g. {key}._target_=my_package.my_{key})")
    try:
        obj = instantiate(cfg, **kwargs)
        return obj() if isinstance(obj, functools.partial) else obj
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, PASSED_THROUGH):
            raise cause from None
        if "Error locating target" in str(e) or isinstance(cause, ImportError):
            reason = f": {_one_line(str(cause))}" if cause else ""
            raise ConfigError(f"{key}._target_={target!r} cannot be imported{reason}; expected a callable in a "
                              "module Python can import (your package on PYTHONPATH, or pip install -e)") from None
        raise ConfigError(f"{key}._target_={target!r} failed: {_reason(cause or e)}; expected "
                          f"{EXPECTED.get(key, 'a callable taking the entry keys')}") from None
    except PASSED_THROUGH:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{key}._target_={target!r} failed: {_reason(e)}; expected "
                          f"{EXPECTED.get(key, 'a callable taking the entry keys')}") from None


def _reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {_one_line(str(e))}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


PREPROCESS_PROBE = 512  # samples the model check fits a preprocess transform on, to know the shape it gives


def name_of(cfg: Any, default: str = "") -> str:
    """A short name for an entry: the last part of its ``_target_`` (``pipeline.models.mlp`` -> ``mlp``)."""
    target = cfg.get("_target_") if isinstance(cfg, (DictConfig, dict)) else None
    return str(target).rsplit(".", 1)[-1] if target else default


def build_model(cfg: Any, input_shape: tuple[int, ...], num_outputs: int, **data_args: Any) -> torch.nn.Module:
    """The model of ``cfg.model`` for one sample's ``input_shape`` and ``num_outputs`` outputs; ``data_args`` (the
    data's ``model_args``: ``vocab_size``, ``padding_idx``) are passed where the factory names them."""
    wanted = _accepted(cfg.model, data_args)
    model = build(cfg.model, "model", input_shape=tuple(input_shape), num_outputs=int(num_outputs), **wanted)
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"model._target_={cfg.model._target_!r} returned {type(model).__name__}; expected a "
                          "torch.nn.Module")
    return model


def _accepted(entry: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The ``args`` the entry's factory takes: those its signature names (all with ``**kwargs``), less the keys the
    entry sets itself."""
    import inspect

    from hydra.utils import get_method

    if not args:
        return {}
    try:
        params = inspect.signature(get_method(str(entry._target_))).parameters.values()
    except Exception:  # noqa: BLE001 - a factory that does not import is reported when it is built
        return {}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        names = set(args)
    else:
        names = {p.name for p in params} & set(args)
    return {k: v for k, v in args.items() if k in names and k not in entry}


def check_parts(cfg: Any, data: Any) -> None:
    """Build the model, optimizer, scheduler and loss as a trial does and take one training step on two real
    samples of the data: a ``_target_`` that does not import, a factory that rejects the data's shape, a model whose
    output is not ``(N, num_outputs)``, or a loss that refuses the outputs stops before anything is logged."""
    from pipeline.training.batches import Scaling, first_samples

    x, y = first_samples(data.train, 2, data.collate)
    x = x.float() if torch.is_tensor(x) and x.is_floating_point() else x
    shape, after, scaling = tuple(data.input_shape), "", Scaling()
    if cfg.get("preprocess") and cfg.preprocess.get("_target_"):  # the model takes the transform's samples
        probe = first_samples(data.train, PREPROCESS_PROBE, data.collate)[0]
        probe = probe.float() if torch.is_tensor(probe) and probe.is_floating_point() else probe
        try:
            scaling.transform = fit_transform_of(cfg.preprocess, probe)
        except (RuntimeError, ValueError, TypeError, IndexError) as e:
            raise ConfigError(f"preprocess._target_={cfg.preprocess._target_!r} cannot take the data's samples "
                              f"({_reason(e)}); expected {EXPECTED['preprocess']}") from None
        with torch.no_grad():
            x = scaling.transform(x)
        shape, after = tuple(x.shape[1:]), f" (after preprocess={name_of(cfg.preprocess)})"
    args = {**data.model_args, **(getattr(scaling.transform, "model_args", None) or {})}
    try:
        model = build_model(cfg, shape, data.num_outputs, **args)
    except ConfigError as e:
        raise ConfigError(f"{e}{after}") from None
    try:
        out = model.train()(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        raise ConfigError(f"model._target_={cfg.model._target_!r} cannot take the data's samples of shape "
                          f"{shape}{after}: {_reason(e)}") from None
    if tuple(out.shape) not in ((2, data.num_outputs),) + (((2,),) if data.num_outputs == 1 else ()):
        raise ConfigError(f"model._target_={cfg.model._target_!r} gives outputs of shape {tuple(out.shape)[1:]} per "
                          f"sample; expected ({data.num_outputs},) for the data's {data.num_outputs} outputs")
    optimizer = build_optimizer(cfg, model.parameters())
    scheduler = build_scheduler(cfg, optimizer)
    loss_fn = build_loss(cfg, data.task)
    target = y.float() if data.task == "regression" else y
    try:
        loss = loss_fn(out.reshape(target.shape) if data.task == "regression" and out.numel() == target.numel()
                       else out, target)
        loss.backward()
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        what = "loss._target_=" + repr(cfg.loss._target_) if cfg.get("loss") else "the default loss"
        raise ConfigError(f"{what} cannot take the model's outputs: {_reason(e)}") from None
    optimizer.step()
    if scheduler is not None:
        scheduler.step(float(loss)) if is_plateau(cfg.get("scheduler")) else scheduler.step()


def build_optimizer(cfg: Any, params: Any) -> torch.optim.Optimizer:
    """``cfg.optimizer`` (``_partial_: true``, e.g. ``torch.optim.Adam``) over ``params``."""
    return build(cfg.optimizer, "optimizer", params=params)


def build_scheduler(cfg: Any, optimizer: torch.optim.Optimizer) -> Any | None:
    """``cfg.scheduler`` (``_partial_: true``, any ``torch.optim.lr_scheduler`` class) over ``optimizer``; None
    when the entry names nothing (``scheduler=none``). A plateau scheduler is given the mode of ``cv.metric``'s
    direction (``pipeline.objective``), which owns it: the config does not restate it."""
    entry = cfg.get("scheduler")
    if entry is None or not entry.get("_target_"):
        return None
    if is_plateau(entry) and entry.get("mode") is None:
        from pipeline import objective

        return build(entry, "scheduler", optimizer=optimizer, mode=objective.metric(cfg.cv.metric).plateau_mode)
    return build(entry, "scheduler", optimizer=optimizer)


def is_plateau(entry: Any) -> bool:
    """Whether a scheduler entry builds a ``ReduceLROnPlateau`` (stepped with a metric's value)."""
    if entry is None or not entry.get("_target_"):
        return False
    from hydra.utils import get_class

    try:
        cls = get_class(str(entry._target_))
    except Exception:  # noqa: BLE001 - a target that does not import is reported when it is built
        return False
    return issubclass(cls, torch.optim.lr_scheduler.ReduceLROnPlateau)


def build_loss(cfg: Any, task: str) -> torch.nn.Module:
    """``cfg.loss`` when set, else cross-entropy (with label smoothing) for classification, MSE for regression."""
    entry = cfg.get("loss")
    if entry is not None and entry.get("_target_"):
        return build(entry, "loss")
    if task == "classification":
        return torch.nn.CrossEntropyLoss(label_smoothing=float(cfg.regularization.label_smoothing))
    return torch.nn.MSELoss()


# -- preprocess: a feature transform fitted per fold (pipeline.training.preprocess) -----------------------
def fit_transform_of(entry: Any, x: torch.Tensor) -> torch.nn.Module | None:
    """The transform of the ``preprocess`` entry fitted on ``x`` (None for no entry or ``preprocess=none``)."""
    if entry is None or not entry.get("_target_"):
        return None
    return build(entry, "preprocess", x=x)


def transform_fitter(entry: Any) -> Callable[[torch.Tensor], torch.nn.Module | None] | None:
    """What ``batches.fold_scaling`` calls to fit the entry's transform on a fold (None: no transform)."""
    if entry is None or not entry.get("_target_"):
        return None
    return functools.partial(fit_transform_of, entry)
