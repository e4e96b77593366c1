"""Synthesise a spoken-digit data set with Debian's espeak-ng: each digit 0-9 spoken by several voices, rates and
pitches, with a little noise, as ``<out>/<digit>/<voice>-<rate>-<pitch>.wav`` (a folder per class, what
``data=audio_folder`` reads). No real speech ships in a PyPI wheel; this makes one offline.

    apt-get install espeak-ng
    python make_clips.py data/spoken_digits
    python <repo>/train.py -m +sweep=speech data.path=data/spoken_digits data.sample_rate=16000
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.io import wavfile

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
VOICES = ["en", "en-us", "en-gb-x-rp", "en+f3", "en+m3", "en+f5"]
RATES = [130, 160, 190]
PITCHES = [35, 50, 70]


def main(out: str) -> int:
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is not installed: expected `apt-get install espeak-ng` (Debian)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    for digit, word in enumerate(WORDS):
        folder = Path(out) / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        for voice, rate, pitch in itertools.product(VOICES, RATES, PITCHES):
            path = folder / f"{voice.replace('+', '_')}-{rate}-{pitch}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(path), word],
                           check=True, capture_output=True)
            sr, x = wavfile.read(path)
            noisy = x.astype(np.float32) + rng.normal(0, 0.01 * 32767, size=x.shape)
            wavfile.write(path, sr, np.clip(noisy, -32768, 32767).astype(np.int16))
    print(f"{len(WORDS) * len(VOICES) * len(RATES) * len(PITCHES)} clips in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "data/spoken_digits"))
