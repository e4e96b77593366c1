"""Integrated gradients on tiny real models trained here on synthetic tasks whose label depends on known inputs: the
attributions must land on those inputs (a feature, an image patch, a token, the tone's mel bands)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.explain.attributions import NotExplainable, attribute, input_kind, spectrograms
from pipeline.results.serving import as_served
from pipeline.training.preprocess import logmel
from pipeline.training.transforms import VocabMap

RATE, TONES, CLIP = 8000, (500.0, 1300.0), 2000  # audio: Hz, the two classes' tones, samples per clip


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def fit(served: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 1e-2,
        weight_decay: float = 0.0) -> nn.Module:
    """Full-batch AdamW on the served model itself (raw inputs in: its Normalize and transform are buffers)."""
    opt = torch.optim.AdamW([p for p in served.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(served(x), y).backward()
        opt.step()
    return served.eval()


def predicted(served: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return served(x).argmax(1)


def test_tabular_attributions_pick_the_two_features_the_label_is_made_of():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 6, generator=g) * torch.tensor([1.0, 3.0, 0.5, 1.0, 2.0, 1.0]) + 2.0
    y = ((x[:, 0] - 2.0) + 2 * (x[:, 3] - 2.0) > 0).long()
    model = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 2))
    served = fit(as_served(model, x.mean(0, keepdim=True), x.std(0, keepdim=True), input_shape=(6,)), x, y, 300)
    test = x[:64]
    assert (predicted(served, test) == y[:64]).float().mean() > 0.9

    attr = attribute(served, test, predicted(served, test))
    assert attr.kind == "tabular" and attr.scores.shape == (64, 6) and attr.inputs.shape == (64, 6)
    assert "training mean" in attr.baseline and "IntegratedGradients" in attr.method
    mass = np.abs(attr.scores).mean(0)
    assert min(mass[0], mass[3]) > max(np.delete(mass, [0, 3])), mass
    assert mass[3] > mass[0]  # twice the weight in the label
    # completeness: the attributions add up to the change of the target's logit from the mean to the sample
    with torch.no_grad():
        out, base = served(test), served(x.mean(0, keepdim=True))
    change = (out - base).gather(1, predicted(served, test)[:, None])[:, 0].numpy()
    assert np.allclose(attr.scores.sum(1), change, atol=1e-3)
    assert np.abs(attr.delta).max() < 1e-3
    (pos, score), *_ = attr.top_features(0, k=2)
    assert pos[0] in (0, 3) and score == attr.scores[0, pos[0]]
    out = json.loads(json.dumps(attr.as_json(), allow_nan=False))
    assert len(out["scores"]) == 64 and out["targets"] == attr.targets.tolist() and out["kind"] == "tabular"


def test_image_attributions_lie_in_the_patch_the_label_is_read_from():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(512, 1, 8, 8, generator=g) * 0.6
    y = torch.arange(512) % 2
    x[y == 1, :, :3, :3] += 0.4  # class 1: a bright top-left 3x3 patch
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 2))
    served = fit(as_served(model, x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True),
                           input_shape=(1, 8, 8)), x, y, 200, weight_decay=1e-2)
    test = x[:32]
    assert (predicted(served, test) == y[:32]).float().mean() > 0.9
    assert input_kind(served, test) == "image" and input_kind(served, test.reshape(32, 64)) == "image"

    attr = attribute(served, test, predicted(served, test))
    assert attr.kind == "image" and attr.scores.shape == (32, 8, 8) and attr.inputs.shape == (32, 1, 8, 8)
    mass = np.abs(attr.scores)
    share = mass[:, :3, :3].sum() / mass.sum()
    assert share > 0.5, share  # 9 of 64 pixels
    # ReLU kinks: Gauss-Legendre's sum is close to the integral, not exact (about 1% of the logit's change here)
    assert np.all(np.abs(attr.delta) < 0.02 * np.abs(attr.scores.sum((1, 2))) + 0.02)
    flat = attribute(served, test.reshape(32, 64), predicted(served, test))  # the flat layout is drawn as images
    assert flat.scores.shape == (32, 8, 8) and np.allclose(flat.scores, attr.scores, atol=1e-5)


class MeanPool(nn.Module):
    """Embedding -> mean over the tokens that are not padding -> linear."""

    def __init__(self, vocab: int, dim: int = 8) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.head = nn.Linear(dim, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x != 0).float()[..., None]
        return self.head((self.embedding(x) * mask).sum(1) / mask.sum(1).clamp(min=1))


def test_text_attributions_put_the_label_token_first():
    g = torch.Generator().manual_seed(2)
    n, length, vocab = 384, 12, 31
    x = torch.randint(7, vocab, (n, length), generator=g)
    lengths = torch.randint(4, length + 1, (n,), generator=g)
    x[torch.arange(length)[None, :] >= lengths[:, None]] = 0  # padded at the end
    y = torch.arange(n) % 2
    where = (torch.rand(n, generator=g) * lengths).long()
    x[torch.arange(n), where] = torch.where(y == 1, 5, 6)  # the label: token 5 or token 6, anywhere
    table = torch.arange(vocab)
    served = fit(as_served(MeanPool(vocab), input_shape=(length,), transform=VocabMap(table, length),
                           input_dtype=torch.int64), x, y, 300, lr=5e-2)
    test, targets = x[:48], predicted(served, x[:48])
    assert (targets == y[:48]).float().mean() > 0.95
    assert input_kind(served, test) == "text"

    attr = attribute(served, test, targets)
    assert attr.kind == "text" and attr.scores.shape == (48, length) and attr.inputs.tolist() == test.tolist()
    assert "padding token (id 0)" in attr.baseline
    top = test[torch.arange(48), torch.as_tensor(np.abs(attr.scores).argmax(1))]
    assert (np.isin(top.numpy(), (5, 6))).mean() > 0.9
    assert np.all(attr.scores[test.numpy() == 0] == 0)  # padding is padding in the baseline too
    assert np.all(np.abs(attr.delta) < 1e-3)  # the path keeps the text's padding mask: the delta checks that path
    # a vocabulary cut to 8 tokens: those past it never reach the model, and get nothing
    cut = as_served(served[-1], input_shape=(length,), transform=VocabMap(table, 8), input_dtype=torch.int64)
    short = attribute(cut, test, targets)
    assert short.scores.shape == (48, length) and np.all(short.scores[:, 8:] == 0)
    assert np.abs(short.scores[:, :8]).sum() > 0


def tones(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, 1, CLIP)`` clips of one of ``TONES`` (random phase and loudness) in white noise; the tone's index."""
    y = torch.arange(n) % 2
    t = torch.arange(CLIP) / RATE
    freq = torch.tensor(TONES)[y][:, None]
    phase = torch.rand(n, 1, generator=g) * 2 * math.pi
    amp = 0.3 + 0.4 * torch.rand(n, 1, generator=g)
    wave = amp * torch.sin(2 * math.pi * freq * t + phase) + 0.05 * torch.randn(n, CLIP, generator=g)
    return wave[:, None], y


def test_audio_attributions_concentrate_in_the_tone_bands():
    x, y = tones(256, torch.Generator().manual_seed(3))
    mean, std = x.mean().reshape(1, 1, 1), x.std().reshape(1, 1, 1)
    transform = logmel((x - mean) / std, sample_rate=RATE, n_mels=20, window_ms=32.0, hop_ms=16.0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 20 * 16, 2))
    served = fit(as_served(model, mean, std, input_shape=(1, CLIP), transform=transform), x, y, 100)
    test, targets = x[:16], predicted(served, x[:16])
    assert (targets == y[:16]).all()
    assert input_kind(served, test) == "audio"

    attr = attribute(served, test, targets)
    assert attr.kind == "audio" and attr.scores.shape == (16, 20, 16) and attr.inputs.shape == (16, 20, 16)
    assert "training mean log-mel" in attr.baseline
    assert np.allclose(attr.inputs, spectrograms(served, test[:, 0]))  # (N, T) waveforms too
    assert np.all(np.abs(attr.delta) < 0.01 * np.abs(attr.scores.sum((1, 2))))
    # the label is read from the bands of the two tones (energy in one, none in the other): the attribution lies
    # there, not in the bands of noise only
    bins = transform.filters.shape[1]
    peaks = [int(transform.filters[:, round(f / (RATE / 2) * (bins - 1))].argmax()) for f in TONES]
    near = np.zeros(20, dtype=bool)
    for band in peaks:
        near[band - 1:band + 2] = True
    per_band = np.abs(attr.scores).sum(2)  # (n, bands)
    assert np.all(per_band[:, near].mean(1) > 2 * per_band[:, ~near].mean(1)), per_band.round(2)
    assert np.all(near[per_band.argmax(1)])

    # from silence, the path starts tens of standard deviations below every band: long, through many ReLU kinks,
    # so the delta is small against the attributions' total size rather than their net sum
    silent = attribute(served, test, targets, audio_baseline="silence")
    assert silent.baseline.startswith("silence") and silent.scores.shape == (16, 20, 16)
    assert np.all(np.abs(silent.delta) < 0.01 * np.abs(silent.scores).sum((1, 2)))


class Numbers(nn.Module):
    """Token ids read as numbers by a linear layer: no embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.float())


class Decided(nn.Module):
    """A one-hot of the argmax: weights that require grad, but an output without a gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(self.head(x).argmax(1), 2).float()


class Detached(MeanPool):
    """Embeddings cut off from the graph before they are used."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x).detach().mean(1))


@pytest.mark.parametrize(("case", "reason"), [
    ("no_embedding", "integer inputs and no nn.Embedding layer to attribute to"),
    ("argmax", "does not depend on its input through gradients"),
    ("detached", "does not depend on its token embeddings through gradients"),
])
def test_models_without_a_gradient_path_are_refused_in_one_line(case, reason):
    if case == "no_embedding":
        served, x = as_served(Numbers(), input_shape=(4,), input_dtype=torch.int64), torch.randint(1, 9, (4, 4))
    elif case == "argmax":
        served, x = as_served(Decided(), input_shape=(3,)), torch.randn(4, 3)
    else:
        served, x = as_served(Detached(9), input_shape=(4,), input_dtype=torch.int64), torch.randint(1, 9, (4, 4))
    with pytest.raises(NotExplainable, match=reason) as caught:
        attribute(served, x, torch.zeros(4, dtype=torch.long))
    assert "\n" not in str(caught.value)


def test_frozen_weights_are_no_obstacle():
    # integrated gradients differentiate with respect to the input: a model loaded with requires_grad_(False) is
    # explained as it is (a linear model: weight * (x - mean), exactly)
    model = nn.Linear(3, 2)
    mean, std = torch.tensor([[1.0, -2.0, 0.5]]), torch.tensor([[2.0, 1.0, 4.0]])
    served = as_served(model, mean, std, input_shape=(3,)).requires_grad_(False)
    x = torch.randn(5, 3)
    attr = attribute(served, x, torch.ones(5, dtype=torch.long))
    assert np.allclose(attr.scores, (model.weight[1] / std[0] * (x - mean)).numpy(), atol=1e-5)


def test_bad_arguments_name_the_value():
    served = as_served(nn.Linear(3, 2), input_shape=(3,))
    with pytest.raises(ValueError, match="targets of shape"):
        attribute(served, torch.randn(4, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="expected output columns 0 .. 1"):
        attribute(served, torch.randn(4, 3), torch.full((4,), 2))
    with pytest.raises(ValueError, match="kind='video'"):
        attribute(served, torch.randn(4, 3), torch.zeros(4, dtype=torch.long), kind="video")
    with pytest.raises(ValueError, match="n_steps=1"):
        attribute(served, torch.randn(4, 3), torch.zeros(4, dtype=torch.long), n_steps=1)
    with pytest.raises(ValueError, match="audio_baseline='noise'"):
        attribute(served, torch.randn(4, 3), torch.zeros(4, dtype=torch.long), audio_baseline="noise")
    with pytest.raises(ValueError, match="without a LogMel module"):
        attribute(served, torch.randn(4, 3), torch.zeros(4, dtype=torch.long), kind="audio")


def test_a_regressor_is_attributed_from_zeros_when_it_has_no_normalisation():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    served = as_served(model, input_shape=(3,))
    x = torch.randn(5, 3)
    attr = attribute(served, x, torch.zeros(5, dtype=torch.long))  # one output column: the target is ignored
    assert attr.baseline.startswith("zeros")
    # a linear model: attribution = weight * (x - 0), exactly
    assert np.allclose(attr.scores, (model.weight.detach() * x).numpy(), atol=1e-5)
