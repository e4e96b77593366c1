"""``image_folder``: a user's own images, one folder per class (torchvision's ``ImageFolder``), read from disk
through a ``DataLoader`` as they are needed: the built-in entry for data that does not fit in memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.contract import DataSplit
from pipeline.data.splits import split_indices
from pipeline.errors import DataError


def image_folder(root: str, image_size: int | Sequence[int] | None = None, grayscale: bool = False,
                 test_fraction: float = 0.2, subset: int | None = None, seed: int = 0,
                 train_transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> DataSplit:
    """Images under ``root/<class>/`` as ``(C, H, W)`` tensors in [0, 1] (resized to ``image_size`` when given,
    one grey channel when ``grayscale``), split by a stratified held-out test part; ``train_transform``
    (augmentation, on tensors) is applied to training samples only."""
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    folder = Path(str(root)).expanduser().resolve()
    steps: list[Any] = [transforms.Grayscale(1)] if grayscale else [transforms.Lambda(_rgb)]
    if image_size is not None:
        steps.append(transforms.Resize(_size(image_size)))
    steps.append(transforms.ToTensor())
    try:
        dataset = ImageFolder(str(folder), transform=transforms.Compose(steps))
    except (FileNotFoundError, OSError) as e:
        raise DataError(f"data.root={str(folder)!r}: no images in class folders there ({e}); expected "
                        "root/<class name>/<image files>") from None
    labels = np.asarray(dataset.targets, dtype=np.int64)
    train, test = split_indices(len(labels), labels, test_fraction, subset, seed)
    return DataSplit(torch.utils.data.Subset(dataset, train.tolist()), torch.utils.data.Subset(dataset, test.tolist()),
                     task="classification", num_outputs=len(dataset.classes), targets=torch.from_numpy(labels[train]),
                     train_transform=train_transform, name=folder.name, class_names=tuple(dataset.classes))


def _rgb(image: Any) -> Any:
    return image.convert("RGB")


def _size(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = (int(v) for v in image_size)
    return h, w
