"""A bag-of-embeddings classifier: the mean of a text's word embeddings (padding left out), then a linear head."""

from __future__ import annotations

import torch
from torch import nn


class MeanEmbedding(nn.Module):
    def __init__(self, vocab_size: int, padding_idx: int, dim: int, num_outputs: int) -> None:
        super().__init__()
        self.padding_idx = padding_idx
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
        self.head = nn.Linear(dim, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x != self.padding_idx).unsqueeze(-1).float()
        mean = (self.embedding(x) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(mean)


def bag(input_shape, num_outputs: int, vocab_size: int, padding_idx: int = 0, dim: int = 32) -> MeanEmbedding:
    return MeanEmbedding(vocab_size, padding_idx, dim, num_outputs)
