"""Why the served model predicts what it does for single test samples: Captum's integrated gradients (Sundararajan
et al. 2017, "Axiomatic Attribution for Deep Networks") from a stated baseline to each sample, on the served model
(``pipeline.results.serving.as_served``: raw inputs in).

Floating inputs (images, tables) are attributed in raw units from the training mean (the served model's first
``Normalize``); token ids at the output of the model's first ``nn.Embedding``, from all-padding text; waveforms at
the ``LogMel`` module's output (a time-frequency map), from the training mean spectrum (or silence). Captum is
imported inside the functions: importing this module costs torch only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.results.serving import InputShape, Normalize
from pipeline.training.transforms import LogMel

KINDS = ("image", "text", "audio", "tabular")
# audio baselines, at the log-mel spectrogram the model reads: the training mean is the default, as for images and
# tables; silence (log of a floor of 1e-10) lies tens of standard deviations below any recorded band, so its
# attributions mostly measure how far each band is from that floor, the bands the model ignores included
AUDIO_BASELINES = {"mean": "the training mean log-mel spectrum (zero after the model's per-band standardisation)",
                   "silence": "silence (an all-zero waveform), interpolated in log-mel space"}
DEFAULT_STEPS = 32        # integration steps (Gauss-Legendre: exact for polynomials of degree < 2 * steps)
METHOD = "gausslegendre"
SAMPLES_PER_PASS = 8      # samples attributed together: at most SAMPLES_PER_PASS * steps forward passes at once
DIGITS = 6                # decimals kept in JSON


class NotExplainable(Exception):
    """The served model cannot be attributed by gradients; the message says why in one line."""


# eq=False: fields are arrays, whose == is elementwise
@dataclass(frozen=True, eq=False)
class Attribution:
    """Integrated-gradients attributions of ``n`` samples to their ``targets (n,)`` (the class, or output index,
    attributed). ``scores`` are what is drawn, signed, over ``inputs``:

    - image: ``scores (n, H, W)`` summed over channels, ``inputs (n, C, H, W)`` raw;
    - text: ``scores (n, L)`` per token (summed over embedding dimensions), ``inputs (n, L)`` token ids;
    - audio: ``scores (n, n_mels, frames)`` at the log-mel spectrogram, ``inputs`` that spectrogram (log power,
      before the model's per-band standardisation);
    - tabular: ``scores (n, F)``, ``inputs (n, F)`` raw.

    ``delta (n,)`` is Captum's convergence delta: the attributions' sum minus the output's change from baseline to
    sample (near zero when the integral is well approximated)."""

    kind: str
    method: str
    baseline: str
    targets: np.ndarray
    scores: np.ndarray
    inputs: np.ndarray
    delta: np.ndarray

    def top_features(self, i: int, k: int = 5) -> list[tuple[tuple[int, ...], float]]:
        """The ``k`` positions of sample ``i`` with the largest ``|score|`` (a feature, token, pixel ``(h, w)`` or
        ``(band, frame)``), largest first, with their signed scores."""
        if not 0 <= i < len(self.scores):
            raise ValueError(f"{i=} is out of range: {len(self.scores)} samples")
        s = self.scores[i]
        flat = np.argsort(-np.abs(s).ravel(), kind="stable")[:k]
        return [(tuple(int(j) for j in np.unravel_index(f, s.shape)), float(s.ravel()[f])) for f in flat]

    def as_json(self) -> dict[str, Any]:
        """Plain lists, scores and inputs rounded to ``DIGITS`` decimals."""
        return {"kind": self.kind, "method": self.method, "baseline": self.baseline,
                "targets": self.targets.astype(int).tolist(),
                "scores": np.round(self.scores.astype(np.float64), DIGITS).tolist(),
                "inputs": (self.inputs.tolist() if self.kind == "text"
                           else np.round(self.inputs.astype(np.float64), DIGITS).tolist()),
                "delta": np.round(self.delta.astype(np.float64), DIGITS).tolist()}


def input_kind(served: nn.Module, sample: torch.Tensor) -> str:
    """What a batch ``sample (N, ...)`` of the served model's inputs is: token ids (integers) -> ``text``; waveforms
    for a model with a ``LogMel`` transform -> ``audio``; samples with two dimensions or more, the last two both
    longer than 1 (``(C, H, W)``, ``(H, W)``; the served model's ``InputShape`` decides for flat batches) ->
    ``image``; anything else -> ``tabular``."""
    if not (sample.is_floating_point() or sample.is_complex()):
        return "text"
    if _first(served, LogMel) is not None:
        return "audio"
    shape = _sample_shape(served, sample)
    return "image" if len(shape) >= 2 and shape[-1] > 1 and shape[-2] > 1 else "tabular"


def attribute(served: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, kind: str | None = None,
              baseline_mean: torch.Tensor | None = None, n_steps: int = DEFAULT_STEPS,
              padding_idx: int = 0, audio_baseline: str = "mean") -> Attribution:
    """Integrated gradients of the served model's output ``targets (n,)`` (a classifier's predicted class,
    usually; ignored for a model with one output column) for ``inputs (n, ...)`` in raw units, on CPU, in eval mode.

    ``kind`` (default ``input_kind``) picks the method: image and tabular inputs from ``baseline_mean`` (default the
    served model's first ``Normalize`` mean: the training mean; zeros without one); text at the first
    ``nn.Embedding``'s output, from every token embedded as ``padding_idx``; audio at the ``LogMel`` module's
    output, from ``audio_baseline`` (``AUDIO_BASELINES``: the training mean spectrum, or silence). Raises
    ``NotExplainable`` when no gradient path leads from the input to the output."""
    served = served.cpu().eval()
    x = torch.as_tensor(inputs).cpu()
    t = torch.as_tensor(targets).cpu().long().reshape(-1)
    if len(x) < 1 or len(t) != len(x):
        raise ValueError(f"inputs of shape {tuple(x.shape)} and targets of shape {tuple(t.shape)}: expected (n, ...) "
                         "and (n,) with n >= 1")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 2:
        raise ValueError(f"{n_steps=} is invalid: expected an integer >= 2")
    kind = input_kind(served, x) if kind is None else kind
    if kind not in KINDS:
        raise ValueError(f"{kind=} is invalid: expected one of {KINDS}")
    if audio_baseline not in AUDIO_BASELINES:
        raise ValueError(f"{audio_baseline=} is invalid: expected one of {tuple(AUDIO_BASELINES)}")
    if kind == "text":
        return _text(served, x, t, n_steps, padding_idx)
    if kind == "audio":
        return _audio(served, x, t, n_steps, audio_baseline)
    return _raw(served, x, t, kind, baseline_mean, n_steps)


def spectrograms(served: nn.Module, waveforms: torch.Tensor) -> np.ndarray:
    """The log-mel spectrograms ``(n, n_mels, frames)`` (log power, not standardised) the served model's ``LogMel``
    module computes from raw ``waveforms`` ``(n, T)`` or ``(n, 1, T)``: what audio attributions are drawn over."""
    mel = _first(served, LogMel)
    if mel is None:
        raise ValueError(f"the served model ({type(served).__name__}) has no LogMel module: expected an audio model")
    seen: list[torch.Tensor] = []
    handle = mel.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    try:
        with torch.no_grad():
            served.cpu().eval()(torch.as_tensor(waveforms).cpu())
    finally:
        handle.remove()
    with torch.no_grad():
        return mel.log_mel(seen[0]).numpy()


# -- the three paths --------------------------------------------------------------------------------------------------
def _raw(served: nn.Module, x: torch.Tensor, t: torch.Tensor, kind: str, baseline_mean: torch.Tensor | None,
         n_steps: int) -> Attribution:
    """Image or tabular inputs: integrated gradients in raw units, from the training mean."""
    from captum.attr import IntegratedGradients

    x = x.float()
    if kind == "image":
        x = _as_images(served, x)
    baseline, said = _mean_baseline(served, x, baseline_mean, kind)
    target = _check_path(served, x[:2], t)
    ig = IntegratedGradients(served)
    attr, delta = _chunked(lambda rows, ts: ig.attribute(
        x[rows], baselines=baseline[rows], target=ts, n_steps=n_steps, method=METHOD,
        internal_batch_size=(rows.stop - rows.start) * n_steps, return_convergence_delta=True), len(x), target)
    scores = attr.sum(1) if kind == "image" else attr.reshape(len(x), -1)
    inputs = x if kind == "image" else x.reshape(len(x), -1)
    return Attribution(kind, _method("IntegratedGradients", n_steps), said, t.numpy(), scores.numpy(),
                       inputs.numpy(), delta.numpy())


def _text(served: nn.Module, x: torch.Tensor, t: torch.Tensor, n_steps: int, padding_idx: int) -> Attribution:
    """Token ids: integrated gradients at the first embedding's output, from every token embedded as padding;
    the padding mask (the text's length) stays the input's along the path, so padding gets no attribution."""
    emb = _first(served, nn.Embedding)
    if emb is None:
        raise NotExplainable("integer inputs and no nn.Embedding layer to attribute to")
    if x.is_floating_point() and not bool(torch.all(x == x.round())):
        raise ValueError("text inputs of fractional numbers: expected integer token ids")
    x = x.long()
    target = _check_path(_replacing(served, emb), _layer_output(served, emb, x[:2]), t, x[:2],
                         what="token embeddings")
    start = _layer_output(served, emb, torch.full_like(x, int(padding_idx)))
    attr, delta = _at_layer(served, emb, x, start, target, n_steps)
    per_token = attr.reshape(len(x), attr.shape[1], -1).sum(-1)
    # a VocabMap cuts sequences to its max_length: the tokens past it never reach the model
    scores = torch.zeros(x.shape, dtype=per_token.dtype)
    width = min(x.shape[1], per_token.shape[1])
    scores[:, :width] = per_token[:, :width]
    return Attribution("text", _method("IntegratedGradients at the token embeddings", n_steps),
                       f"every token the padding token (id {int(padding_idx)}), the text's padding mask kept",
                       t.numpy(), scores.numpy(), x.numpy(), delta.numpy())


def _audio(served: nn.Module, x: torch.Tensor, t: torch.Tensor, n_steps: int, baseline: str) -> Attribution:
    """Waveforms: integrated gradients at the ``LogMel`` module's output (the standardised log-mel spectrogram),
    from the training mean spectrum (zero there) or from that of silence."""
    mel = _first(served, LogMel)
    if mel is None:
        raise ValueError(f"kind='audio' for a served model without a LogMel module ({type(served).__name__}): "
                         "expected kind='tabular' for raw waveforms")
    x = x.float()
    target = _check_path(_replacing(served, mel), _layer_output(served, mel, x[:2]), t, x[:2],
                         what="log-mel spectrogram")
    at = _layer_output(served, mel, x[:1])
    start = (torch.zeros_like(at) if baseline == "mean"
             else _layer_output(served, mel, torch.zeros_like(x[:1]))).expand(len(x), *at.shape[1:])
    attr, delta = _at_layer(served, mel, x, start, target, n_steps)
    maps = spectrograms(served, x)
    return Attribution("audio", _method("IntegratedGradients at the log-mel spectrogram", n_steps),
                       AUDIO_BASELINES[baseline], t.numpy(), attr.reshape(maps.shape).numpy(), maps, delta.numpy())


# -- helpers ---------------------------------------------------------------------------------------------------------
def _check_path(forward: Any, probe: torch.Tensor, targets: torch.Tensor, *extra: torch.Tensor,
                what: str = "input") -> torch.Tensor | None:
    """Refuses a model whose output has no gradient with respect to ``probe`` (the input, or a layer's output read
    by ``forward(probe, *extra)``); returns the targets as Captum takes them (None for an output of one column)
    after checking them against the output's columns. Frozen weights are no obstacle: integrated gradients
    differentiate with respect to the input, never the weights."""
    probe = probe.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = forward(probe, *extra)
        # the weights may carry a grad_fn to the output while the probe's path is cut: ask for the probe's gradient
        reached = out.requires_grad and torch.autograd.grad(out.sum(), probe, allow_unused=True)[0] is not None
    if not reached:
        raise NotExplainable(f"the model's output does not depend on its {what} through gradients (no gradient "
                             "reaches it: an argmax, a detach or torch.no_grad inside the model)")
    if out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
        return None
    if out.dim() != 2 or targets.min() < 0 or targets.max() >= out.shape[1]:
        raise ValueError(f"targets from {int(targets.min())} to {int(targets.max())} for outputs of shape "
                         f"{tuple(out.shape)}: expected output columns 0 .. {out.shape[-1] - 1} of (N, k) outputs")
    return targets


def _replacing(served: nn.Module, layer: nn.Module) -> Any:
    """``forward(replaced, inputs)``: the served model reading ``inputs`` with ``layer``'s output ``replaced``."""
    def forward(replaced: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        handle = layer.register_forward_hook(lambda _module, _args, _out: replaced)
        try:
            return served(inputs)
        finally:
            handle.remove()

    return forward


def _at_layer(served: nn.Module, layer: nn.Module, x: torch.Tensor, start: torch.Tensor, target: torch.Tensor | None,
              n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated gradients of ``served(x)`` in the space of ``layer``'s output, from ``start`` (that output's
    shape) to the output ``x`` gives: the layer's output is replaced along the path while everything else in the
    model (a padding mask) still reads ``x``, so Captum's convergence delta checks the very path integrated
    (``LayerIntegratedGradients`` would run the whole model on the baseline input for it)."""
    from captum.attr import IntegratedGradients

    end = _layer_output(served, layer, x)
    ig = IntegratedGradients(_replacing(served, layer))
    return _chunked(lambda rows, ts: ig.attribute(
        end[rows], baselines=start[rows], target=ts, additional_forward_args=(x[rows],), n_steps=n_steps,
        method=METHOD, internal_batch_size=(rows.stop - rows.start) * n_steps, return_convergence_delta=True),
        len(x), target)


def _layer_output(served: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``layer`` outputs when the served model reads ``x`` (its first call)."""
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _module, _args, out: seen.append(out))
    try:
        with torch.no_grad():
            served(x)
    finally:
        handle.remove()
    return seen[0].detach()


def _chunked(run: Any, n: int, target: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``run(rows, targets) -> (attributions, delta)`` over ``SAMPLES_PER_PASS`` of the ``n`` samples at a time;
    an error inside Captum becomes ``NotExplainable``."""
    attrs, deltas = [], []
    for rows in _slices(n):
        try:
            a, d = run(rows, None if target is None else target[rows])
        except NotExplainable:
            raise
        except Exception as e:  # noqa: BLE001 - whatever Captum meets: one line, the cause chained
            raise NotExplainable(f"Captum could not attribute this model: {type(e).__name__}: "
                                 f"{' '.join(str(e).split())[:200]}") from e
        attrs.append(a.detach())
        deltas.append(d.detach().reshape(-1))
    return torch.cat(attrs), torch.cat(deltas)


def _slices(n: int) -> Iterator[slice]:
    for start in range(0, n, SAMPLES_PER_PASS):
        yield slice(start, min(n, start + SAMPLES_PER_PASS))


def _mean_baseline(served: nn.Module, x: torch.Tensor, mean: torch.Tensor | None, kind: str
                   ) -> tuple[torch.Tensor, str]:
    """The baseline ``x``-shaped and its description: ``mean`` as given, else the first input ``Normalize``'s mean
    (zero after normalisation), else zeros."""
    unit = "pixel at its channel's" if kind == "image" else "feature at its"
    if mean is not None:
        said = "the given baseline_mean"
    else:
        norm = next((m for m in served.modules() if isinstance(m, Normalize) and not m.inverse), None)
        if norm is None:
            return torch.zeros_like(x), ("zeros (the model has no input normalisation to take a training mean "
                                         "from)")
        mean, said = norm.mean, f"every {unit} training mean (zero after the model's normalisation)"
    mean = torch.as_tensor(mean).float()
    try:
        return torch.broadcast_to(mean, x.shape).clone(), said
    except RuntimeError as e:
        raise ValueError(f"baseline mean of shape {tuple(mean.shape)} does not broadcast to inputs of shape "
                         f"{tuple(x.shape)}") from e


def _as_images(served: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)``: flat batches and ``(N, H, W)`` reshaped after the served model's ``InputShape``."""
    shape = _sample_shape(served, x)
    if len(shape) == 2:
        shape = (1, *shape)
    return x.reshape(len(x), *shape)


def _sample_shape(served: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    """A sample's shape: the served model's ``InputShape``'s when it has one, else the batch's."""
    shaper = _first(served, InputShape)
    if shaper is not None and int(np.prod(shaper.sample_shape)) == int(np.prod(x.shape[1:])):
        return tuple(shaper.sample_shape)
    return tuple(x.shape[1:])


def _first(served: nn.Module, kind: type[nn.Module]) -> nn.Module | None:
    return next((m for m in served.modules() if isinstance(m, kind)), None)


def _method(name: str, n_steps: int) -> str:
    return f"Captum {name}, {n_steps} steps, Gauss-Legendre"
