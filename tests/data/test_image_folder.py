"""``image_folder`` on PNG files the test writes: one folder per class, read lazily, split stratified."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from pipeline.data import image_folder, load_data
from pipeline.errors import DataError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label in ("cat", "dog", "emu"):
        (root / label).mkdir()
        for k in range(10):
            pixels = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{k}.png")
    return root


def test_classes_shapes_and_a_stratified_split(folder):
    split = image_folder(str(folder), test_fraction=0.2, seed=0)
    assert split.num_outputs == 3 and split.task == "classification" and split.name == folder.name
    assert len(split.train) == 24 and len(split.test) == 6 and not split.in_memory
    assert torch.equal(torch.bincount(split.targets), torch.tensor([8, 8, 8]))
    x, y = split.train[0]
    assert x.shape == (3, 6, 5) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and y == int(split.targets[0])


def test_resize_grayscale_and_the_transform_is_kept_for_training(folder):
    flip = torch.nn.Identity()
    split = load_data(OmegaConf.create({"_target_": "pipeline.data.image_folder", "root": str(folder),
                                        "image_size": [4, 4], "grayscale": True}))
    assert split.input_shape == (1, 4, 4)
    assert image_folder(str(folder), train_transform=flip).train_transform is flip


def test_a_missing_folder_says_what_is_expected(tmp_path):
    with pytest.raises(DataError, match=r"expected root/<class name>/<image files>"):
        image_folder(str(tmp_path / "nothing"))
