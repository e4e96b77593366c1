"""The data entry: scikit-learn's diabetes set (442 patients, 10 features, a disease-progression score),
embedded in scikit-learn, as in-memory tensors. It meets the pipeline's contract (pipeline/contract.py):
called with the keys of conf/data/diabetes.yaml, it returns a DataSplit."""

from __future__ import annotations

import torch
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from pipeline.contract import DataSplit, TensorData


def diabetes(test_fraction: float = 0.2, seed: int = 0) -> DataSplit:
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction, random_state=seed)
    part = lambda X, y: TensorData(torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))  # noqa: E731
    return DataSplit(part(X_tr, y_tr), part(X_te, y_te), task="regression", name="diabetes")
