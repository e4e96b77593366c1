"""Pooled samples split into training and held-out parts: stratified, capped, fixed by the seed."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.splits import split_indices
from pipeline.errors import ConfigError


def test_stratified_disjoint_and_repeatable():
    labels = np.repeat([0, 1, 2, 3], 25)
    train, test = split_indices(100, labels, 0.2, None, 0)
    assert len(test) == 20 and len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 100
    assert np.bincount(labels[test]).tolist() == [5, 5, 5, 5]
    again = split_indices(100, labels, 0.2, None, 0)
    assert np.array_equal(train, again[0]) and not np.array_equal(test, split_indices(100, labels, 0.2, None, 1)[1])


def test_regression_splits_shuffle_and_subset_caps():
    train, test = split_indices(50, None, 0.2, 20, 0)
    assert len(train) + len(test) == 20 and len(test) == 4


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_bad_fractions_and_subsets_name_the_value(fraction):
    with pytest.raises(ConfigError, match=f"data.test_fraction={fraction}"):
        split_indices(10, None, fraction, None, 0)
    with pytest.raises(ConfigError, match="data.subset=3 is too small"):
        split_indices(100, np.repeat([0, 1], 50), 0.2, 3, 0)
