"""What a sweep learned, put on its parent run: figures, importance, the selection gap and one HTML report.

    python -m pipeline.report PARENT_RUN_ID [--tracking-uri URI] [--top-k 5] [--out DIR]

Works on finished sweeps, on sweeps that ended early (failures, Ctrl-C) or were resumed, and on
Hydra basic-sweeper multiruns; run it again at any time, the ``report/`` artifacts are replaced.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipeline.insights.history import TOP_K, SelectionGap, SweepHistory, load_history, selection_gap
from pipeline.insights.html import gap_text, render_html
from pipeline.insights.importance import Importance, sweep_importance
from pipeline.insights.plots import write_figures
from pipeline.run_record import SWEEP_TAG
from pipeline.tracking import Tracker, get_client, resolve_tracking_uri, safe_key

log = logging.getLogger(__name__)
REPORT_DIR = "report"  # artifact folder on the parent run
HTML_NAME = "report.html"


def generate_report(uri: str, parent_run_id: str, top_k: int = TOP_K, out_dir: str | Path | None = None
                    ) -> dict[str, Any]:
    """Build the report of the sweep ``parent_run_id`` and log it on that run; print its summary.

    Logs ``report/*`` artifacts, metrics ``importance/<param>`` and ``selection_gap`` (with
    ``selection_gap_median``, ``selection_optimism``, ``best_cv_score``, ``best_test_score``) when
    they exist, and tags ``report.html`` / ``importance.method``. A copy goes to ``out_dir`` if given.
    Returns what was found: ``artifacts``, ``importance``, ``importance_method``, ``selection_gap``,
    ``best_trial``, ``metrics``.
    """
    history = load_history(uri, parent_run_id, top_k)
    importance = sweep_importance(history)
    gap = selection_gap(history)
    metrics = report_metrics(importance, gap)
    with tempfile.TemporaryDirectory() as tmp:
        names = write_report_files(history, importance, gap, Path(tmp))
        tracker = Tracker(get_client(uri), parent_run_id, uri)
        tracker.log_dir(tmp, REPORT_DIR)
        if metrics:
            tracker.log_metrics(metrics, step=len(history.trials), flush=True)
        tags = {"report.html": f"{REPORT_DIR}/{HTML_NAME}"}
        if importance is not None:
            tags["importance.method"] = importance.method
        tracker.set_tags(tags)
        if out_dir is not None:
            shutil.copytree(tmp, out_dir, dirs_exist_ok=True)
    print(summary_text(history, importance, gap), flush=True)
    return {"parent_run_id": parent_run_id, "artifacts": [f"{REPORT_DIR}/{n}" for n in names],
            "importance": importance.as_dict() if importance else {},
            "importance_method": importance.method if importance else None,
            "selection_gap": gap.gap if gap else None, "best_trial": history.best and history.best.number,
            "metrics": metrics}


def write_report_files(history: SweepHistory, importance: Importance | None, gap: SelectionGap | None,
                       folder: Path) -> list[str]:
    """Figures, ``report.html``, ``trials.csv`` (the tidy table) and ``importance.csv`` into ``folder``."""
    figures = write_figures(history, importance, folder)
    (folder / HTML_NAME).write_text(render_html(history, importance, gap, figures), encoding="utf-8")
    (folder / "trials.csv").write_text(_csv(history.rows()), encoding="utf-8")
    rows = [{"parameter": n, "importance": v, "std": s} for n, v, s in (importance.ranked() if importance else [])]
    (folder / "importance.csv").write_text(_csv(rows, ["parameter", "importance", "std"]), encoding="utf-8")
    return [*figures, HTML_NAME, "trials.csv", "importance.csv"]


def report_metrics(importance: Importance | None, gap: SelectionGap | None) -> dict[str, float]:
    """Metrics for the parent run: one ``importance/<param>`` each, and the selection gap's figures."""
    out = {f"importance/{safe_key(n)}": v for n, v in (importance.as_dict() if importance else {}).items()}
    if gap is not None:
        out.update(selection_gap=gap.gap, best_cv_score=gap.cv_score, best_test_score=gap.test_score)
        if gap.optimism is not None:
            out.update(selection_gap_median=gap.median_gap, selection_optimism=gap.optimism)
    return out


def summary_text(history: SweepHistory, importance: Importance | None, gap: SelectionGap | None) -> str:
    """The terminal summary: counts, best trial, the importance table with its method, the gap."""
    counts = ", ".join(f"{n} {s}" for s, n in history.counts().items() if n) or "no trials"
    lines = [f"Sweep {history.parent_run_id} ({history.strategy}, {history.status.lower()}): {counts}"]
    best = history.best
    if best is not None:
        lines.append(f"Best trial {best.number}: {history.label} {best.value:.6g}  {json.dumps(best.params)}")
    if importance is None:
        lines.append("Hyperparameter importance: too few complete trials")
    else:
        width = max(len("parameter"), *(len(n) for n in importance.names))
        lines += [f"Hyperparameter importance ({importance.method}, {importance.n_trials} trials):",
                  f"  {'parameter':<{width}}  importance    std"]
        lines += [f"  {n:<{width}}  {v:>10.3f}  {s:>5.3f}" for n, v, s in importance.ranked()]
        lines.append(f"  single parameters explain {importance.main_effects_share:.0%} of the surrogate's variance")
    lines.append("Selection gap: " + gap_text(gap))
    lines.append(f"Report: artifact {REPORT_DIR}/{HTML_NAME} of run {history.parent_run_id}")
    return "\n".join(lines)


def _csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or (list(rows[0]) if rows else ["trial"]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=__doc__.splitlines()[0])
    parser.add_argument("parent_run_id", help=f"the sweep's parent run (tag {SWEEP_TAG})")
    parser.add_argument("--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI or the project store")
    parser.add_argument("--top-k", type=int, default=TOP_K, help="learning curves of this many best trials")
    parser.add_argument("--out", default=None, help="also write the report files into this folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    uri = resolve_tracking_uri(args.tracking_uri)
    tags = get_client(uri).get_run(args.parent_run_id).data.tags
    if SWEEP_TAG not in tags:
        print(f"run {args.parent_run_id} is not a sweep's parent run (no {SWEEP_TAG!r} tag)", file=sys.stderr)
        return 2
    generate_report(uri, args.parent_run_id, top_k=args.top_k, out_dir=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
