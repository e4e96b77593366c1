"""The README's screenshots, taken in a real browser (headless Chromium driven by Playwright) from a real sweep.

    MLFLOW_TRACKING_URI=sqlite:////tmp/shots/mlflow.db python train.py -m hydra/launcher=joblib \\
        hydra.sweeper.n_jobs=2 hydra.sweep.dir=/tmp/shots/sweep
    MLFLOW_TRACKING_URI=sqlite:////tmp/shots/mlflow.db make ui PORT=5055 &
    pip install playwright    # the Python package only: the browser is the system's (apt-get install chromium)
    python docs/screenshots.py --ui http://127.0.0.1:5055 --report /tmp/shots/sweep/report/report.html

Writes docs/img/mlflow_home.png (what a fresh browser shows first: the GenAI / Model training switch, top left),
docs/img/mlflow_runs.png (the run list, the newest sweep expanded), docs/img/mlflow_charts.png (its
trials' cross-validated curves) and docs/img/report_top.png, docs/img/report_parallel.png,
docs/img/report_importance.png (the
sweep's interactive report).
The browser starts with a fresh profile and without background networking: nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1600, "height": 1000}
EXPAND = 'button[data-component-id*="runnamecellrenderer"]'  # the +/- beside a parent run's name
NAME_HEADER = '.ag-header-cell[col-id="attributes.`Run Name`"]'
NAME_WIDTH = 330  # wide enough for "12-01 14:03:27 bayes digits-mlp" beside the nesting indent


def experiment_id(ui: str, name: str) -> str:
    query = urllib.parse.urlencode({"experiment_name": name})
    with urllib.request.urlopen(f"{ui}/ajax-api/2.0/mlflow/experiments/get-by-name?{query}", timeout=60) as r:
        return json.load(r)["experiment"]["experiment_id"]


def open_runs(page, ui: str, exp: str) -> None:
    """The experiment's runs in the classic (model training) view, assistant closed, newest sweep expanded."""
    page.goto(f"{ui}/#/experiments/{exp}/runs?workflowType=machine_learning", wait_until="load", timeout=120_000)
    page.wait_for_selector(EXPAND, timeout=120_000)
    page.wait_for_timeout(1500)
    close = page.locator('button[aria-label="Close"]')  # MLflow's assistant panel, open on a fresh profile
    if close.count():
        close.first.click()
    page.locator(EXPAND).first.click()
    page.wait_for_timeout(2000)
    widen_names(page)


def widen_names(page) -> None:
    """Drag the Run Name column's edge so whole names show (its right half lies under the next header)."""
    header = page.locator(NAME_HEADER).first
    edge = header.locator(".ag-header-cell-resize").bounding_box()
    width = header.bounding_box()["width"]
    x, y = edge["x"] + 1.5, edge["y"] + edge["height"] / 2
    header.hover()
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x + (NAME_WIDTH - width) * step / 20, y)
    page.mouse.up()
    page.wait_for_timeout(500)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ui", default="http://127.0.0.1:5055", help="the MLflow UI serving the sweep's store")
    parser.add_argument("--experiment", default="hpo-pipeline")
    parser.add_argument("--report", required=True, help="the sweep's report/report.html")
    parser.add_argument("--out", default=str(Path(__file__).parent / "img"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    out = Path(args.out)
    exp = experiment_id(args.ui, args.experiment)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(profile, executable_path=args.chromium, headless=True,
                                                       args=CHROMIUM_ARGS, viewport=VIEWPORT)
        page = browser.new_page()
        page.goto(args.ui, wait_until="load", timeout=120_000)  # a fresh profile: the UI's first page
        page.get_by_text("Model training", exact=True).first.wait_for(timeout=120_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=out / "mlflow_home.png")
        page.get_by_text("Model training", exact=True).first.click()  # the README's steps, as a user clicks them
        page.get_by_text(args.experiment, exact=True).first.click()
        page.wait_for_url("**/runs?*", timeout=60_000)
        open_runs(page, args.ui, exp)
        page.screenshot(path=out / "mlflow_runs.png")
        page.locator("label:has(input[type=radio])").nth(1).click()  # the chart view: every visible run's metric curves
        page.wait_for_timeout(3000)
        page.locator('[data-testid="experiment-view-runs-visibility-column-header"]').first.click()
        page.get_by_role("menuitemradio", name="Show all runs").click()  # it shows the first 10 runs only by default
        page.wait_for_timeout(8000)
        page.screenshot(path=out / "mlflow_charts.png")

        page.goto(Path(args.report).resolve().as_uri(), wait_until="load")
        page.wait_for_selector("#fig-parallel .main-svg", timeout=60_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=out / "report_top.png")
        for section in ("parallel", "importance"):
            box = page.locator(f"#{section}").bounding_box()  # with a margin for the axes' end labels
            page.screenshot(path=out / f"report_{section}.png", full_page=True,
                            clip={"x": box["x"] - 10, "y": box["y"] - 10, "width": box["width"] + 20,
                                  "height": box["height"] + 40})
        browser.close()
    for name in ("mlflow_home", "mlflow_runs", "mlflow_charts", "report_top", "report_parallel", "report_importance"):
        print(out / f"{name}.png")


if __name__ == "__main__":
    main()
