"""The chosen model's figures: the traces each one draws, and that each writes as HTML."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from pipeline.explain.attributions import Attribution
from pipeline.explain.behaviour import classification_report, probabilities, regression_report
from pipeline.explain.model_figures import (
    MAX_SAMPLES,
    MAX_SIDE,
    MAX_TOKENS,
    attribution_figure,
    confused_examples_figure,
    confusion_figure,
    per_class_figure,
    reliability_figure,
    residual_figure,
)


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    proba = probabilities(rng.normal(size=(120, 3)) + 1.5 * np.eye(3)[y])
    return classification_report(y, proba, labels=["cat", "dog", "fox"])


def traces(fig: go.Figure, kind: str) -> list:
    return [t for t in fig.data if t.type == kind]


def html_of(fig: go.Figure) -> str:
    out = fig.to_html(include_plotlyjs=False, full_html=False)
    assert "plotly" in out.lower()
    return out


def attribution(kind: str, scores: np.ndarray, inputs: np.ndarray) -> Attribution:
    n = len(scores)
    return Attribution(kind, "Captum IntegratedGradients, 32 steps, Gauss-Legendre", "the training mean <of it>",
                       np.arange(n) % 3, scores, inputs, np.zeros(n))


def test_confusion_writes_counts_coloured_by_the_true_class_share(report):
    fig = confusion_figure(report)
    (heat,) = traces(fig, "heatmap")
    counts = report.confusion
    assert np.array_equal(np.asarray(heat.text), counts)
    assert np.allclose(np.asarray(heat.z), counts / counts.sum(1, keepdims=True))
    assert list(heat.x) == list(heat.y) == ["cat", "dog", "fox"]
    assert fig.layout.xaxis.title.text == "predicted" and fig.layout.yaxis.title.text == "true"
    html_of(fig)


def test_per_class_bars_and_reliability_diagram(report):
    fig = per_class_figure(report)
    bars = traces(fig, "bar")
    assert [b.name for b in bars] == ["precision", "recall", "f1"]
    assert np.allclose(bars[1].y, report.recall) and list(bars[0].x) == ["cat", "dog", "fox"]
    html_of(fig)

    fig = reliability_figure(report)
    assert f"ECE {report.ece:.4f}" in fig.layout.title.text
    (acc,) = [t for t in traces(fig, "scatter") if t.name == "accuracy"]
    assert np.allclose(acc.y, [b.accuracy for b in report.reliability])
    assert np.allclose(acc.x, [b.confidence for b in report.reliability])
    (counts,) = traces(fig, "bar")
    assert list(counts.y) == [b.count for b in report.reliability] and counts.yaxis == "y2"
    assert any(t.name == "perfect calibration" and list(t.x) == [0, 1] for t in traces(fig, "scatter"))
    html_of(fig)


def test_residuals_against_predictions_and_predictions_against_targets():
    reg = regression_report(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.5]))
    fig = residual_figure(reg)
    left, right = traces(fig, "scattergl")
    assert np.allclose(left.x, reg.y_pred) and np.allclose(left.y, reg.residuals)
    assert np.allclose(right.x, reg.y_true) and np.allclose(right.y, reg.y_pred)
    html_of(fig)


def test_image_attributions_a_thumbnail_and_a_centred_map_per_sample():
    rng = np.random.default_rng(1)
    attr = attribution("image", rng.normal(size=(3, 8, 8)), rng.uniform(size=(3, 3, 8, 8)))
    fig = attribution_figure(attr, labels=["cat", "dog", "fox"])
    heat = traces(fig, "heatmap")
    assert len(heat) == 2 * 3
    assert np.allclose(heat[0].z, attr.inputs[0].mean(0)) and np.allclose(heat[1].z, attr.scores[0])
    assert heat[1].zmid == 0 and heat[1].zmax == pytest.approx(np.abs(attr.scores[0]).max()) == -heat[1].zmin
    assert "IntegratedGradients" in fig.layout.title.text and "the training mean &lt;of it&gt;" in fig.layout.title.text
    assert [a.text for a in fig.layout.annotations][2:4] == ["sample 1: target dog: input",
                                                             "sample 1: target dog: attribution"]
    html_of(fig)

    big = attribution("image", rng.normal(size=(12, 1, 200, 150)).sum(1), rng.uniform(size=(12, 1, 200, 150)))
    heat = traces(attribution_figure(big), "heatmap")
    assert len(heat) == 2 * MAX_SAMPLES
    assert max(np.asarray(heat[1].z).shape) <= MAX_SIDE


def test_text_attributions_one_row_of_words_per_sample():
    ids = np.zeros((2, 60), dtype=np.int64)
    ids[0, :5] = [3, 4, 5, 6, 7]
    ids[1, :] = np.arange(1, 61)
    scores = np.zeros((2, 60))
    scores[0, 2] = 1.0
    scores[1, 50] = -2.0  # the strongest token lies past the first MAX_TOKENS
    words = {i: f"w{i}" for i in range(1, 61)}
    fig = attribution_figure(attribution("text", scores, ids), words=words)
    first, second = traces(fig, "heatmap")
    assert list(first.text[0]) == ["w3", "w4", "w5", "w6", "w7"]  # the padding after the text is left out
    assert list(first.z[0]) == [0, 0, 1.0, 0, 0]
    assert len(second.text[0]) == MAX_TOKENS and "w51" in list(second.text[0])
    assert second.z[0][list(second.text[0]).index("w51")] == -2.0
    html_of(fig)


def test_audio_and_tabular_attributions():
    rng = np.random.default_rng(2)
    audio = attribution("audio", rng.normal(size=(2, 20, 16)), rng.normal(size=(2, 20, 16)))
    fig = attribution_figure(audio)
    heat = traces(fig, "heatmap")
    assert len(heat) == 4 and np.allclose(heat[3].z, audio.scores[1]) and np.allclose(heat[2].z, audio.inputs[1])
    html_of(fig)

    table = attribution("tabular", np.array([[0.1, -2.0, 0.5], [0.2, -1.0, 0.0]]), np.ones((2, 3)))
    fig = attribution_figure(table, features=["age", "income", "height"])
    bars = traces(fig, "bar")
    assert len(bars) == 2
    assert list(bars[0].x) == ["income", "height", "age"]  # largest mean |attribution| first
    assert list(bars[0].y) == [-2.0, 0.5, 0.1]
    html_of(fig)


def test_confused_examples_per_kind(report):
    shown = [i for p in report.pairs for i in p.indices]
    rng = np.random.default_rng(3)
    images = rng.uniform(size=(120, 3, 8, 8))
    fig = confused_examples_figure(report, images, "image")
    heat = traces(fig, "heatmap")
    assert len(heat) == len(shown) and np.allclose(heat[0].z, images[shown[0]].mean(0))
    assert fig.layout.annotations[0].text.startswith(f"{report.labels[report.pairs[0].true]} as ")
    html_of(fig)

    spectra = rng.normal(size=(120, 20, 16))
    fig = confused_examples_figure(report, spectra, "audio")
    heat = traces(fig, "heatmap")
    assert len(heat) == len(shown) and np.allclose(heat[0].z, spectra[shown[0]])
    html_of(fig)

    ids = rng.integers(1, 9, (120, 50))
    (table,) = traces(confused_examples_figure(report, ids, "text", words=[f"w{i}" for i in range(9)]), "table")
    assert list(table.cells.values[2]) == shown
    assert table.cells.values[4][0] == " ".join(f"w{i}" for i in ids[shown[0], :MAX_TOKENS]) + " ..."
    assert table.cells.values[0][0] == report.labels[report.pairs[0].true]

    values = rng.normal(size=(120, 4))
    fig = confused_examples_figure(report, values, "tabular")
    (table,) = traces(fig, "table")
    assert list(table.header.values[4:]) == ["x0", "x1", "x2", "x3"]
    assert table.cells.values[5][0] == f"{values[shown[0], 1]:.4g}"
    html_of(fig)


def test_confused_examples_from_a_mapping_of_the_samples_shown(report):
    # the caller may load only the samples the pairs name: test index -> sample (tensors too)
    import torch

    rng = np.random.default_rng(4)
    shown = [i for p in report.pairs for i in p.indices]
    images = {i: torch.as_tensor(rng.uniform(size=(1, 8, 8))) for i in shown}
    heat = traces(confused_examples_figure(report, images, "image"), "heatmap")
    assert np.allclose(heat[0].z, images[shown[0]][0].numpy())
    waves = {i: rng.normal(size=(1, 400)) for i in shown}  # raw waveforms: drawn as lines
    lines = traces(confused_examples_figure(report, waves, "audio"), "scattergl")
    assert len(lines) == len(shown) and np.allclose(lines[0].y, waves[shown[0]][0])
    with pytest.raises(ValueError, match="no test sample"):
        confused_examples_figure(report, {shown[0]: images[shown[0]]}, "image")
    with pytest.raises(ValueError, match="audio samples of shape"):
        confused_examples_figure(report, {i: np.zeros((2, 3, 4)) for i in shown}, "audio")


def test_no_mistake_no_confused_example():
    perfect = classification_report(np.array([0, 1]), np.eye(2))
    fig = confused_examples_figure(perfect, np.zeros((2, 3)), "tabular")
    assert "no misclassified test sample" in fig.layout.annotations[0].text
