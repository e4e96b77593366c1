"""What a model costs (``pipeline.training.costs``), measured on real torch models."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pipeline.training import costs

CPU = torch.device("cpu")


def test_flops_of_a_linear_layer_are_two_per_multiply_add():
    layer = nn.Linear(10, 5)
    assert costs.flops_per_sample(layer, torch.randn(7, 10)) == 2 * 10 * 5


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_flops_per_sample_do_not_depend_on_the_batch(batch):
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    assert costs.flops_per_sample(model, torch.randn(batch, 8)) == 2 * (8 * 16 + 16 * 4)


def test_flops_of_a_convolution():
    conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)
    assert costs.flops_per_sample(conv, torch.randn(2, 3, 5, 5)) == 2 * 3 * 4 * 9 * 5 * 5


class Untraceable(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("cannot run under the counter")


def test_flops_that_cannot_be_counted_are_zero_not_an_error():
    assert costs.flops_per_sample(Untraceable(), torch.randn(2, 3)) == 0.0


def test_measuring_leaves_the_models_modes_as_they_were():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    model.train()
    model[2].eval()  # a part kept in eval mode on purpose
    x = torch.randn(8, 4)
    costs.flops_per_sample(model, x)
    costs.latency_ms(model, x, CPU, repeats=2, warmup=1)
    assert [m.training for m in model] == [True, True, False] and model.training


def test_latency_is_positive_finite_and_larger_for_a_much_wider_model():
    x = torch.randn(64, 32)
    narrow = nn.Sequential(nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 10))
    wide = nn.Sequential(nn.Linear(32, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10))
    fast, slow = costs.latency_ms(narrow, x, CPU), costs.latency_ms(wide, x, CPU)
    assert 0 < fast < slow and math.isfinite(slow)


def test_latency_checks_its_arguments():
    with pytest.raises(ValueError, match="repeats=0"):
        costs.latency_ms(nn.Linear(2, 2), torch.randn(1, 2), CPU, repeats=0)


def test_peak_memory_is_positive_and_says_what_it_measured():
    assert costs.peak_memory_mb(CPU) > 0 and costs.memory_kind(CPU) == costs.PROCESS_MEMORY


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_peak_memory_follows_the_tensors_allocated_since_the_reset():
    cuda = torch.device("cuda")
    costs.reset_peak_memory(cuda)
    x = torch.empty(64 * 2**20, dtype=torch.uint8, device=cuda)  # 64 MiB
    assert costs.peak_memory_mb(cuda) >= 64 and costs.memory_kind(cuda) == costs.CUDA_MEMORY
    del x
    model = nn.Linear(10, 5).to(cuda)
    assert costs.latency_ms(model, torch.randn(4, 10), cuda) > 0


def test_measure_gathers_them_with_how_they_were_measured():
    model = nn.Linear(10, 5)
    measured = costs.measure(model, torch.randn(16, 10), CPU, peak_memory=12.5)
    assert measured.flops == 100 and measured.latency_ms > 0 and measured.peak_memory_mb == 12.5
    assert (measured.device, measured.batch_size, measured.memory) == ("cpu", 16, costs.PROCESS_MEMORY)
    pruned = costs.measure(model, torch.randn(16, 10), CPU, latency=False)
    assert pruned.latency_ms is None and pruned.peak_memory_mb is None and pruned.memory == ""
