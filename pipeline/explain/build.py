"""Write and log a trial's model explanation: ``explain/`` artifacts of its run, tags on its registered versions.

``explain_trial`` explains one logged trial's refit model on its held-out test split; ``explain_best`` does it for a
sweep's best trial once the sweep has ended (``python -m pipeline.results.registry --explain``: the process that
already has the model's code; the sweeper never imports it). What cannot be explained (a model without gradients)
is one line in the notes; the rest is still written. The hyperparameters' part is the report's (``sections``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.explain.sections import table_csv as _csv
from pipeline.tracking import names

log = logging.getLogger(__name__)
EXPLAIN_DIR = names.EXPLAIN_DIR     # the artifacts' folder on the trial's run
PAGE = names.EXPLAIN_PAGE           # the self-contained page in it
ATTRIBUTED = 6                      # test samples whose predictions are attributed
FILE_MODE = 0o644


@dataclass
class ModelExplanation:
    """What ``explain_trial`` wrote: files by name (text or bytes), the numbers it tags, and its notes."""

    run_id: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def tags(self) -> dict[str, str]:
        """Tags of the trial's run and of its registered versions."""
        out = {names.EXPLAIN_TAG: f"{EXPLAIN_DIR}/{PAGE}", names.EXPLAIN_SECONDS_TAG: f"{self.seconds:.3g}"}
        out.update({names.explain_tag(k): f"{v:.6g}" for k, v in self.summary.items()})
        if self.notes:
            out[names.EXPLAIN_NOTES_TAG] = " | ".join(self.notes)[:4000]
        return out


def explain_trial(uri: str, run_id: str, out_dir: str | Path | None = None, log_artifacts: bool = True,
                  n_attributed: int = ATTRIBUTED) -> ModelExplanation:
    """Explain the refit model of ``run_id`` on its test split; log ``explain/*`` on the run (and tag it) unless
    ``log_artifacts`` is False; also write the files into ``out_dir`` when given."""
    from pipeline.explain.model import load_trial_model
    from pipeline.tracking.store import get_client

    start = time.monotonic()
    client = get_client(uri)
    model = load_trial_model(client, run_id)
    found = ModelExplanation(run_id)
    figures = _behaviour(model, found)
    figures.update(_attributions(model, found, n_attributed))
    found.files[PAGE] = model_page(model, found, figures)
    found.seconds = time.monotonic() - start
    if out_dir is not None:
        write_files(Path(out_dir), found.files)
    if log_artifacts:
        from pipeline.tracking.tracker import Tracker

        tracker = Tracker(client, run_id, uri)
        tracker.log_files(found.files, EXPLAIN_DIR)
        tracker.set_tags(found.tags())
        attach_to_model(client, run_id, found)
        tag_versions(client, run_id, found.tags())
    for note in found.notes:
        log.warning("%s", note)
    return found


def _behaviour(model: Any, found: ModelExplanation) -> dict[str, Any]:
    """Scores on the test split, their files and figures (classification or regression)."""
    from pipeline.explain import behaviour, model_figures

    if model.task == "classification":
        labels = _class_names(model)
        report = behaviour.classification_report(model.targets, behaviour.probabilities(model.outputs), labels)
        found.summary.update(accuracy=report.accuracy, macro_f1=report.macro_f1, ece=report.ece)
        found.files.update({"per_class.csv": _csv(report.per_class_rows()),
                            "confusion.csv": _matrix_csv(report.confusion, labels),
                            "behaviour.json": json.dumps(report.as_json(), indent=2)})
        examples = np.unique([i for pair in report.pairs for i in pair.indices]).astype(int)
        kind = model_kind(model)
        return {"confusion": model_figures.confusion_figure(report),
                "per_class": model_figures.per_class_figure(report),
                "calibration": model_figures.reliability_figure(report),
                "confused": model_figures.confused_examples_figure(report, _examples(model, examples, kind), kind,
                                                                   words=model.tokens or None)}
    report = behaviour.regression_report(model.targets, model.outputs)
    found.summary.update(rmse=report.rmse, mae=report.mae, r2=report.r2)
    found.files.update({"residuals.csv": _csv(report.rows()), "behaviour.json": json.dumps(report.as_json(), indent=2)})
    return {"residuals": model_figures.residual_figure(report)}


def _examples(model: Any, index: np.ndarray, kind: str) -> dict[int, Any]:
    """The confused examples by test index, as ``confused_examples_figure`` draws them (audio: log-mel)."""
    if not len(index):
        return {}
    shown = model.batch(index)
    if kind == "audio":
        from pipeline.explain.attributions import spectrograms

        shown = spectrograms(model.served, shown)
    return {int(i): np.asarray(shown[k]) for k, i in enumerate(index)}


def _attributions(model: Any, found: ModelExplanation, n: int) -> dict[str, Any]:
    """Integrated gradients for ``n`` test samples spread over the split; one note when the model cannot be
    explained that way."""
    from pipeline.explain import attributions, model_figures

    index = attributed_samples(model, n)
    inputs = model.batch(index)
    targets = attributed_targets(model, index)
    try:
        attr = attributions.attribute(model.served, inputs, targets, padding_idx=model.padding_idx)
    except attributions.NotExplainable as e:
        found.notes.append(f"Attributions not computed for run {model.run_id}: {e}")
        return {}
    except Exception as e:  # noqa: BLE001 - inputs the method does not take (tuples, mappings): one line, the rest kept
        found.notes.append(f"Attributions not computed for run {model.run_id}: integrated gradients cannot take its "
                           f"inputs ({type(e).__name__}: {' '.join(str(e).split())[:200]})")
        return {}
    doc = {"samples": index.tolist(), **attr.as_json()}
    found.files["attributions.json"] = json.dumps(doc, indent=2)
    return {"attributions": model_figures.attribution_figure(attr, labels=_class_names(model) or None,
                                                              words=model.tokens or None)}


def attributed_samples(model: Any, n: int) -> np.ndarray:
    """``n`` test indices: for classification one per class in turn (the first of each), else evenly spread."""
    total = len(model.targets)
    if model.task != "classification":
        return np.unique(np.linspace(0, total - 1, min(n, total)).round().astype(int))
    y = np.asarray(model.targets)
    by_class = [np.flatnonzero(y == c) for c in np.unique(y)]
    picked: list[int] = []
    for k in range(total):
        for rows in by_class:
            if k < len(rows) and len(picked) < n:
                picked.append(int(rows[k]))
        if len(picked) >= min(n, total):
            break
    return np.array(sorted(picked), dtype=int)


def attributed_targets(model: Any, index: np.ndarray) -> Any:
    """The output each attribution explains: the predicted class, or the first output of a regression."""
    import torch

    if model.task == "classification":
        return torch.as_tensor(model.outputs[index].argmax(1))
    return torch.zeros(len(index), dtype=torch.long)


def model_kind(model: Any) -> str:
    """image | text | audio | tabular (``attributions.input_kind``); structured inputs are shown as tables."""
    from pipeline.explain.attributions import input_kind

    try:
        return input_kind(model.served, model.batch(np.arange(min(2, len(model.targets)))))
    except (AttributeError, TypeError, ValueError):
        return "tabular"


def _class_names(model: Any) -> list[str]:
    if model.task != "classification":
        return []
    k = model.outputs.shape[1]
    names_ = list(model.class_names)
    return names_ if len(names_) == k else [str(i) for i in range(k)]


def explain_best(uri: str, parent_run_id: str) -> ModelExplanation | None:
    """Explain the best trial of a sweep (None when it has no refit model); its registered versions are tagged."""
    from pipeline.errors import ConfigError
    from pipeline.results.insights.history import load_history

    history = load_history(uri, parent_run_id, top_k=0)
    if history.best is None:
        return None
    try:
        found = explain_trial(uri, history.best.run_id)
    except ConfigError as e:
        log.info("No model explanation: %s", e)
        return None
    log.info("Explanation of %s (run %s): %s in %.1f s: artifact %s/%s", names.trial_run_name(history.best.number),
             found.run_id, _summary_text(found.summary), found.seconds, EXPLAIN_DIR, PAGE)
    return found


def _summary_text(summary: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in summary.items()) or "no scores"


def attach_to_model(client: Any, run_id: str, found: ModelExplanation) -> str | None:
    """Put the explanation beside the run's logged model too (its ``explain/`` artifacts and tags), so that a
    registered version made from that model carries it wherever the version is opened; the model's id, or None
    when the run logged no model (a sweep logs the best trial's only)."""
    from pipeline.results.best_model import logged_model_id

    model_id = logged_model_id(client, client.get_run(run_id).info.experiment_id, run_id)
    if model_id is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        write_files(Path(tmp), found.files)
        client.log_model_artifacts(model_id, tmp, EXPLAIN_DIR)
    client.set_logged_model_tags(model_id, found.tags())
    return model_id


def tag_versions(client: Any, run_id: str, tags: Mapping[str, str]) -> list[str]:
    """Tag every registered model version made from ``run_id`` with the explanation's tags; their versions."""
    found = client.search_model_versions(f"run_id = '{run_id}'")
    for mv in found:
        for key, value in tags.items():
            client.set_model_version_tag(mv.name, mv.version, key, value)
    return [f"{mv.name}/{mv.version}" for mv in found]


def model_page(model: Any, found: ModelExplanation, figures: Mapping[str, Any]) -> str:
    """The explanation as one self-contained page (plotly.js inlined once)."""
    import html

    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    from pipeline.results.insights.html import STYLE  # the report's look

    head = (f"<h1>How the model of run {html.escape(model.run_id)} behaves</h1>"
            f"<p>Its refit model on the held-out test split ({len(model.targets)} samples), built in "
            f"{found.seconds:.1f} s. {html.escape(_summary_text(found.summary))}.</p>")
    notes = "".join(f'<p class="caveat">{html.escape(n)}</p>' for n in found.notes)
    parts = [head, notes]
    for anchor, (title, caption) in MODEL_SECTIONS.items():
        if anchor in figures:
            div = pio.to_html(figures[anchor], full_html=False, include_plotlyjs=False, div_id=f"fig-{anchor}",
                              config={"displaylogo": False, "responsive": True})
            parts.append(f'<section id="{anchor}"><h2>{html.escape(title)}</h2>'
                         f'<p class="note">{html.escape(caption)}</p>{div}</section>')
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Explanation {html.escape(model.run_id)}"
            f"</title><style>{STYLE}</style>\n<script>{get_plotlyjs()}</script></head><body>\n{''.join(parts)}\n"
            "</body></html>\n")


# (anchor: heading, what it shows), in reading order
MODEL_SECTIONS = {
    "confusion": ("Confusion matrix", "Test samples by true class (rows) and predicted class (columns); colour: the "
                  "share of the row."),
    "per_class": ("Per-class precision, recall and F1", "On the test split."),
    "calibration": ("Calibration", "Reliability diagram: the accuracy of the predictions in each confidence bin "
                    "against their mean confidence; a calibrated model lies on the diagonal. ECE: the bins' mean "
                    "gap weighted by their share of samples."),
    "confused": ("Most confused pairs", "The pairs of classes mistaken most often, with test samples of each "
                 "(the most confident mistakes first)."),
    "residuals": ("Residuals", "Prediction errors on the test split against the predicted value."),
    "attributions": ("Attributions", "Which parts of each input the prediction rests on: integrated gradients "
                     "from the stated baseline (positive: towards the explained output)."),
}


def _matrix_csv(matrix: np.ndarray, labels: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["true \\ predicted", *labels])
    for label, row in zip(labels, np.asarray(matrix)):
        writer.writerow([label, *row.tolist()])
    return buf.getvalue()


def write_files(folder: Path, files: Mapping[str, str | bytes]) -> None:
    """``files`` into ``folder`` (created), each readable by everyone."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        with tempfile.NamedTemporaryFile("wb", dir=folder, delete=False, prefix=f".{name}.") as tmp:
            tmp.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.chmod(tmp.name, FILE_MODE)
        os.replace(tmp.name, path)
