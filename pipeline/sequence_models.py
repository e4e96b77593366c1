"""Built-in model factories for token-id sequences (``conf/model/rnn.yaml``, ``textcnn.yaml``): ordinary entries of
the plug-in contract, called as ``factory(input_shape=..., num_outputs=..., vocab_size=..., padding_idx=...)``.

A batch is ``(N, L)`` int64 token ids padded with ``padding_idx`` at the end (``pipeline.data.text``); each
sequence's length is where its padding starts, so both models work on any ``L``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from pipeline.errors import ConfigError
from pipeline.models import _activation, _flag, _fraction, _positive

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


def _sequence_input(name: str, input_shape: Sequence[int], vocab_size: int | None) -> None:
    if len(input_shape) != 1 or vocab_size is None:
        raise ConfigError(f"model={name} cannot take the data's samples of shape {tuple(input_shape)}: expected "
                          "token ids (L,) of a text data entry, which gives the factory vocab_size")


class RNNClassifier(nn.Module):
    """Embedding -> (bi)GRU/LSTM over packed sequences -> the last hidden state of each direction -> dropout ->
    linear head."""

    def __init__(self, vocab_size: int, num_outputs: int, embedding_dim: int, hidden_dim: int, num_layers: int,
                 cell: str, bidirectional: bool, dropout: float, padding_idx: int) -> None:
        super().__init__()
        self.padding_idx = int(padding_idx)
        self.embedding = nn.Embedding(int(vocab_size), int(embedding_dim), padding_idx=self.padding_idx)
        self.rnn = CELLS[cell](int(embedding_dim), int(hidden_dim), num_layers=int(num_layers), batch_first=True,
                               bidirectional=bool(bidirectional), dropout=float(dropout) if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(float(dropout))
        self.head = nn.Linear(int(hidden_dim) * (2 if bidirectional else 1), int(num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = (x != self.padding_idx).sum(1).clamp(min=1)
        packed = pack_padded_sequence(self.embedding(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        last = torch.cat([h[-2], h[-1]], dim=1) if self.rnn.bidirectional else h[-1]
        return self.head(self.dropout(last))


def rnn(input_shape: Sequence[int], num_outputs: int, vocab_size: int | None = None, padding_idx: int = 0,
        embedding_dim: int = 64, hidden_dim: int = 64, num_layers: int = 1, cell: str = "gru",
        bidirectional: bool = True, dropout: float = 0.0) -> RNNClassifier:
    """A recurrent text classifier (``RNNClassifier``)."""
    _sequence_input("rnn", input_shape, vocab_size)
    _positive(model_embedding_dim=embedding_dim, model_hidden_dim=hidden_dim, model_num_layers=num_layers)
    if cell not in CELLS:
        raise ConfigError(f"model.cell={cell!r} is invalid: expected one of {tuple(CELLS)}")
    _flag("model.bidirectional", bidirectional)
    _fraction("model.dropout", dropout)
    return RNNClassifier(int(vocab_size), num_outputs, embedding_dim, hidden_dim, num_layers, cell, bidirectional,
                         dropout, padding_idx)


class TextCNN(nn.Module):
    """Embedding -> parallel 1-D convolutions of several widths -> activation -> max over time (padding masked) ->
    dropout -> linear head (Kim 2014, "Convolutional Neural Networks for Sentence Classification")."""

    def __init__(self, vocab_size: int, num_outputs: int, embedding_dim: int, channels: int,
                 kernel_sizes: Sequence[int], activation: str, dropout: float, padding_idx: int) -> None:
        super().__init__()
        self.padding_idx = int(padding_idx)
        self.embedding = nn.Embedding(int(vocab_size), int(embedding_dim), padding_idx=self.padding_idx)
        self.convs = nn.ModuleList(nn.Conv1d(int(embedding_dim), int(channels), int(k), padding=int(k) // 2)
                                   for k in kernel_sizes)
        self.act = _activation(activation)()
        self.dropout = nn.Dropout(float(dropout))
        self.head = nn.Linear(int(channels) * len(kernel_sizes), int(num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x != self.padding_idx)[:, None, :]
        e = self.embedding(x).transpose(1, 2)  # (N, E, L)
        pooled = []
        for conv in self.convs:
            h = self.act(conv(e))[..., :x.shape[1]]
            pooled.append(h.masked_fill(~mask, float("-inf")).amax(-1).nan_to_num(neginf=0.0))
        return self.head(self.dropout(torch.cat(pooled, dim=1)))


def textcnn(input_shape: Sequence[int], num_outputs: int, vocab_size: int | None = None, padding_idx: int = 0,
            embedding_dim: int = 64, channels: int = 64, kernel_sizes: Sequence[int] = (3, 4, 5),
            activation: str = "relu", dropout: float = 0.0) -> TextCNN:
    """A convolutional text classifier (``TextCNN``)."""
    _sequence_input("textcnn", input_shape, vocab_size)
    _positive(model_embedding_dim=embedding_dim, model_channels=channels)
    sizes = [kernel_sizes] if isinstance(kernel_sizes, int) else list(kernel_sizes)
    if not sizes or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in sizes):
        raise ConfigError(f"model.kernel_sizes={kernel_sizes!r} is invalid: expected a list of integers >= 1")
    _fraction("model.dropout", dropout)
    return TextCNN(int(vocab_size), num_outputs, embedding_dim, channels, sizes, activation, dropout, padding_idx)
