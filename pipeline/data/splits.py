"""Splitting a pooled dataset: an optional stratified cap (``subset``), then a held-out test part, both fixed
by ``seed``; stratified by label for classification, shuffled for regression."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from pipeline.errors import ConfigError


def split_indices(n: int, labels: np.ndarray | None, test_fraction: float, subset: int | None,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` into ``n`` pooled samples (``labels`` ``(n,)`` stratifies, None shuffles)."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"data.test_fraction={test_fraction!r} is invalid: expected a number in (0, 1)")
    for key, value in (("data.seed", seed), ("data.subset", subset)):
        if (value is not None or key == "data.seed") and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigError(f"{key}={value!r} is invalid: expected an integer" + (", or null" if key.endswith(
                "subset") else ""))
    idx = np.arange(n)
    if subset is not None and int(subset) < n:
        idx = _take_subset(idx, labels, int(subset), seed)
    strat = None if labels is None else labels[idx]
    try:
        train, test = train_test_split(idx, test_size=float(test_fraction), stratify=strat, random_state=seed)
    except ValueError as e:
        raise ConfigError(f"data.test_fraction={test_fraction} cannot split {len(idx)} samples: {e}") from None
    return np.sort(train), np.sort(test)


def _take_subset(idx: np.ndarray, labels: np.ndarray | None, subset: Any, seed: int) -> np.ndarray:
    n_classes = 1 if labels is None else len(np.unique(labels))
    if subset < 2 * n_classes:
        raise ConfigError(f"data.subset={subset} is too small: expected at least {2 * n_classes} samples (two per "
                          "class) for a stratified split")
    kept, _ = train_test_split(idx, train_size=subset, stratify=None if labels is None else labels,
                               random_state=seed)
    return np.sort(kept)
