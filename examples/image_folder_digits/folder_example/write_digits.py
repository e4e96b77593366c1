"""Write scikit-learn's digits as PNG files, one folder per class: ``python -m folder_example.write_digits images``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def write_digits(folder: str | Path, per_class: int | None = None) -> Path:
    folder = Path(folder)
    digits = load_digits()
    counts: dict[int, int] = {}
    for k, (image, label) in enumerate(zip(digits.images, digits.target)):
        label = int(label)
        if per_class is not None and counts.get(label, 0) >= per_class:
            continue
        counts[label] = counts.get(label, 0) + 1
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8), mode="L").save(folder / str(label) / f"{k:04d}.png")
    return folder


if __name__ == "__main__":
    print(write_digits(sys.argv[1] if len(sys.argv) > 1 else "images"))
