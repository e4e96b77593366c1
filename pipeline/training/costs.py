"""What a model costs besides its score (``pipeline.objective.COSTS``): FLOPs and inference latency per sample,
measured on one real batch, and the peak memory of training.

Pure measurements on a given model and batch, with no I/O: the trial picks the model (the refit one) and the
batch (training samples as the served model sees them) and logs the result.
Kept cheap: a few tens of ms on the default digits MLP, and ``LATENCY_BUDGET_S`` at most for the timed repeats
of a large model.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

log = logging.getLogger("pipeline")

LATENCY_BATCH = 64        # samples per timed forward pass, at most (fewer when the data has fewer)
LATENCY_WARMUP = 3        # untimed forward passes first (allocator, kernel selection, caches)
LATENCY_REPEATS = 11      # timed forward passes; their median is taken
LATENCY_MIN_REPEATS = 3   # ... at least this many, even past the budget
LATENCY_BUDGET_S = 0.25   # timed repeats stop once they took this long together (a conv net on a CPU: a short
                          # trial would otherwise spend a quarter of its training time timing itself)
MIB = 2.0 ** 20
CUDA_MEMORY = "cuda max allocated"  # the tag cost.memory: what peak_memory_mb measured
PROCESS_MEMORY = "process peak RSS"


@dataclass(frozen=True)
class Costs:
    """A trial's measured costs; None where not measured (a pruned trial has no refit model to time). The trial
    logs them under the names of ``pipeline.tracking.names`` (training knows nothing of tracking)."""

    flops: float                          # floating-point operations of one forward pass, per sample
    latency_ms: float | None = None       # inference time per sample, ms (``latency_ms``)
    peak_memory_mb: float | None = None   # peak memory of training, MiB (``peak_memory_mb``)
    device: str = ""                      # where the latency was measured
    batch_size: int = 0                   # ... on batches of this many samples
    memory: str = ""                      # what peak_memory_mb measured (``memory_kind``)


def measure(model: torch.nn.Module, example_batch: torch.Tensor, device: torch.device,
            peak_memory: float | None = None, latency: bool = True) -> Costs:
    """FLOPs (and, with ``latency``, the latency) of ``model`` on ``example_batch`` ``(B, ...)``, as the model
    receives it, with the peak memory measured around training (``peak_memory_mb``) when given."""
    return Costs(flops=flops_per_sample(model, example_batch),
                 latency_ms=latency_ms(model, example_batch, device) if latency else None,
                 peak_memory_mb=peak_memory, device=str(device), batch_size=len(example_batch),
                 memory=memory_kind(device) if peak_memory is not None else "")


@contextlib.contextmanager
def _evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``model`` in eval mode (dropout off, batch norm's running statistics), each submodule's own mode restored
    after (a model may keep some parts in eval mode while it trains)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def flops_per_sample(model: torch.nn.Module, example_batch: torch.Tensor) -> float:
    """Floating-point operations of one forward pass in eval mode, per sample of ``example_batch`` ``(B, ...)``.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``: 2 per multiply-add of a matmul or convolution
    (``nn.Linear(10, 5)``: 2 * 10 * 5 = 100; its bias and element-wise ops are not counted). 0.0 when the model
    runs an operation the counter cannot trace (logged at debug level): a missing count must not fail a trial.
    """
    if len(example_batch) < 1:
        raise ValueError(f"{len(example_batch)=} must be >= 1")
    try:
        with _evaluating(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example_batch)
        return float(counter.get_total_flops()) / len(example_batch)
    except Exception as e:  # noqa: BLE001 - a cost is informative, never a reason to fail the trial
        log.debug("FLOPs of %s not counted: %s", type(model).__name__, e)
        return 0.0


def latency_ms(model: torch.nn.Module, example_batch: torch.Tensor, device: torch.device,
               repeats: int = LATENCY_REPEATS, warmup: int = LATENCY_WARMUP,
               budget_s: float = LATENCY_BUDGET_S) -> float:
    """Inference time per sample in ms: the median over ``repeats`` timed forward passes on ``example_batch``
    ``(B, ...)`` (on ``device``, where ``model`` is), after ``warmup`` untimed ones, divided by ``B``. Eval mode
    under ``torch.inference_mode``; on CUDA each pass is timed to its end (``torch.cuda.synchronize``). Timed
    passes stop early once they took ``budget_s`` together, after ``LATENCY_MIN_REPEATS`` at least."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"{repeats=} must be >= 1 and {warmup=} >= 0")
    if len(example_batch) < 1:
        raise ValueError(f"{len(example_batch)=} must be >= 1")
    x = example_batch.to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: list[float] = []
    with _evaluating(model), torch.inference_mode():
        for _ in range(warmup):
            model(x)
        sync()
        while len(times) < repeats and (len(times) < LATENCY_MIN_REPEATS or sum(times) < budget_s):
            start = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0 / len(x)


def reset_peak_memory(device: torch.device) -> None:
    """Start measuring ``peak_memory_mb`` afresh: on CUDA only; a process's peak resident set cannot be reset."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory in MiB: on CUDA the most ``device``'s tensors took since ``reset_peak_memory``
    (``torch.cuda.max_memory_allocated``); elsewhere the process's peak resident set since it started
    (``getrusage``'s ``ru_maxrss``: KiB on Linux, bytes on macOS), imports and data included."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / MIB
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / MIB if sys.platform == "darwin" else maxrss * 1024 / MIB


def memory_kind(device: torch.device) -> str:
    """What ``peak_memory_mb`` measures on ``device``: the tag ``cost.memory``."""
    return CUDA_MEMORY if device.type == "cuda" else PROCESS_MEMORY
