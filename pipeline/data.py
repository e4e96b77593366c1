"""Datasets as in-memory tensors: the embedded digits set and torchvision's image sets.

Each dataset is pooled, optionally capped by a stratified ``subset``, then split into a training
part (for cross-validation and refit) and a held-out stratified test part, both fixed by ``seed``.
Pixels are scaled to [0, 1]; normalisation happens per fold (``fold_stats``) so that no statistic
of a validation or test sample leaks into training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from pipeline.errors import ConfigError, DataError

log = logging.getLogger(__name__)

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
_TORCHVISION = {"mnist": ("MNIST", "MNIST/raw"), "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
                "cifar10": ("CIFAR10", "cifar-10-batches-py")}


@dataclass
class Dataset:
    """Training and held-out test tensors: ``X`` float32 ``(N, C, H, W)`` in [0, 1], ``y`` int64 ``(N,)``."""

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.X_train.shape[1:])  # type: ignore[return-value]

    def min_class_count(self) -> int:
        return int(torch.bincount(self.y_train, minlength=self.num_classes).min())


def load_dataset(cfg: Any) -> Dataset:
    """Load ``cfg.name`` and split it by ``cfg.test_fraction`` / ``cfg.subset`` / ``cfg.seed``."""
    if cfg.name not in DATASETS:
        raise ConfigError(f"data.name={cfg.name!r} is not a known dataset; expected one of {DATASETS}")
    if not 0.0 < float(cfg.test_fraction) < 1.0:
        raise ConfigError(f"data.test_fraction={cfg.test_fraction} must be in (0, 1)")
    X, y = _load_digits() if cfg.name == "digits" else _load_torchvision(cfg)
    X, y = _take_subset(X, y, cfg.subset, int(cfg.seed))
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=float(cfg.test_fraction), stratify=y, random_state=int(cfg.seed))
    return Dataset(cfg.name, torch.from_numpy(X_tr), torch.from_numpy(y_tr), torch.from_numpy(X_te),
                   torch.from_numpy(y_te), int(y.max()) + 1)


def fold_stats(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of ``X`` ``(N, C, H, W)``, shaped ``(1, C, 1, 1)`` for broadcasting."""
    mean = X.mean(dim=(0, 2, 3), keepdim=True)
    std = X.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return mean, std


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    return X, d.target.astype(np.int64)


def _load_torchvision(cfg: Any) -> tuple[np.ndarray, np.ndarray]:
    """MNIST and Fashion-MNIST through torchvision's readers of the IDX files; CIFAR-10's python batches.

    torchvision's CIFAR10 class insists on the md5 sums of the official archive, so its batches
    (the documented pickle format) are read here; torchvision still does the download.
    """
    import torchvision

    cls_name, sub = _TORCHVISION[cfg.name]
    root = Path(str(cfg.root)).expanduser().resolve()
    cls = getattr(torchvision.datasets, cls_name)
    try:
        if cfg.name == "cifar10":
            if not (root / sub / "data_batch_1").exists() or cfg.download:
                cls(str(root), train=True, download=bool(cfg.download))
            return _read_cifar10(root / sub)
        parts = [cls(str(root), train=train, download=bool(cfg.download)) for train in (True, False)]
    except (RuntimeError, OSError) as e:
        hint = (f"set data.download=true to fetch it, or put the files in {root / sub}"
                if not cfg.download else f"the download failed; put the files in {root / sub} instead")
        raise DataError(f"dataset {cfg.name!r} not found under data.root={str(root)!r}: {hint} ({e})") from None
    X = np.concatenate([_as_nchw(p.data) for p in parts]).astype(np.float32) / 255.0
    y = np.concatenate([np.asarray(p.targets, dtype=np.int64) for p in parts])
    return X, y


def _read_cifar10(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    import pickle

    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        raise OSError(f"missing {missing}")
    xs, ys = [], []
    for name in names:
        with open(folder / name, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch["labels"], dtype=np.int64))
    return np.concatenate(xs).astype(np.float32) / 255.0, np.concatenate(ys)


def _as_nchw(data: Any) -> np.ndarray:
    arr = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    if arr.ndim == 3:  # (N, H, W) grey images
        return arr[:, None, :, :]
    return arr.transpose(0, 3, 1, 2)  # (N, H, W, C) colour images


def _take_subset(X: np.ndarray, y: np.ndarray, subset: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if subset is None or int(subset) >= len(y):
        return X, y
    n_classes = int(y.max()) + 1
    if int(subset) < 2 * n_classes:
        raise ConfigError(f"data.subset={subset} is too small: need at least {2 * n_classes} samples "
                          f"(two per class) for a stratified split")
    X, _, y, _ = train_test_split(X, y, train_size=int(subset), stratify=y, random_state=seed)
    return X, y
