"""The chosen model's figures (plotly), one pure function each: its confusion matrix, per-class scores, calibration
and most confused test samples (``behaviour.ClassReport``), its residuals (``behaviour.RegressionReport``) and the
attributions of single predictions (``attributions.Attribution``).

Figures stay small: at most ``MAX_SAMPLES`` attributed samples, images block-averaged down to ``MAX_SIDE`` pixels a
side, ``MAX_TOKENS`` tokens a row, ``MAX_FEATURES`` features a chart. Attributions are drawn signed on a diverging
colour scale centred at zero (red: toward the target, blue: away from it), each sample on its own range.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pipeline.explain.attributions import Attribution
from pipeline.explain.behaviour import ClassReport, ConfusedPair, RegressionReport
from pipeline.results.insights.figures import HEIGHT, _figure, note_figure

MAX_SAMPLES = 8      # attributed samples drawn
MAX_SIDE = 64        # image side drawn, in pixels (larger images are block-averaged)
MAX_TOKENS = 40      # tokens drawn per text
MAX_FEATURES = 20    # tabular features drawn (the largest mean |attribution| first)
MAX_COLUMNS = 12     # feature columns in a table of confused tabular samples
ROW_HEIGHT = {"image": 240, "audio": 240, "text": 110}
DIVERGING = {"colorscale": "RdBu", "reversescale": True, "zmid": 0.0}  # red positive, blue negative
COLORS = {"precision": "#1f77b4", "recall": "#ff7f0e", "f1": "#2ca02c"}
Words = Mapping[int, str] | Sequence[str]
Inputs = Any  # the test split indexed by test index (an array, a tensor), or a mapping from test index to a sample


def confusion_figure(report: ClassReport) -> go.Figure:
    """The confusion matrix: counts written in the cells, coloured by the share of the true class (rows) so that
    rare classes show their mistakes as well as common ones."""
    counts = report.confusion.astype(int)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    names = list(report.labels)
    fig = _figure(f"Confusion matrix ({int(counts.sum())} test samples, accuracy {report.accuracy:.3f})",
                  "predicted", "true")
    fig.add_heatmap(z=shares, x=names, y=names, text=counts, texttemplate="%{text}", colorscale="Blues",
                    zmin=0.0, zmax=1.0, colorbar={"title": {"text": "share of<br>true class"}},
                    hovertemplate="true %{y}, predicted %{x}: %{text} (%{z:.1%} of %{y})<extra></extra>")
    fig.update_xaxes(type="category", side="bottom")
    fig.update_yaxes(type="category", autorange="reversed")
    side = max(HEIGHT, 120 + 28 * len(names))
    fig.update_layout(height=side)
    return fig


def per_class_figure(report: ClassReport) -> go.Figure:
    """Precision, recall and F1 of each class, grouped; the class's support in the hover."""
    fig = _figure(f"Per-class scores (macro F1 {report.macro_f1:.3f})", "class", "score")
    names = list(report.labels)
    for key in ("precision", "recall", "f1"):
        fig.add_bar(x=names, y=getattr(report, key), name=key, marker_color=COLORS[key],
                    customdata=report.support, hovertemplate=f"%{{x}}: {key} %{{y:.3f}} "
                                                             "(support %{customdata})<extra></extra>")
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1.05])
    return fig


def reliability_figure(report: ClassReport) -> go.Figure:
    """Reliability diagram: each non-empty bin's accuracy at its mean confidence (a calibrated model lies on the
    diagonal), the bins' sample counts as grey bars on the right axis; the ECE in the title."""
    bins = report.reliability
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=[(b.lower + b.upper) / 2 for b in bins], y=[b.count for b in bins],
                width=[b.upper - b.lower for b in bins], name="samples in bin", marker_color="#d9d9d9",
                opacity=0.6, hovertemplate="%{y} samples<extra></extra>", secondary_y=True)
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                    line={"dash": "dash", "color": "#7f7f7f"}, hoverinfo="skip", secondary_y=False)
    fig.add_scatter(x=[b.confidence for b in bins], y=[b.accuracy for b in bins], mode="lines+markers",
                    name="accuracy", line={"color": "#1f77b4"}, customdata=[b.count for b in bins],
                    hovertemplate="confidence %{x:.3f}: accuracy %{y:.3f} (%{customdata} samples)<extra></extra>",
                    secondary_y=False)
    fig.update_layout(title=f"Reliability diagram (ECE {report.ece:.4f}, {report.n_bins} equal-width bins)",
                      height=HEIGHT, template="plotly_white", barmode="overlay")
    fig.update_xaxes(title_text="confidence (top-label probability)", range=[0, 1])
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02], secondary_y=False)
    fig.update_yaxes(title_text="samples", secondary_y=True, showgrid=False)
    return fig


def residual_figure(reg: RegressionReport) -> go.Figure:
    """Left: residual (true - predicted) against the prediction, around zero; right: prediction against target,
    around the diagonal. One colour per output."""
    t, p, r = (a.reshape(len(a), -1) for a in (reg.y_true, reg.y_pred, reg.residuals))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("residual vs predicted", "predicted vs true"))
    for j in range(t.shape[1]):
        name = "output" if t.shape[1] == 1 else f"output {j}"
        index = np.arange(len(t))
        fig.add_scattergl(x=p[:, j], y=r[:, j], mode="markers", name=name, legendgroup=name, customdata=index,
                          marker={"size": 5, "opacity": 0.6}, row=1, col=1,
                          hovertemplate="#%{customdata}: predicted %{x:.4g}, residual %{y:.4g}<extra></extra>")
        fig.add_scattergl(x=t[:, j], y=p[:, j], mode="markers", name=name, legendgroup=name, showlegend=False,
                          customdata=index, marker={"size": 5, "opacity": 0.6}, row=1, col=2,
                          hovertemplate="#%{customdata}: true %{x:.4g}, predicted %{y:.4g}<extra></extra>")
    low, high = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    fig.add_scatter(x=[float(p.min()), float(p.max())], y=[0, 0], mode="lines", line={"dash": "dash",
                    "color": "#7f7f7f"}, showlegend=False, hoverinfo="skip", row=1, col=1)
    fig.add_scatter(x=[low, high], y=[low, high], mode="lines", line={"dash": "dash", "color": "#7f7f7f"},
                    name="predicted = true", hoverinfo="skip", row=1, col=2)
    fig.update_xaxes(title_text="predicted", row=1, col=1)
    fig.update_yaxes(title_text="residual (true - predicted)", row=1, col=1)
    fig.update_xaxes(title_text="true", row=1, col=2)
    fig.update_yaxes(title_text="predicted", row=1, col=2)
    fig.update_layout(title=f"Residuals on {len(t)} test samples (RMSE {reg.rmse:.4g}, MAE {reg.mae:.4g}, "
                            f"R² {reg.r2:.3f})", height=HEIGHT, template="plotly_white")
    return fig


def attribution_figure(attr: Attribution, labels: Sequence[str] | None = None, words: Words | None = None,
                       features: Sequence[str] | None = None) -> go.Figure:
    """The attributions of up to ``MAX_SAMPLES`` samples, titled with the method and baseline: images as the
    input (grayscale) beside its signed attribution map, texts as a row of tokens coloured by attribution
    (``words`` maps token ids to words), audio as the log-mel spectrogram beside its attribution map, tables as
    bars per feature (``features`` names them), one bar series per sample. ``labels`` names the targets."""
    n = min(len(attr.scores), MAX_SAMPLES)
    titles = [f"sample {i}: {_label(labels, int(attr.targets[i]))}" for i in range(n)]
    sign = "above zero" if attr.kind == "tabular" else "red"
    title = (f"Attributions: {html.escape(attr.method, quote=False)}<br><sub>baseline: "
             f"{html.escape(attr.baseline, quote=False)}; {sign} pushes toward the target, "
             f"{'below' if attr.kind == 'tabular' else 'blue'} away</sub>")
    if attr.kind == "tabular":
        return _tabular_attributions(attr, n, titles, title, features)
    if attr.kind == "text":
        return _text_attributions(attr, n, titles, title, words)
    if attr.kind in ("image", "audio"):
        return _map_attributions(attr, n, titles, title)
    raise ValueError(f"attr.kind={attr.kind!r} is invalid: expected image, text, audio or tabular")


def confused_examples_figure(report: ClassReport, inputs: Inputs, kind: str, words: Words | None = None,
                             features: Sequence[str] | None = None) -> go.Figure:
    """The test samples of the most confused pairs (``report.pairs``), the most confident mistakes first.

    ``inputs`` holds the samples the pairs name, by test index: the whole split ``(n, ...)`` or a mapping from test
    index to one sample. Images ``(C, H, W)`` or ``(H, W)`` are drawn as grayscale thumbnails, token ids ``(L,)``
    as a table of snippets (``words`` maps ids to words), audio as heatmaps of its log-mel spectrogram
    ``(n_mels, frames)`` (``attributions.spectrograms``; a raw waveform is drawn as a line instead), tables ``(F,)``
    as a table of values (``features`` names them)."""
    if not any(p.indices for p in report.pairs):
        return note_figure("Most confused pairs", "no misclassified test sample")
    if kind not in ("image", "text", "audio", "tabular"):
        raise ValueError(f"{kind=} is invalid: expected image, text, audio or tabular")
    shown = {i: _sample(inputs, i) for p in report.pairs for i in p.indices}
    if kind in ("text", "tabular"):
        return _confused_table(report, shown, kind, words, features)
    if kind == "image":
        bad = [x.shape for x in shown.values() if x.ndim not in (2, 3)]
        if bad:
            raise ValueError(f"image samples of shape {bad[0]}: expected (C, H, W) or (H, W)")
        return _confused_grid(report, {i: _shrink(_gray(x[None]))[0] for i, x in shown.items()}, "images")
    bad = [x.shape for x in shown.values() if np.squeeze(x).ndim not in (1, 2)]
    if bad:
        raise ValueError(f"audio samples of shape {bad[0]}: expected log-mel spectrograms (n_mels, frames) "
                         "(attributions.spectrograms) or waveforms (T,)")
    return _confused_grid(report, {i: np.squeeze(x) for i, x in shown.items()}, "audio")


def square_pixels(fig: go.Figure) -> None:
    """Draw every subplot's pixels square (an image keeps its aspect ratio whatever the page's width)."""
    fig.for_each_yaxis(lambda axis: axis.update(scaleanchor=axis.anchor, scaleratio=1, constrain="domain"))
    fig.for_each_xaxis(lambda axis: axis.update(constrain="domain"))


# -- attributions ----------------------------------------------------------------------------------------------------
def _map_attributions(attr: Attribution, n: int, titles: list[str], title: str) -> go.Figure:
    """Image or audio: per sample, the input beside its attribution map."""
    image = attr.kind == "image"
    shown = _gray(attr.inputs[:n]) if image else attr.inputs[:n]
    scores = attr.scores[:n]
    if image:
        shown, scores = _shrink(shown), _shrink(scores)
    left = "input" if image else "log-mel spectrogram"
    names = [t for i in range(n) for t in (f"{titles[i]}: {left}", f"{titles[i]}: attribution")]
    fig = make_subplots(rows=n, cols=2, subplot_titles=names, vertical_spacing=min(0.08, 0.4 / n),
                        horizontal_spacing=0.06)
    for i in range(n):
        fig.add_heatmap(z=shown[i], colorscale="gray" if image else "Viridis", showscale=False, row=i + 1, col=1,
                        hovertemplate="(%{y}, %{x}): %{z:.4g}<extra></extra>")
        fig.add_heatmap(z=scores[i], zmin=-_span(scores[i]), zmax=_span(scores[i]), showscale=False,
                        row=i + 1, col=2, hovertemplate="(%{y}, %{x}): %{z:.4g}<extra></extra>", **DIVERGING)
    if image:
        fig.update_yaxes(autorange="reversed")
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
        square_pixels(fig)
    else:
        fig.update_xaxes(title_text="frame", row=n)
        fig.update_yaxes(title_text="mel band")
    fig.update_layout(title=title, height=120 + ROW_HEIGHT[attr.kind] * n, template="plotly_white")
    return fig


def _text_attributions(attr: Attribution, n: int, titles: list[str], title: str, words: Words | None) -> go.Figure:
    """Per sample, one row of tokens coloured by attribution: the ``MAX_TOKENS`` around its strongest token."""
    rows = []
    for i in range(n):
        ids, scores = _trim_padding(attr.inputs[i], attr.scores[i])
        start = _window(scores, MAX_TOKENS)
        rows.append((start, ids[start:start + MAX_TOKENS], scores[start:start + MAX_TOKENS]))
    names = [t + ("" if len(attr.inputs[i]) <= MAX_TOKENS else f" (tokens {s}..{s + len(ids) - 1})")
             for i, (t, (s, ids, _)) in enumerate(zip(titles, rows))]
    fig = make_subplots(rows=n, cols=1, subplot_titles=names, vertical_spacing=min(0.1, 0.5 / n))
    for i, (start, ids, scores) in enumerate(rows):
        tokens = [html.escape(_word(words, int(t)), quote=False) for t in ids]
        fig.add_heatmap(z=[scores], x=list(range(start, start + len(ids))), y=[""], text=[tokens],
                        texttemplate="%{text}", zmin=-_span(scores), zmax=_span(scores), showscale=False,
                        row=i + 1, col=1, hovertemplate="token %{x} %{text}: %{z:.4g}<extra></extra>", **DIVERGING)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(title=title, height=120 + ROW_HEIGHT["text"] * n, template="plotly_white")
    return fig


def _tabular_attributions(attr: Attribution, n: int, titles: list[str], title: str,
                          features: Sequence[str] | None) -> go.Figure:
    """Bars per feature, one series per sample; the ``MAX_FEATURES`` features of largest mean |attribution|."""
    names = _feature_names(features, attr.scores.shape[1])
    keep = np.argsort(-np.abs(attr.scores[:n]).mean(axis=0), kind="stable")[:MAX_FEATURES]
    shown = [names[j] for j in keep]
    fig = _figure(title, "feature", "contribution to the target output")
    for i in range(n):
        fig.add_bar(x=shown, y=attr.scores[i, keep], name=titles[i], customdata=attr.inputs[i, keep],
                    hovertemplate="%{x} = %{customdata:.4g}: %{y:.4g}<extra>" + html.escape(titles[i]) + "</extra>")
    fig.update_layout(barmode="group", margin={"t": 110})
    fig.update_xaxes(type="category")
    return fig


# -- confused examples -----------------------------------------------------------------------------------------------
def _confused_grid(report: ClassReport, shown: Mapping[int, np.ndarray], what: str) -> go.Figure:
    """A row per confused pair, a panel per example: grayscale images, log-mel spectrograms (band 0 at the bottom)
    or, for waveforms, a line."""
    pairs = [p for p in report.pairs if p.indices]
    cols = max(len(p.indices) for p in pairs)
    titles = [(_example_title(report, p, j) if j < len(p.indices) else "") for p in pairs for j in range(cols)]
    fig = make_subplots(rows=len(pairs), cols=cols, subplot_titles=titles, vertical_spacing=min(0.1, 0.5 / len(pairs)),
                        horizontal_spacing=0.03)
    for r, p in enumerate(pairs, start=1):
        for c, idx in enumerate(p.indices, start=1):
            z = shown[idx]
            if z.ndim == 1:
                fig.add_scattergl(y=z, mode="lines", line={"width": 1, "color": "#1f77b4"}, showlegend=False,
                                  row=r, col=c, hovertemplate="%{x}: %{y:.4g}<extra></extra>")
            else:
                fig.add_heatmap(z=z, colorscale="gray" if what == "images" else "Viridis", showscale=False, row=r,
                                col=c, hovertemplate="(%{y}, %{x}): %{z:.4g}<extra></extra>")
    if what == "images":
        fig.update_yaxes(autorange="reversed")
        square_pixels(fig)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(title=f"Most confused pairs: test {what}, the most confident mistakes first",
                      height=120 + 200 * len(pairs), template="plotly_white")
    return fig


def _confused_table(report: ClassReport, shown: Mapping[int, np.ndarray], kind: str, words: Words | None,
                    features: Sequence[str] | None) -> go.Figure:
    """A table row per example: true and predicted class, the test index, the confidence, then the text snippet
    (``MAX_TOKENS`` tokens) or the first ``MAX_COLUMNS`` feature values."""
    rows = [(p, idx, conf) for p in report.pairs for idx, conf in zip(p.indices, p.confidence)]
    head = ["true", "predicted", "test index", "confidence"]
    cells = [[report.labels[p.true] for p, _, _ in rows], [report.labels[p.predicted] for p, _, _ in rows],
             [idx for _, idx, _ in rows], [f"{conf:.3f}" for _, _, conf in rows]]
    if kind == "text":
        head.append("text")
        cells.append([_snippet(shown[idx], words) for _, idx, _ in rows])
    else:
        flat = {i: x.reshape(-1) for i, x in shown.items()}
        names = _feature_names(features, len(next(iter(flat.values()))))[:MAX_COLUMNS]
        head += names
        cells += [[f"{flat[idx][j]:.4g}" for _, idx, _ in rows] for j in range(len(names))]
    fig = go.Figure(go.Table(header={"values": [html.escape(h, quote=False) for h in head], "align": "left"},
                             cells={"values": cells, "align": "left"}))
    fig.update_layout(title="Most confused pairs: test samples, the most confident mistakes first",
                      height=max(HEIGHT, 160 + 30 * len(rows)), template="plotly_white")
    return fig


def _sample(inputs: Inputs, index: int) -> np.ndarray:
    """Test sample ``index`` of ``inputs`` (a split indexed by test index, or a mapping from test index)."""
    try:
        x = inputs[index]
    except (KeyError, IndexError) as e:
        raise ValueError(f"inputs hold no test sample {index}: expected every sample report.pairs names") from e
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)


# -- helpers ---------------------------------------------------------------------------------------------------------
def _gray(x: np.ndarray) -> np.ndarray:
    """``(n, C, H, W)`` -> ``(n, H, W)``: the channels' mean; ``(n, H, W)`` unchanged."""
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=1) if x.ndim == 4 else x


def _shrink(maps: np.ndarray, side: int = MAX_SIDE) -> np.ndarray:
    """``(n, H, W)`` block-averaged by the smallest whole factor that brings both sides to at most ``side``
    (edges that do not fill a block are dropped)."""
    maps = np.asarray(maps, dtype=np.float64)
    f = int(np.ceil(max(maps.shape[1:]) / side))
    if f <= 1:
        return maps
    n, h, w = maps.shape[0], maps.shape[1] // f, maps.shape[2] // f
    return maps[:, :h * f, :w * f].reshape(n, h, f, w, f).mean(axis=(2, 4))


def _span(scores: np.ndarray) -> float:
    """The half-width of a colour range centred at zero that holds every score."""
    return float(max(np.abs(scores).max(initial=0.0), 1e-12))


def _trim_padding(ids: np.ndarray, scores: np.ndarray, padding_idx: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The tokens up to the last one that is not padding (texts are padded at the end); one token at least."""
    kept = np.flatnonzero(np.asarray(ids) != padding_idx)
    end = int(kept[-1]) + 1 if len(kept) else 1
    return np.asarray(ids)[:end], np.asarray(scores)[:end]


def _window(scores: np.ndarray, width: int) -> int:
    """The start of the ``width`` tokens centred (as far as the text allows) on the largest ``|score|``."""
    if len(scores) <= width:
        return 0
    centre = int(np.argmax(np.abs(scores)))
    return int(np.clip(centre - width // 2, 0, len(scores) - width))


def _snippet(ids: np.ndarray, words: Words | None) -> str:
    kept = [int(t) for t in np.asarray(ids).reshape(-1) if int(t) != 0]
    text = " ".join(_word(words, t) for t in kept[:MAX_TOKENS])
    return html.escape(text + (" ..." if len(kept) > MAX_TOKENS else ""), quote=False)


def _word(words: Words | None, token: int) -> str:
    if words is None:
        return str(token)
    try:
        return str(words[token])
    except (KeyError, IndexError):
        return f"<{token}>"


def _label(labels: Sequence[str] | None, target: int) -> str:
    if labels is None or not 0 <= target < len(labels):
        return f"target {target}"
    return f"target {labels[target]}"


def _feature_names(features: Sequence[str] | None, count: int) -> list[str]:
    if features is None:
        return [f"x{j}" for j in range(count)]
    if len(features) != count:
        raise ValueError(f"{len(features)} feature names for {count} features")
    return [str(f) for f in features]


def _example_title(report: ClassReport, pair: ConfusedPair, j: int) -> str:
    true, pred = report.labels[pair.true], report.labels[pair.predicted]
    return html.escape(f"{true} as {pred}: #{pair.indices[j]} ({pair.confidence[j]:.0%})", quote=False)
