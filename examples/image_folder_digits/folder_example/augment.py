"""A training-only augmentation: applied by the pipeline to the training samples of each fold (and of the
refit), never to validation or test samples. Takes and returns a ``(C, H, W)`` tensor in [0, 1]."""

from __future__ import annotations

import torch


class RandomShift:
    """Shift the image by up to ``pixels`` in each direction (zeros fill the border)."""

    def __init__(self, pixels: int = 1) -> None:
        self.pixels = int(pixels)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        dy, dx = (int(v) for v in torch.randint(-self.pixels, self.pixels + 1, (2,)))
        shifted = torch.roll(image, shifts=(dy, dx), dims=(1, 2))
        if dy > 0:
            shifted[:, :dy] = 0
        elif dy < 0:
            shifted[:, dy:] = 0
        if dx > 0:
            shifted[:, :, :dx] = 0
        elif dx < 0:
            shifted[:, :, dx:] = 0
        return shifted
