"""Audio data entries: WAV files the test writes (16-bit PCM, float, stereo, other rates), resampled, trimmed and
padded to one duration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import wavfile

from pipeline.data.audio import audio_folder, read_wav
from pipeline.errors import DataError


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t)


def write_tones(root, classes=(300.0, 1200.0), per_class=6, rate=8000, seconds=0.4):
    for k, f in enumerate(classes):
        (root / f"c{k}").mkdir(parents=True)
        for i in range(per_class):
            wavfile.write(root / f"c{k}" / f"{i}.wav", rate, (tone(f, seconds, rate) * 32767).astype(np.int16))
    return root


def test_wav_files_are_read_resampled_and_cut_or_padded(tmp_path):
    wavfile.write(tmp_path / "pcm.wav", 8000, (tone(440, 0.5, 8000) * 32767).astype(np.int16))
    wavfile.write(tmp_path / "float_stereo.wav", 22050, np.stack([tone(440, 0.2, 22050)] * 2, 1).astype(np.float32))
    pcm = read_wav(tmp_path / "pcm.wav", 16000, 0.25)
    assert pcm.shape == (4000,) and pcm.dtype == np.float32 and 0.45 < np.abs(pcm).max() <= 0.51
    padded = read_wav(tmp_path / "float_stereo.wav", 16000, 0.5)
    assert padded.shape == (8000,) and np.all(padded[3300:] == 0) and np.abs(padded[:3000]).max() > 0.4
    spectrum = np.abs(np.fft.rfft(pcm))  # resampling kept the pitch: the peak is at 440 Hz
    assert abs(np.argmax(spectrum) * 16000 / len(pcm) - 440) < 8


def test_a_folder_per_class(tmp_path):
    split = audio_folder(str(write_tones(tmp_path / "clips")), sample_rate=8000, duration=0.5, test_fraction=0.25)
    assert split.train.X.shape[1:] == (1, 4000) and split.train.X.dtype.is_floating_point
    assert len(split.train) + len(split.test) == 12
    with pytest.raises(DataError, match="data.sample_rate=10 is invalid"):
        audio_folder(str(tmp_path / "clips"), sample_rate=10)
    with pytest.raises(DataError, match="is not a folder"):
        audio_folder(str(tmp_path / "nope"))
