"""A trial's test split as the explanation batches it (``pipeline.explain.model``): tensors, dataset items through the
entry's own ``collate``, or padded; and the one-line refusals."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.contract import DataSplit, pad_collate
from pipeline.explain import model as trial_model
from pipeline.explain.model import TrialModel, pad_batch
from tests.training.test_batches import Images  # a map-style dataset, one item at a time


def model_of(split: DataSplit) -> TrialModel:
    inputs, targets = trial_model.test_part(split)
    return TrialModel("run", None, torch.nn.Identity(), "classification", inputs, targets, np.zeros(0),
                      collate=split.collate)


def test_sequences_of_unequal_length_batch_through_the_entrys_collate():
    seqs = [torch.arange(1, n + 1) for n in (3, 5, 2)]
    split = DataSplit(Images(seqs, [0, 1, 0]), Images(seqs, [0, 1, 0]), collate=pad_collate)
    model = model_of(split)
    batch = model.batch(np.array([0, 1, 2]))
    assert batch.shape == (3, 5) and batch[2].tolist() == [1, 2, 0, 0, 0]
    assert model.targets.tolist() == [0, 1, 0]


def test_without_a_collate_equal_shapes_stack_and_unequal_ones_pad_their_first_dimension():
    same = model_of(DataSplit(Images([np.ones(4), np.zeros(4)], [0, 1]), Images([np.ones(4), np.zeros(4)], [0, 1])))
    assert same.batch(np.array([1, 0])).shape == (2, 4)  # numpy items too
    frames = [torch.ones(n, 3) for n in (2, 4)]  # (L_i, features): padded along L
    assert pad_batch(frames).shape == (2, 4, 3) and pad_batch(frames)[0, 2:].eq(0).all()

