"""Wall-time overhead of the pipeline's trial over a minimal hand-written torch loop (issue #2).

Variants, timed in one process and interleaved (the order rotates every repetition):

    hand          a minimal hand-written loop: same data, StratifiedKFold folds, per-fold normalisation
                  (floating inputs only) and ``preprocess`` transform (fitted on the fold's training inputs,
                  applied once), model, optimizer, seeds, batch size and epochs per fold as the pipeline ran,
                  val loss/accuracy each epoch, and a refit for the same epochs; no tracking
    pipeline      pipeline.training.cv.cross_validate(callbacks=()) + pipeline.training.cv.refit: the training path, no
    MLflow
    trial         pipeline.trial.run_trial: MLflow params, tags, curves, summary, checkpoints, log_model
    trial-nomodel run_trial with tracking.log_model=false (isolates mlflow.pytorch.log_model)

All variants include load_dataset. Tracking goes to a temporary SQLite store, created (and migrated)
by an untimed warm-up trial. Target: ``trial`` within 10% of ``hand`` on the default config.

Every variant runs with the same light instrumentation (a perf_counter pair around a handful of
pipeline / Tracker / MlflowClient functions, wrapped by monkeypatching here, never in pipeline/), which
gives the breakdown tables; it costs microseconds per call and is the same for all variants.

    python bench/train_overhead.py                                  # default config, 3 repeats
    python bench/train_overhead.py --repeats 5 --override trainer.epochs=10 --override model=cnn
    python bench/train_overhead.py --override data=rotten_tomatoes --override preprocess=vocab
        --override model=rnn --out bench/results/train_overhead_text.txt           # text (one command line)
    python bench/train_overhead.py --override data=audio_folder --override data.path=/tmp/clips
        --override preprocess=logmel --override model=cnn --out bench/results/train_overhead_audio.txt  # audio
"""


from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import pipeline.training.checks  # noqa: E402
import pipeline.training.cv  # noqa: E402
import pipeline.training.loop  # noqa: E402
import pipeline.training.progress  # noqa: E402
import pipeline.trial  # noqa: E402
from bench.overhead_hand import run_hand, timed_load  # noqa: E402
from bench.overhead_profile import PROF, instrument  # noqa: E402
from bench.overhead_report import VARIANTS, report  # noqa: E402
from pipeline.results.reproduce import compose  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "train_overhead.txt")


def run_pipeline(cfg: Any, device: torch.device) -> dict[str, Any]:
    data = timed_load(cfg.data)
    cv = pipeline.training.cv.cross_validate(cfg, data, device, callbacks=())
    fitted = pipeline.training.cv.refit(cfg, data, cv.refit_epochs(), device) if cfg.cv.refit else None
    return {"epochs": [len(f.history) for f in cv.folds], "best_epochs": cv.best_epochs, "scores": cv.scores,
            "refit_epochs": cv.refit_epochs(), "test_accuracy": fitted.test["test_accuracy"] if fitted else math.nan}


def as_dataset(data: Any) -> Any:
    """The same split with both parts as map-style datasets: the pipeline reads them through a DataLoader."""
    from torch.utils.data import TensorDataset

    from pipeline.contract import DataSplit

    return DataSplit(TensorDataset(data.train.X, data.train.y), TensorDataset(data.test.X, data.test.y),
                     task=data.task, num_outputs=data.num_outputs, input_shape=data.input_shape,
                     targets=data.targets, name=data.name, collate=data.collate, model_args=dict(data.model_args),
                     input_dtype=data.input_dtype)


def run_loader(cfg: Any, device: torch.device) -> dict[str, Any]:
    data = as_dataset(timed_load(cfg.data))
    cv = pipeline.training.cv.cross_validate(cfg, data, device, callbacks=())
    fitted = pipeline.training.cv.refit(cfg, data, cv.refit_epochs(), device) if cfg.cv.refit else None
    return {"epochs": [len(f.history) for f in cv.folds], "scores": cv.scores,
            "test_accuracy": fitted.test["test_accuracy"] if fitted else math.nan}


def run_trial(cfg: Any, overrides: list[str]) -> dict[str, Any]:
    result = pipeline.trial.run_trial(cfg, overrides, job={"name": "train_overhead"})
    m = result.metrics
    folds = int(cfg.cv.folds)
    return {"best_epochs": [int(m[f"fold_{k}/best_epoch"]) for k in range(folds)],
            "scores": [m[f"fold_{k}/score"] for k in range(folds)], "test_accuracy": m.get("test_accuracy", math.nan)}


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def measure(repeats: int, cfgs: dict[str, Any], overrides: list[str], device: torch.device,
            info: dict[str, Any]) -> tuple[dict[str, list], ...]:
    """Every variant ``repeats`` times, interleaved: wall and CPU seconds, profiles, results per variant."""
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    profiles: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    # rotated each repeat; in the first, the pipeline runs first: the hand loop needs its epoch counts
    order = ["pipeline", "trial", "trial-nomodel", "hand", "loader"]
    for r in range(repeats):
        for v in order[r % 5:] + order[:r % 5]:
            gc.collect()
            PROF.reset()
            t0, c0 = time.perf_counter(), time.process_time()
            if v == "hand":
                res = run_hand(cfgs["trial"], info["epochs"], info["refit_epochs"], device)
            elif v == "loader":
                res = run_loader(cfgs["trial"], device)
            elif v == "pipeline":
                res = run_pipeline(cfgs["trial"], device)
                info.setdefault("epochs", res["epochs"])
                info.setdefault("refit_epochs", res["refit_epochs"])
                info.setdefault("pipeline_result", res)
                if res["epochs"] != info["epochs"]:
                    say(f"WARNING: pipeline ran {res['epochs']} epochs this time, {info['epochs']} before")
            else:
                res = run_trial(cfgs[v], overrides)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            times[v].append(dt)
            cpu[v].append(dc)
            profiles[v].append({k: list(s) for k, s in PROF.stats.items()})
            results[v].append(res)
            say(f"repeat {r + 1}/{repeats}  {v:<14} {dt:7.2f} s wall  {dc:7.2f} s cpu  "
                f"(load {os.getloadavg()[0]:.1f})")
    return times, cpu, profiles, results


def same_work(info: dict[str, Any], results: dict[str, list[dict]]) -> str:
    """The hand loop must do the same work: same scores at the pipeline's best epochs, same test accuracy."""
    pr, hr, tr = info["pipeline_result"], results["hand"][0], results["trial"][0]
    hand_scores = [curve[e - 1] for curve, e in zip(hr["curves"], pr["best_epochs"])]
    same = (all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(hand_scores, pr["scores"]))
            and hr["test_accuracy"] == pr["test_accuracy"]
            and tr["best_epochs"] == pr["best_epochs"] and tr["scores"] == pr["scores"])
    lr = results["loader"][0]
    same_loader = lr["scores"] == pr["scores"] and lr["test_accuracy"] == pr["test_accuracy"]
    info["same_loader"] = "yes" if same_loader else f"NO (loader {lr['scores']}, in memory {pr['scores']})"
    return "yes" if same else (f"NO (pipeline {pr['scores']} test {pr['test_accuracy']}, "
                               f"hand {hand_scores} test {hr['test_accuracy']}, trial {tr['scores']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--override", action="append", default=[], help="extra Hydra override (repeatable)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=RESULTS, help=f"where the report is saved (default {RESULTS}; '' = none)")
    parser.add_argument("--keep-store", action="store_true", help="keep the temporary MLflow store")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    warnings.filterwarnings("ignore")

    tmp = tempfile.mkdtemp(prefix="train_overhead-")
    uri = f"sqlite:///{tmp}/mlflow.db"
    overrides = [*args.override, f"tracking.uri={uri}"]
    try:  # composed up front: later compositions reuse Hydra's plugin scan
        cfgs = {"trial": compose(overrides), "trial-nomodel": compose([*overrides, "tracking.log_model=false"]),
                "warmup": compose([*overrides, "trainer.epochs=1"])}
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    cfg = cfgs["trial"]
    device = pipeline.training.checks.resolve_device(cfg.trainer.device)
    if int(cfg.trainer.num_threads) > 0:
        torch.set_num_threads(int(cfg.trainer.num_threads))
    info: dict[str, Any] = {"device": str(device), "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    instrument()
    try:
        # untimed warm-up: creates and migrates the SQLite store, imports mlflow (and mlflow.pytorch)
        t0 = time.perf_counter()
        run_trial(cfgs["warmup"], overrides)
        run_hand(cfg, [1] * int(cfg.cv.folds), 1, device)
        say(f"warm-up (store creation + migration, imports) {time.perf_counter() - t0:.1f} s")
        times, cpu, profiles, results = measure(args.repeats, cfgs, overrides, device, info)
    finally:
        if not args.keep_store:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            say(f"store kept: {uri}")
    info["same_scores"] = same_work(info, results)
    info["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = report(args, cfg, times, cpu, profiles, info)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")
        say(f"saved to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
