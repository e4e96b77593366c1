"""Audio data entries: a folder of ``.wav`` files per class, read as mono waveforms at one sample rate and one
duration (resampled, trimmed or zero-padded), in memory as float ``(N, 1, T)``.

Features are computed on the fly by the ``logmel`` preprocess entry (``pipeline.training.preprocess.logmel``:
log-mel spectrograms with torch's own STFT, ``n_mels``, window and hop searchable, per-band statistics from each
fold's training part), so the served model takes waveforms. WAV files are read with scipy (PCM 8/16/32-bit and
float), resampled with its polyphase filter; nothing beyond numpy, scipy and torch is needed (torchaudio would
pin torch to another version).
"""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import torch

from pipeline.contract import DataSplit, TensorData
from pipeline.data.splits import split_indices
from pipeline.errors import DataError


def read_wav(path: Path, sample_rate: int, duration: float) -> np.ndarray:
    """One file as float32 mono samples in [-1, 1], at ``sample_rate``, cut or zero-padded to ``duration`` s."""
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    try:
        rate, data = wavfile.read(path)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable WAV file ({e}); expected PCM or float WAV") from None
    x = data.astype(np.float32)
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        x = (x - (info.max + info.min + 1) / 2) / (2 ** (info.bits - 1))
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate != sample_rate:
        g = gcd(int(rate), int(sample_rate))
        x = resample_poly(x, int(sample_rate) // g, int(rate) // g).astype(np.float32)
    n = int(round(sample_rate * duration))
    return np.pad(x[:n], (0, max(0, n - len(x))))


def audio_folder(path: str, sample_rate: int = 16000, duration: float = 1.0, test_fraction: float = 0.2,
                 subset: int | None = None, seed: int = 0) -> DataSplit:
    """``path/<class>/*.wav``: one clip per file, its folder its class; waveforms ``(1, sample_rate * duration)``."""
    root = Path(str(path)).expanduser()
    if not root.is_dir():
        raise DataError(f"data.path={str(path)!r} is not a folder; expected a folder with one sub-folder of .wav "
                        "files per class")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1000:
        raise DataError(f"data.sample_rate={sample_rate!r} is invalid: expected an integer >= 1000 (Hz)")
    if not isinstance(duration, (int, float)) or not 0 < duration <= 60:
        raise DataError(f"data.duration={duration!r} is invalid: expected seconds in (0, 60]")
    files = [(f, d.name) for d in sorted(p for p in root.iterdir() if p.is_dir()) for f in sorted(d.glob("*.wav"))]
    classes = sorted({c for _, c in files})
    if len(classes) < 2:
        raise DataError(f"data.path={str(path)!r} holds .wav files of {len(classes)} class folder(s); expected one "
                        "sub-folder per class (at least 2), each with .wav files")
    X = np.stack([read_wav(f, sample_rate, float(duration)) for f, _ in files])[:, None, :]
    y = np.array([classes.index(c) for _, c in files], dtype=np.int64)
    train, test = split_indices(len(y), y, test_fraction, subset, seed)
    X_t, y_t = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(y)
    return DataSplit(TensorData(X_t[train], y_t[train]), TensorData(X_t[test], y_t[test]), name=root.name,
                     class_names=tuple(classes))
