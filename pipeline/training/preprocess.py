"""Feature engineering as a searched config group (``conf/preprocess/``): a transform fitted on each fold's
training part only (after the trainer's standardisation, ``trainer.normalize``), applied to every batch of that
fold and carried inside the served model (``pipeline.results.serving``), like the normalisation statistics.

An entry is a factory ``f(x) -> torch.nn.Module`` called with the fold's standardised training inputs ``(N, ...)``
(at most ``batches.TRANSFORM_FIT_MAX`` of them; ``builders.transform_fitter``), or none (``preprocess=none``).
Built in: ``quantile`` (each feature to a normal
through its quantiles, scikit-learn's ``QuantileTransformer`` as a torch module), ``pca`` (principal components,
scikit-learn's ``PCA``, samples become ``(n_components,)``), for token ids ``vocab`` (a fold's vocabulary) and for
waveforms ``logmel`` (log-mel spectrograms, samples become ``(1, n_mels, frames)``)."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.errors import ConfigError
from pipeline.training.transforms import LogMel, Project, QuantileMap, VocabMap


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


def vocab(x: torch.Tensor, max_vocab: int = 20000, min_freq: int = 1, max_length: int = 128) -> VocabMap:
    """The fold's vocabulary: the ``max_vocab`` words most frequent in its training texts ``x`` (token ids of the
    data's word index, 0 padding), each seen at least ``min_freq`` times; other words become one unknown id, and
    texts are cut to ``max_length`` tokens."""
    for key, value, low in (("max_vocab", max_vocab, 1), ("min_freq", min_freq, 1), ("max_length", max_length, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"preprocess.{key}={value!r} is invalid: expected an integer >= {low}")
    if x.is_floating_point():
        raise ConfigError("preprocess=vocab takes token ids (integer inputs); expected a text data entry "
                          "(data=rotten_tomatoes, text_folder, text_csv)")
    ids = x[:, :max_length].reshape(-1)
    counts = torch.bincount(ids[ids > 0], minlength=int(x.max()) + 1)
    order = torch.argsort(-counts, stable=True)
    kept = order[(counts[order] >= min_freq) & (order > 0)][:max_vocab]
    table = torch.ones(int(x.max()) + 1, dtype=torch.long)  # 1: unknown
    table[0] = 0
    table[kept] = torch.arange(2, len(kept) + 2)
    return VocabMap(table, max_length)


def mel_filters(n_mels: int, n_fft: int, sample_rate: int) -> torch.Tensor:
    """Triangular filters ``(n_mels, n_fft // 2 + 1)`` evenly spaced on the HTK mel scale from 0 Hz to Nyquist."""
    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = hz(np.linspace(0.0, mel(np.array(sample_rate / 2.0)), n_mels + 2))
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / np.maximum(center - lower, 1e-9)
    falling = (upper - freqs) / np.maximum(upper - center, 1e-9)
    return torch.as_tensor(np.maximum(0.0, np.minimum(rising, falling)), dtype=torch.float32)


def logmel(x: torch.Tensor, sample_rate: int = 16000, n_mels: int = 40, window_ms: float = 25.0,
           hop_ms: float = 10.0) -> LogMel:
    """Log-mel spectrograms of waveforms ``x (N, 1, T)`` (``n_mels`` bands, a Hann window of ``window_ms``, a hop
    of ``hop_ms``), each band standardised with the fold's training statistics."""
    if x.dim() != 3 or x.shape[1] != 1 or not x.is_floating_point():
        raise ConfigError(f"preprocess=logmel takes mono waveforms (1, T); the data's samples are "
                          f"{tuple(x.shape[1:])} of {x.dtype}; expected an audio data entry (data=audio_folder)")
    if isinstance(n_mels, bool) or not isinstance(n_mels, int) or n_mels < 1:
        raise ConfigError(f"preprocess.n_mels={n_mels!r} is invalid: expected an integer >= 1")
    win = int(round(sample_rate * float(window_ms) / 1000.0))
    hop = int(round(sample_rate * float(hop_ms) / 1000.0))
    if not 2 <= win <= x.shape[-1] or hop < 1:
        raise ConfigError(f"preprocess.window_ms={window_ms!r}, hop_ms={hop_ms!r} are invalid: expected a window of "
                          f"2 samples up to the clip's {x.shape[-1]} and a hop of at least 1 sample at "
                          f"{sample_rate} Hz")
    n_fft = 1 << (win - 1).bit_length()
    if n_mels > n_fft // 2:
        raise ConfigError(f"preprocess.n_mels={n_mels} is invalid: expected at most {n_fft // 2} bands for a "
                          f"{window_ms} ms window")
    transform = LogMel(mel_filters(n_mels, n_fft, sample_rate), n_fft, win, hop)
    sums = torch.zeros(n_mels, dtype=torch.float64)
    squares = torch.zeros(n_mels, dtype=torch.float64)
    count = 0
    with torch.no_grad():
        for start in range(0, len(x), 256):
            m = transform.log_mel(x[start:start + 256]).double()
            sums += m.sum((0, 2))
            squares += (m ** 2).sum((0, 2))
            count += m.shape[0] * m.shape[2]
    mean = sums / count
    std = (squares / count - mean ** 2).clamp_min(1e-12).sqrt()
    return LogMel(transform.filters, n_fft, win, hop, mean.float(), std.float())
