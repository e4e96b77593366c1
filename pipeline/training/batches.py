"""Mini-batches for the training loop, from either kind of data part (``pipeline.contract``), and the
per-fold scaling they apply.

* ``TensorBatches``: in-memory tensors, normalised once and moved to the device once; a batch is an index
  slice (the fast path that keeps small trials quick).
* ``LoaderBatches``: a map-style dataset read through a ``DataLoader`` (workers, pinned memory and
  non-blocking copies on CUDA); samples are normalised on the device, batch by batch, and the training-only
  transform (augmentation) runs in the loader's workers.

``Scaling`` holds the statistics of a fold's training part: per channel (images ``(C, H, W)``) or per feature
(tables ``(F,)``) for floating inputs (integer inputs, token ids, are never standardised), per target for
regression outputs. For a dataset they are streamed through the loader in float64, never loading the part at
once. A data entry's ``collate`` (``DataSplit.collate``) batches samples of unequal shapes or structured inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from pipeline.contract import Part, TensorData

MIN_STD = 1e-6   # a constant channel is divided by this, not by zero
STATS_BATCH = 256  # samples per loader batch while computing a fold's statistics
TRANSFORM_FIT_MAX = 20_000  # training samples a fold's feature transform is fitted on, at most (a seeded subset)
EVAL_CHUNK = 4096  # in-memory samples per forward pass when evaluating


@dataclass
class Scaling:
    """Input statistics ``(1, C, 1, ...)`` and, for regression, target statistics ``(T,)``; None = not scaled."""

    x_mean: torch.Tensor | None = None
    x_std: torch.Tensor | None = None
    y_mean: torch.Tensor | None = None
    y_std: torch.Tensor | None = None
    transform: torch.nn.Module | None = None  # the fitted ``preprocess`` entry, after standardisation

    def to(self, device: torch.device) -> Scaling:
        moved = (None if t is None else t.to(device) for t in (self.x_mean, self.x_std, self.y_mean, self.y_std))
        return Scaling(*moved, None if self.transform is None else self.transform.to(device))

    def inputs(self, x: Any) -> Any:
        if self.x_mean is not None and torch.is_tensor(x) and x.is_floating_point():
            x = (x - self.x_mean) / self.x_std
        if self.transform is not None:
            with torch.no_grad():
                x = self.transform.to(_device_of(x))(x)
        return x

    def sample_shape(self, input_shape: tuple[int, ...], dtype: torch.dtype | None = None) -> tuple[int, ...]:
        """A sample's shape as the model receives it (a ``preprocess`` transform may change it)."""
        if self.transform is None:
            return tuple(input_shape)
        with torch.no_grad():
            probe = torch.zeros((1, *input_shape), dtype=dtype or torch.float32,
                                device=next(iter(self.transform.buffers())).device)
            return tuple(self.transform(probe).shape[1:])

    def model_args(self, input_shape: tuple[int, ...], dtype: torch.dtype | None, data_args: dict[str, Any]
                   ) -> dict[str, Any]:
        """What the model factory receives besides ``num_outputs``: the sample's shape as the model sees it and the
        data's ``model_args``, updated by the fitted transform's (a fold's vocabulary size)."""
        extra = dict(getattr(self.transform, "model_args", None) or {})
        return {"input_shape": self.sample_shape(input_shape, dtype), **data_args, **extra}

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        """Regression targets ``(B,)`` or ``(B, T)`` in the units the model is trained in."""
        if self.y_mean is None:
            return y
        return (y - self.y_mean[0]) / self.y_std[0] if y.dim() == 1 else (y - self.y_mean) / self.y_std

    def outputs(self, out: torch.Tensor) -> torch.Tensor:
        """Model outputs back in the targets' units."""
        return out if self.y_mean is None else out * self.y_std + self.y_mean


class _Moments:
    """Running per-column sums and sums of squares in float64."""

    def __init__(self) -> None:
        self.sums: torch.Tensor | None = None
        self.squares: torch.Tensor | None = None
        self.count = 0

    def add(self, columns: torch.Tensor) -> None:
        """``columns`` ``(n, k)``: ``n`` more observations of ``k`` columns."""
        columns = columns.double()
        s, q = columns.sum(0), (columns ** 2).sum(0)
        self.sums = s if self.sums is None else self.sums + s
        self.squares = q if self.squares is None else self.squares + q
        self.count += len(columns)

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and (population) standard deviation, as float32."""
        mean = self.sums / self.count
        var = (self.squares / self.count - mean ** 2).clamp_min(0.0)
        return mean.float(), var.sqrt().float().clamp_min(MIN_STD)


def _as_columns(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, ...)`` -> ``(B * ..., C)``: each channel (feature) one column; ``(B,)`` -> ``(B, 1)``."""
    if x.dim() == 1:
        return x[:, None]
    return x.movedim(1, -1).reshape(-1, x.shape[1])


Collate = Callable[[Sequence[tuple[Any, Any]]], tuple[Any, torch.Tensor]]


def fold_scaling(part: Part, indices: np.ndarray, task: str, normalize: bool, num_workers: int = 0,
                 fit_transform: Callable[[torch.Tensor], torch.nn.Module | None] | None = None,
                 collate_fn: Collate | None = None) -> Scaling:
    """The scaling fitted on the samples ``indices`` of ``part`` (a fold's training part only), and a transform
    ``fit_transform`` fits on them after it (the ``preprocess`` entry: ``pipeline.training.preprocess``), on at
    most ``TRANSFORM_FIT_MAX`` of them."""
    out = _standardisation(part, indices, task, normalize, num_workers, collate_fn)
    if fit_transform is not None:
        chosen = indices if len(indices) <= TRANSFORM_FIT_MAX else np.sort(
            np.random.default_rng(0).choice(indices, TRANSFORM_FIT_MAX, replace=False))
        x = torch.cat([xb for xb, _ in _stat_batches(part, chosen, num_workers, collate_fn)])
        out.transform = fit_transform(out.inputs(x))
    return out


def _standardisation(part: Part, indices: np.ndarray, task: str, normalize: bool, num_workers: int,
                     collate_fn: Collate | None = None) -> Scaling:
    """Per-channel statistics of floating inputs (none for integer or structured ones) and, for regression, of the
    targets."""
    if not normalize:
        return Scaling()
    x_stats, y_stats = _Moments(), _Moments()
    sample_dim, scaled = 1, True
    for xb, yb in _stat_batches(part, indices, num_workers, collate_fn):
        scaled = torch.is_tensor(xb) and xb.is_floating_point()
        if scaled:
            sample_dim = xb.dim() - 1
            x_stats.add(_as_columns(xb))
        if task == "regression":
            y_stats.add(yb.reshape(len(yb), -1))
        elif not scaled:
            break  # nothing to learn from integer inputs
    out = Scaling()
    if scaled and x_stats.count:
        x_mean, x_std = x_stats.result()
        shape = (1, -1, *([1] * max(sample_dim - 1, 0)))
        out = Scaling(x_mean.reshape(shape), x_std.reshape(shape))
    if task == "regression":
        out.y_mean, out.y_std = y_stats.result()
    return out


def _stat_batches(part: Part, indices: np.ndarray, num_workers: int, collate_fn: Collate | None = None
                  ) -> Iterator[tuple[Any, torch.Tensor]]:
    if isinstance(part, TensorData):
        idx = torch.as_tensor(indices)
        yield part.X[idx], part.y[idx]
        return
    loader = DataLoader(Subset(part, indices.tolist()), batch_size=STATS_BATCH, num_workers=num_workers,
                        collate_fn=collate_fn or collate)
    yield from loader


def collate(items: Sequence[tuple[Any, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(x, y)`` items into inputs of their own dtype (float64 as float32; integer token ids stay integer)
    and targets (int64 labels stay int64)."""
    xs, ys = zip(*items)
    x = torch.stack([torch.as_tensor(v) for v in xs])
    y = torch.as_tensor(np.asarray([np.asarray(v) for v in ys])) if not torch.is_tensor(ys[0]) else torch.stack(ys)
    return (x.float() if x.is_floating_point() else x), y


def first_samples(part: Part, n: int, collate_fn: Collate | None = None) -> tuple[Any, torch.Tensor]:
    """The first ``n`` samples of a part as a batch ``(inputs, targets)``, unscaled, of the data's own dtype: what
    the checks probe with."""
    if isinstance(part, TensorData):
        return part.X[:n], part.y[:n]
    return (collate_fn or collate)([part[i] for i in range(min(n, len(part)))])


def to_device(x: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """A batch's inputs on ``device``: a tensor, or the tensors of a tuple, list or mapping (a data's collate)."""
    if torch.is_tensor(x):
        return x.to(device, non_blocking=non_blocking)
    if isinstance(x, dict):
        return {k: to_device(v, device, non_blocking) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(to_device(v, device, non_blocking) for v in x)
    return x


def _device_of(x: Any) -> torch.device:
    if torch.is_tensor(x):
        return x.device
    values = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (tuple, list)) else []
    return next((v.device for v in values if torch.is_tensor(v)), torch.device("cpu"))


class TensorBatches:
    """An in-memory part's samples ``indices``, scaled and on ``device``; batches are index slices."""

    def __init__(self, data: TensorData, indices: np.ndarray | None, scaling: Scaling, device: torch.device,
                 batch_size: int) -> None:
        idx = torch.as_tensor(indices) if indices is not None else torch.arange(len(data))
        self.X = scaling.inputs(data.X[idx].to(device))
        self.y = data.y[idx].to(device)
        self.batch_size, self.device = int(batch_size), device

    def __len__(self) -> int:
        return len(self.y)

    def epoch(self, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches in a shuffled order (with ``generator``; a last batch of one sample is dropped, since batch
        norm cannot train on it), or in order (evaluation)."""
        n = len(self.y)
        if generator is None:
            chunk = max(self.batch_size, EVAL_CHUNK)
            for start in range(0, n, chunk):
                yield self.X[start:start + chunk], self.y[start:start + chunk]
            return
        perm = torch.randperm(n, generator=generator).to(self.device)
        for start in range(0, n, self.batch_size):
            idx = perm[start:start + self.batch_size]
            if len(idx) < 2 and n > 1:
                continue
            yield self.X[idx], self.y[idx]


class _Transformed(Dataset):
    """``dataset``'s items with ``transform`` applied to their inputs (training samples only)."""

    def __init__(self, dataset: Any, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        x, y = self.dataset[i]
        return self.transform(torch.as_tensor(x)), y


class LoaderBatches:
    """A dataset's samples ``indices`` through a ``DataLoader``, scaled on ``device`` batch by batch."""

    def __init__(self, dataset: Any, indices: np.ndarray | None, scaling: Scaling, device: torch.device,
                 batch_size: int, transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 num_workers: int = 0, collate_fn: Collate | None = None) -> None:
        subset = Subset(dataset, indices.tolist()) if indices is not None else dataset
        self.dataset = _Transformed(subset, transform) if transform is not None else subset
        self.scaling, self.device, self.batch_size = scaling.to(device), device, int(batch_size)
        self.num_workers = int(num_workers)
        self.collate = collate_fn or collate
        self.pin = device.type == "cuda"
        self._epochs = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def epoch(self, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """As ``TensorBatches.epoch``: the same order for the same generator (``torch.randperm``), so both
        paths train alike; the loader's own seeds (its workers') come from a generator of their own, so that
        neither ``generator`` nor torch's global random state is consumed by the loader."""
        order = torch.randperm(len(self.dataset), generator=generator).tolist() if generator is not None else None
        self._epochs += 1
        seeds = torch.Generator().manual_seed((generator.initial_seed() if generator is not None else 0) + self._epochs)
        loader = DataLoader(self.dataset, batch_size=self.batch_size, sampler=order, generator=seeds,
                            num_workers=self.num_workers, pin_memory=self.pin, collate_fn=self.collate)
        for xb, yb in loader:
            if generator is not None and len(yb) < 2 < len(self.dataset):
                continue  # batch norm cannot train on one sample
            yield (self.scaling.inputs(to_device(xb, self.device, self.pin)),
                   yb.to(self.device, non_blocking=self.pin))


def batches(part: Part, indices: np.ndarray | None, scaling: Scaling, device: torch.device, batch_size: int,
            transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
            num_workers: int = 0, collate_fn: Collate | None = None) -> TensorBatches | LoaderBatches:
    """The right kind of batches for ``part`` (``transform``: training batches of a dataset only)."""
    if isinstance(part, TensorData):
        return TensorBatches(part, indices, scaling.to(device), device, batch_size)
    return LoaderBatches(part, indices, scaling, device, batch_size, transform, num_workers, collate_fn)
