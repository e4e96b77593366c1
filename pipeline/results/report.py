"""What a sweep learned, put on its parent run: an interactive HTML report, figures, importance, the selection gap.

    python -m pipeline.report PARENT_RUN_ID [--tracking-uri URI] [--top-k 5] [--out DIR]

``write_report`` is the one entry point: after every batch the sweeper calls it with ``final=False``
(``report.html`` rewritten in the sweep directory, nothing logged), at the end with ``final=True``
(also the static PNGs for MLflow's artifact preview, the CSV/JSON tables, all logged as ``report/``
artifacts of the parent run). Works on finished sweeps, on sweeps that ended early (failures, Ctrl-C)
or were resumed, and on Hydra basic-sweeper multiruns; run it again at any time, the artifacts are replaced.

Nothing is logged as a metric: a sweep-level number logged once makes a one-point chart on the parent's
metric tab. Importance goes to ``report/importance.json`` (and ``importance.csv``), its verdict and the
selection gap to tags.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline import runtime
from pipeline.cli import one_line_errors
from pipeline.results.insights.curves import CurveCache, fetch_curves
from pipeline.results.insights.history import (
    TOP_K,
    SelectionGap,
    SweepHistory,
    bound_notes,
    load_history,
    selection_gap,
)
from pipeline.results.insights.html import gap_text, render_html
from pipeline.results.insights.importance import (
    Importance,
    importance_note,
    min_trials,
    sweep_importance,
    trials_needed,
)
from pipeline.tracking import names, runs
from pipeline.tracking.names import SWEEP_TAG
from pipeline.tracking.store import MLFLOW_DEFAULTS, existing_store, get_client, resolve_tracking_uri
from pipeline.tracking.tracker import Tracker

log = logging.getLogger(__name__)
REPORT_DIR, HTML_NAME = names.REPORT_DIR, names.REPORT_PAGE  # on the parent run, and in the sweep directory
DIR_MODE, FILE_MODE = 0o755, 0o644  # readable by everyone, as any other output of the sweep


def write_report(uri: str, parent_run_id: str, out_dir: str | Path, final: bool = False, top_k: int = TOP_K,
                 curves: CurveCache | None = None, ui_url: str | None = None) -> dict[str, Any]:
    """Write ``report.html`` of the sweep ``parent_run_id`` into ``out_dir`` (created 0o755, files 0o644).

    ``final=False`` (after each batch, while the sweep runs): only ``report.html``, replaced atomically
    so a reader never sees half a page; nothing is sent to MLflow. ``final=True``: also the static
    figures and tables, all logged as ``report/*`` artifacts of the parent run, with tags
    ``report.html``, ``importance.status`` (and ``importance.method``) and the selection gap's.
    Returns ``artifacts``, ``importance``, ``importance_method``, ``importance_note``,
    ``selection_gap``, ``best_trial`` and ``tags``. ``curves`` keeps the ended trials' curves across the rebuilds
    of one sweep (the sweeper's); ``ui_url`` is the MLflow UI the page's run links open (``table.ui_base``).
    """
    return _build(uri, parent_run_id, Path(out_dir), final, (top_k, curves), ui_url)[0]


def generate_report(uri: str, parent_run_id: str, top_k: int = TOP_K, out_dir: str | Path | None = None,
                    curves: CurveCache | None = None, ui_url: str | None = None) -> dict[str, Any]:
    """The final report of ``parent_run_id`` (``write_report(final=True)``), kept in ``out_dir`` if given;
    prints its summary and returns what ``write_report`` does."""
    with tempfile.TemporaryDirectory() as tmp:
        found, summary = _build(uri, parent_run_id, Path(out_dir if out_dir is not None else Path(tmp) / REPORT_DIR),
                                True, (top_k, curves), ui_url)
    print(summary, flush=True)
    return found


def _build(uri: str, parent_run_id: str, out_dir: Path, final: bool, reading: tuple[int, CurveCache | None],
           ui_url: str | None = None) -> tuple[dict[str, Any], str]:
    """``write_report``'s work; also returns the terminal summary."""
    top_k, cache = reading
    folder = _make_dir(out_dir)
    history = load_history(uri, parent_run_id, top_k if final else 0)
    importance = sweep_importance(history)
    gap = selection_gap(history)
    note = importance_note(history, importance)
    curves = fetch_curves(get_client(uri), uri, history, cache)
    figures = interactive_figures(history, importance, curves, note)
    started = time.monotonic()
    effects, effect_files, effect_notes = effect_parts(uri, history) if final else ({}, {}, [])
    effect_seconds = time.monotonic() - started
    page = render_html(history, importance, gap, {**figures, **effects}, uri, note, _plotly_js(), final, ui_url,
                       effect_notes)
    _write(folder / HTML_NAME, page)
    written, tags = [HTML_NAME], {}
    if final:
        written = write_static_files(history, importance, gap, note, folder)
        for name, text in effect_files.items():
            _write(folder / name, text)
        written += list(effect_files)
        tags = {**report_tags(importance, gap, note), names.EFFECTS_SECONDS_TAG: f"{effect_seconds:.3g}"}
        tracker = Tracker(get_client(uri), parent_run_id, uri)
        tracker.log_files({name: (folder / name).read_bytes() for name in written}, REPORT_DIR)
        tracker.set_tags(tags)
    found = {"parent_run_id": parent_run_id, "artifacts": [f"{REPORT_DIR}/{n}" for n in written],
            "importance": importance.as_dict() if importance else {},
            "importance_method": importance.method if importance else None, "importance_note": note,
            names.SELECTION_GAP_TAG: gap.gap if gap else None, "best_trial": history.best and history.best.number,
            "tags": tags}
    return found, summary_text(history, importance, gap)


def effect_parts(uri: str, history: SweepHistory) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """How each hyperparameter acted (``pipeline.explain.sections.hyper_sections``): figures, files and notes; a
    failure is a note, never the report's."""
    from pipeline.explain.sections import hyper_sections

    try:
        defaults = names.SweepTags.decode(get_client(uri).get_run(history.parent_run_id).data.tags).defaults
        return hyper_sections(history, defaults)
    except Exception as e:  # noqa: BLE001 - the report is written without them
        log.warning("Could not explain the hyperparameters' effects: %s: %s", type(e).__name__, e)
        return {}, {}, [f"The hyperparameters' effects could not be computed ({type(e).__name__}: {e})."]


def interactive_figures(history: SweepHistory, importance: Importance | None, curves: dict[int, Any], note: str
                        ) -> dict[str, Any]:
    """The report's plotly figures by section anchor (``pipeline.results.insights.html.SECTIONS``, and
    ``FRONT_SECTIONS`` for a sweep with several objectives)."""
    from pipeline.results.insights import figures as f
    from pipeline.results.insights.timeline import timeline_figure

    drawn = {"history": f.history_figure(history), "parallel": f.parallel_figure(history),
             "slices": f.slice_figure(history), "contour": f.contour_figure(history, importance),
             "intermediate": f.intermediate_figure(history, curves), "ecdf": f.ecdf_figure(history),
             "timeline": timeline_figure(history), "importance": f.importance_figure(importance, note)}
    if history.multi:  # several objectives: the front and its hypervolume come first
        from pipeline.results.insights.front import front_figure, hypervolume_figure

        drawn = {"front": front_figure(history), names.HYPERVOLUME: hypervolume_figure(history), **drawn}
    return drawn


def write_static_files(history: SweepHistory, importance: Importance | None, gap: SelectionGap | None, note: str,
                       folder: Path) -> list[str]:
    """PNG figures (MLflow previews them), ``trials.csv``, ``importance.csv`` and ``importance.json``."""
    from pipeline.results.insights.plots import write_figures

    figures = write_figures(history, importance, folder)
    rows = [{"parameter": n, "importance": v, "std": s} for n, v, s in (importance.ranked() if importance else [])]
    files = {names.TRIALS_TABLE: _csv(history.rows()), "importance.csv": _csv(rows, ["parameter", "importance", "std"]),
             "importance.json": json.dumps(importance_json(history, importance, note), indent=2)}
    for name, text in files.items():
        _write(folder / name, text)
    for name in figures:
        os.chmod(folder / name, FILE_MODE)
    return [*figures, HTML_NAME, *files]


def importance_json(history: SweepHistory, importance: Importance | None, note: str) -> dict[str, Any]:
    """``report/importance.json``: the verdict, the rule behind it, and the ranking when there is one."""
    out = {"status": note, "complete_trials": len(history.ranked()), "min_trials": min_trials(history.space.dim),
           "more_trials_needed": trials_needed(history)}
    return {**out, **(importance.as_json() if importance else {"ranked": []})}


def report_tags(importance: Importance | None, gap: SelectionGap | None, note: str) -> dict[str, str]:
    """Tags for the parent run: where the report is, the importance's verdict, the selection gap."""
    tags = {names.REPORT_TAG: f"{REPORT_DIR}/{HTML_NAME}", names.IMPORTANCE_STATUS_TAG: note}
    if importance is not None:
        tags[names.IMPORTANCE_METHOD_TAG] = importance.method
    if gap is not None:
        gap_tags = {"": gap.gap, "cv_score": gap.cv_score, "test_score": gap.test_score}
        if gap.optimism is not None:
            gap_tags.update(median=gap.median_gap, optimism=gap.optimism)
        tags.update({names.selection_gap_tag(k): f"{v:.6g}" for k, v in gap_tags.items()})
    return tags


def summary_text(history: SweepHistory, importance: Importance | None, gap: SelectionGap | None) -> str:
    """The terminal summary: counts, best trial, the importance table (or why there is none), the gap."""
    counts = ", ".join(f"{n} {s}" for s, n in history.counts().items() if n) or "no trials"
    lines = [f"Sweep {history.parent_run_id} ({history.strategy}, {history.status.lower()}): {counts}"]
    best = history.best
    if history.multi:
        lines += front_lines(history)
    elif best is not None:
        lines.append(f"Best: {names.trial_run_name(best.number)}, {history.label} {best.value:.6g}  "
                     f"{json.dumps(best.params)}")
    lines.append("Hyperparameter importance: " + importance_note(history, importance))
    if importance is not None:
        width = max(len("parameter"), *(len(n) for n in importance.names))
        lines += [f"  ({importance.method})", f"  {'parameter':<{width}}  importance  spread"]
        lines += [f"  {n:<{width}}  {v:>10.3f}  {s:>6.3f}{'  (uncertain)' if s > v else ''}"
                  for n, v, s in importance.ranked()]
        lines.append(f"  single parameters explain {importance.main_effects_share:.0%} of the surrogate's variance")
    if history.metric or gap is not None:  # a foreign app's trials have no held-out test split
        lines.append("Selection gap: " + gap_text(gap))
    lines += [f"Note: {n.text()}" for n in bound_notes(history)]
    lines.append(f"Report: artifact {REPORT_DIR}/{HTML_NAME} of run {history.parent_run_id}")
    return "\n".join(lines)


def front_lines(history: SweepHistory, shown: int = 8) -> list[str]:
    """Several objectives, in the terminal summary: the front, its hypervolume, the feasible split, the best."""
    from pipeline.results.insights.front import FEASIBLE, FRONT, INFEASIBLE, groups, reference_text

    found, best = groups(history), history.best
    members = ", ".join(names.trial_run_name(r.number) for r in found[FRONT][:shown])
    more = ", ..." if len(found[FRONT]) > shown else ""
    volume = f"; hypervolume {history.hypervolume[-1][1]:.6g} against {reference_text(history)}" \
        if history.hypervolume else ""
    lines = [f"Pareto front: {len(found[FRONT])} trials ({members}{more}){volume}"]
    if history.constraints:
        lines.append(f"Feasible: {len(found[FRONT]) + len(found[FEASIBLE])}, infeasible: {len(found[INFEASIBLE])} "
                     f"under {', '.join(map(str, history.constraints))}")
    if best is not None:
        values = ", ".join(f"{n} {v:.6g}" for n, v in zip(history.goals.labels, best.values or ()))
        lines.append(f"Best (by {history.selection}): {names.trial_run_name(best.number)}, {values}  "
                     f"{json.dumps(best.params)}")
    return lines


def _make_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask; a copied temp dir would be 0o700
    return folder


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader sees the old file or the new one), mode 0o644."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or (list(rows[0]) if rows else ["trial"]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def ui_url(value: str) -> str:
    """An MLflow UI's address: ``http(s)://host[:port][/path]``."""
    from urllib.parse import urlparse

    parsed = urlparse(str(value))
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"ui_url={value!r} is invalid; expected the MLflow UI's address, http(s)://host:port")
    return str(value).rstrip("/")


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=__doc__.splitlines()[0])
    parser.add_argument("parent_run_id", help=f"the sweep's parent run (tag {SWEEP_TAG})")
    parser.add_argument("--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI or the project store")
    parser.add_argument("--top-k", type=int, default=TOP_K, help="learning curves of this many best trials")
    parser.add_argument("--out", default=None, help="also write the report files into this folder")
    parser.add_argument("--ui-url", default=None, type=ui_url,
                        help="the MLflow UI the run links open (default: the tracking server, else "
                             "http://127.0.0.1:5000); the page has a field to change it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runtime.start(MLFLOW_DEFAULTS)
    uri = existing_store(resolve_tracking_uri(args.tracking_uri))
    tags = runs.get_run(get_client(uri), args.parent_run_id, uri).data.tags
    if SWEEP_TAG not in tags:
        print(f"run {args.parent_run_id} is not a sweep's parent run (no {SWEEP_TAG!r} tag)", file=sys.stderr)
        return 2
    generate_report(uri, args.parent_run_id, top_k=args.top_k, out_dir=args.out, ui_url=args.ui_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
