"""Feature engineering as a searched config group (``conf/preprocess/``): a transform fitted on each fold's
training part only (after the trainer's standardisation, ``trainer.normalize``), applied to every batch of that
fold and carried inside the served model (``pipeline.results.serving``), like the normalisation statistics.

An entry is a factory ``f(x) -> torch.nn.Module`` called with the fold's standardised training inputs ``(N, ...)``
(at most ``batches.TRANSFORM_FIT_MAX`` of them; ``builders.transform_fitter``), or none (``preprocess=none``).
Built in: ``quantile`` (each feature to a normal
through its quantiles, scikit-learn's ``QuantileTransformer`` as a torch module) and ``pca`` (principal components,
scikit-learn's ``PCA``, samples become ``(n_components,)``)."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.errors import ConfigError
from pipeline.training.transforms import Project, QuantileMap


def quantile(x: torch.Tensor, n_quantiles: int = 100) -> QuantileMap:
    """Each feature mapped to a standard normal through ``n_quantiles`` quantiles of its training values."""
    if isinstance(n_quantiles, bool) or not isinstance(n_quantiles, int) or n_quantiles < 2:
        raise ConfigError(f"preprocess.n_quantiles={n_quantiles!r} is invalid: expected an integer >= 2")
    flat = x.reshape(len(x), -1).double().numpy()
    levels = np.quantile(flat, np.linspace(0.0, 1.0, min(n_quantiles, len(flat))), axis=0)
    return QuantileMap(torch.as_tensor(np.maximum.accumulate(levels, axis=0)))


def pca(x: torch.Tensor, n_components: int = 16, whiten: bool = False) -> Project:
    """The first ``n_components`` principal components of the flattened training samples."""
    from sklearn.decomposition import PCA

    flat = x.reshape(len(x), -1).double().numpy()
    limit = min(flat.shape)
    if isinstance(n_components, bool) or not isinstance(n_components, int) or not 1 <= n_components <= limit:
        raise ConfigError(f"preprocess.n_components={n_components!r} is invalid: expected an integer in [1, "
                          f"{limit}] (the fold's samples and features)")
    if not isinstance(whiten, bool):
        raise ConfigError(f"preprocess.whiten={whiten!r} is invalid: expected true or false")
    fitted = PCA(n_components=n_components, whiten=whiten, svd_solver="full", random_state=0).fit(flat)
    scale = np.sqrt(fitted.explained_variance_) if whiten else np.ones(n_components)
    return Project(torch.as_tensor(fitted.mean_), torch.as_tensor(fitted.components_),
                   torch.as_tensor(np.maximum(scale, 1e-12)))
