"""Your own text as a dataset of variable-length token-id sequences: each item is ``(ids (L_i,), label)``, batched
by ``pad_collate``; the factory learns ``vocab_size`` and ``padding_idx`` from ``model_args``."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.contract import DataSplit, pad_collate
from pipeline.data.text import read_table, tokenize, word_index


class Sequences(torch.utils.data.Dataset):
    def __init__(self, ids: list[torch.Tensor], labels: torch.Tensor) -> None:
        self.ids, self.targets = ids, labels

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ids[i], self.targets[i]


def reviews(path: str, test_fraction: float = 0.25, seed: int = 0) -> DataSplit:
    from pathlib import Path

    rows = read_table(Path(path))
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    classes = sorted(set(labels))
    index = word_index(texts)
    ids = [torch.tensor([index[w] for w in tokenize(t)] or [0], dtype=torch.long) for t in texts]
    y = torch.tensor([classes.index(c) for c in labels])
    order = np.random.default_rng(seed).permutation(len(ids))
    cut = int(len(ids) * (1 - test_fraction))
    pick = lambda part: Sequences([ids[i] for i in part], y[part])  # noqa: E731
    return DataSplit(pick(order[:cut]), pick(order[cut:]), collate=pad_collate,
                     model_args={"vocab_size": len(index) + 1, "padding_idx": 0}, name="my_reviews")
