"""The fitted feature transforms of ``preprocess`` (``pipeline.training.preprocess`` fits them) as torch modules,
and their checkpoint form. Only torch: a served model's pickle imports this module wherever it is loaded."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class QuantileMap(nn.Module):
    """Each feature through its fitted quantiles to a standard normal (``preprocess=quantile``): ``levels``
    ``(Q, F)`` are the feature's training quantiles at ``Q`` evenly spaced probabilities; values between them are
    interpolated, values beyond them clipped. Samples keep their shape."""

    def __init__(self, levels: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("levels", levels.detach().clone().float().T.contiguous())  # (F, Q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1).T.contiguous()                                  # (F, N)
        q = self.levels.shape[1]
        i = torch.searchsorted(self.levels, flat).clamp(1, q - 1)
        lo, hi = self.levels.gather(1, i - 1), self.levels.gather(1, i)
        frac = ((flat - lo) / (hi - lo).clamp_min(1e-12)).clamp(0.0, 1.0)
        u = ((i - 1 + frac) / (q - 1)).clamp(1e-4, 1 - 1e-4)
        return (torch.erfinv(2 * u - 1) * 2**0.5).T.reshape(x.shape)


class Project(nn.Module):
    """Principal components (``preprocess=pca``): the flattened sample, centred, onto ``components`` ``(k, F)``
    (divided by each component's scale when whitened). Samples become ``(k,)``."""

    def __init__(self, mean: torch.Tensor, components: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("components", components.detach().clone().float())
        self.register_buffer("scale", scale.detach().clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(len(x), -1) - self.mean) @ self.components.T / self.scale


class VocabMap(nn.Module):
    """Token ids of the data's word index mapped to a fold's vocabulary: ``table[id]`` (0 padding, 1 unknown, 2.. the
    kept words), sequences cut to ``max_length`` tokens. Tells the model factory its ``vocab_size``."""

    def __init__(self, table: torch.Tensor, max_length: int) -> None:
        super().__init__()
        self.register_buffer("table", table.long())
        self.max_length = int(max_length)

    @property
    def model_args(self) -> dict[str, int]:
        return {"vocab_size": int(self.table.max()) + 1, "padding_idx": 0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :self.max_length].long()
        known = x < len(self.table)
        return torch.where(known, self.table[x.clamp(max=len(self.table) - 1)], torch.ones_like(x) * (x > 0))


class LogMel(nn.Module):
    """Waveforms ``(N, 1, T)`` to standardised log-mel spectrograms ``(N, 1, n_mels, frames)``: torch's STFT (Hann
    window), power spectrum, triangular mel filters, log, then each band's fitted mean and standard deviation."""

    def __init__(self, filters: torch.Tensor, n_fft: int, win_length: int, hop_length: int,
                 mean: torch.Tensor | None = None, std: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("filters", filters.float())
        self.register_buffer("window", torch.hann_window(int(win_length)))
        self.n_fft, self.win_length, self.hop_length = int(n_fft), int(win_length), int(hop_length)
        n = filters.shape[0]
        self.register_buffer("mean", torch.zeros(n) if mean is None else mean.float())
        self.register_buffer("std", torch.ones(n) if std is None else std.float())

    def log_mel(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, n_mels, frames)``, not yet standardised."""
        wave = x.reshape(len(x), -1).float()
        spec = torch.stft(wave, self.n_fft, self.hop_length, self.win_length, self.window.to(wave.device),
                          center=True, return_complex=True).abs() ** 2
        return torch.log(self.filters.to(wave.device) @ spec + 1e-10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.log_mel(x)
        return ((m - self.mean[:, None]) / self.std[:, None]).unsqueeze(1)


def transform_state(transform: nn.Module | None) -> dict[str, Any] | None:
    """A fitted ``preprocess`` transform as tensors and plain values (a checkpoint loads with ``weights_only``)."""
    if transform is None:
        return None
    if isinstance(transform, QuantileMap):
        return {"kind": "quantile", "levels": transform.levels.T.contiguous()}
    if isinstance(transform, Project):
        return {"kind": "pca", "mean": transform.mean, "components": transform.components, "scale": transform.scale}
    if isinstance(transform, VocabMap):
        return {"kind": "vocab", "table": transform.table, "max_length": transform.max_length}
    if isinstance(transform, LogMel):
        return {"kind": "logmel", "filters": transform.filters, "n_fft": transform.n_fft,
                "win_length": transform.win_length, "hop_length": transform.hop_length, "mean": transform.mean,
                "std": transform.std}
    raise TypeError(f"a preprocess transform of type {type(transform).__name__} cannot be written to a checkpoint")


def transform_from_state(state: dict[str, Any] | None) -> nn.Module | None:
    if state is None:
        return None
    if state["kind"] == "quantile":
        return QuantileMap(state["levels"])
    if state["kind"] == "vocab":
        return VocabMap(state["table"], state["max_length"])
    if state["kind"] == "logmel":
        return LogMel(state["filters"], state["n_fft"], state["win_length"], state["hop_length"], state["mean"],
                      state["std"])
    return Project(state["mean"], state["components"], state["scale"])
