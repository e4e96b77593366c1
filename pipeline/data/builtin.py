"""Built-in data entries, in memory: scikit-learn's embedded digits and torchvision's image sets.

Each is pooled, optionally capped by a stratified ``subset``, then split into a training part (for
cross-validation and refit) and a held-out stratified test part, both fixed by ``seed``. Pixels are
scaled to [0, 1]; normalisation happens per fold, from each fold's training part only.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.contract import DataSplit, TensorData
from pipeline.data.splits import split_indices
from pipeline.errors import DataError

_TORCHVISION = {"mnist": ("MNIST", "MNIST/raw"), "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
                "cifar10": ("CIFAR10", "cifar-10-batches-py")}


def digits(test_fraction: float = 0.2, subset: int | None = None, seed: int = 0) -> DataSplit:
    """scikit-learn's 1797 real 8x8 handwritten digits, shipped inside its wheel: ``(1, 8, 8)`` images, 10 classes."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    return in_memory(X, d.target.astype(np.int64), test_fraction, subset, seed, "digits")


def mnist(root: str = "data", download: bool = False, test_fraction: float = 0.2, subset: int | None = None,
          seed: int = 0) -> DataSplit:
    """torchvision's MNIST (both of its parts pooled, then split): ``(1, 28, 28)``, 10 classes."""
    return _torchvision("mnist", root, download, test_fraction, subset, seed)


def fashion_mnist(root: str = "data", download: bool = False, test_fraction: float = 0.2, subset: int | None = None,
                  seed: int = 0) -> DataSplit:
    """torchvision's Fashion-MNIST: ``(1, 28, 28)``, 10 classes."""
    return _torchvision("fashion_mnist", root, download, test_fraction, subset, seed)


def cifar10(root: str = "data", download: bool = False, test_fraction: float = 0.2, subset: int | None = None,
            seed: int = 0) -> DataSplit:
    """CIFAR-10 (torchvision's download, its python batches read here): ``(3, 32, 32)``, 10 classes."""
    return _torchvision("cifar10", root, download, test_fraction, subset, seed)


def in_memory(X: np.ndarray, y: np.ndarray, test_fraction: float, subset: int | None, seed: int, name: str,
              task: str = "classification") -> DataSplit:
    """Pooled arrays split into in-memory training and test parts (stratified for classification)."""
    train, test = split_indices(len(y), y if task == "classification" else None, test_fraction, subset, seed)
    X_t, y_t = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(np.ascontiguousarray(y))
    return DataSplit(TensorData(X_t[train], y_t[train]), TensorData(X_t[test], y_t[test]), task=task, name=name)


def _torchvision(name: str, root: Any, download: bool, test_fraction: float, subset: int | None,
                 seed: int) -> DataSplit:
    """MNIST and Fashion-MNIST through torchvision's readers of the IDX files; CIFAR-10's python batches.

    torchvision's CIFAR10 class insists on the md5 sums of the official archive, so its batches
    (the documented pickle format) are read here; torchvision still does the download.
    """
    import torchvision

    cls_name, sub = _TORCHVISION[name]
    root = Path(str(root)).expanduser().resolve()
    cls = getattr(torchvision.datasets, cls_name)
    try:
        if name == "cifar10":
            if not (root / sub / "data_batch_1").exists() or download:
                cls(str(root), train=True, download=bool(download))
            X, y = _read_cifar10(root / sub)
        else:
            parts = [cls(str(root), train=train, download=bool(download)) for train in (True, False)]
            X = np.concatenate([_as_nchw(p.data) for p in parts]).astype(np.float32) / 255.0
            y = np.concatenate([np.asarray(p.targets, dtype=np.int64) for p in parts])
    except (RuntimeError, OSError) as e:
        hint = (f"set data.download=true to fetch it, or put the files in {root / sub}"
                if not download else f"the download failed; put the files in {root / sub} instead")
        raise DataError(f"dataset {name!r} not found under data.root={str(root)!r}: {hint} ({e})") from None
    return in_memory(X, y, test_fraction, subset, seed, name)


def _read_cifar10(folder: Path) -> tuple[np.ndarray, np.ndarray]:
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
