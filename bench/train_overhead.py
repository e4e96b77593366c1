"""Wall-time overhead of the pipeline's trial over a minimal hand-written torch loop (issue #2).

Variants, timed in one process and interleaved (the order rotates every repetition):

    hand          a minimal hand-written loop: same data, StratifiedKFold folds, per-fold normalisation,
                  model, optimizer, seeds, batch size and epochs per fold as the pipeline ran, val
                  loss/accuracy each epoch, and a refit for the same epochs; no tracking
    pipeline      pipeline.cv.cross_validate(callbacks=()) + pipeline.cv.refit: the training path, no MLflow
    trial         pipeline.trial.run_trial: MLflow params, tags, curves, summary, checkpoints, log_model
    trial-nomodel run_trial with tracking.log_model=false (isolates mlflow.pytorch.log_model)

All variants include load_dataset. Tracking goes to a temporary SQLite store, created (and migrated)
by an untimed warm-up trial. Target: ``trial`` within 10% of ``hand`` on the default config.

Every variant runs with the same light instrumentation (a perf_counter pair around a handful of
pipeline / Tracker / MlflowClient functions, wrapped by monkeypatching here, never in pipeline/), which
gives the breakdown tables; it costs microseconds per call and is the same for all variants.

    python bench/train_overhead.py                                  # default config, 3 repeats
    python bench/train_overhead.py --repeats 5 --override trainer.epochs=10 --override model=cnn
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import logging
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import types
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from torch import nn  # noqa: E402

import pipeline.config  # noqa: E402
import pipeline.cv  # noqa: E402
import pipeline.loop  # noqa: E402
import pipeline.progress  # noqa: E402
import pipeline.trial  # noqa: E402
from pipeline.data import fold_stats, load_dataset  # noqa: E402
from pipeline.models import build_model  # noqa: E402
from pipeline.optim import build_optimizer, lr_factor, set_lr  # noqa: E402
from pipeline.reproduce import compose  # noqa: E402
from pipeline.tracking import Tracker  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "train_overhead.txt")
TARGET = 1.10
VARIANTS = ("hand", "pipeline", "trial", "trial-nomodel")
DESCRIPTION = {"hand": "(a) hand-written torch loop, no tracking",
               "pipeline": "(b) pipeline cross_validate+refit, no tracking",
               "trial": "(c) run_trial, full MLflow tracking (default)",
               "trial-nomodel": "(c') run_trial, tracking.log_model=false"}


# --------------------------------------------------------------------------------------------------
# instrumentation: inclusive and self (exclusive of other wrapped calls) time per wrapped function
# --------------------------------------------------------------------------------------------------
class Profile:
    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])  # calls, inclusive, self
        self._stack: list[float] = []

    def reset(self) -> None:
        self.stats = defaultdict(lambda: [0, 0.0, 0.0])
        self._stack = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        prof = self

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            prof._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                child = prof._stack.pop()
                s = prof.stats[name]
                s[0] += 1
                s[1] += dt
                s[2] += dt - child
                if prof._stack:
                    prof._stack[-1] += dt

        return timed


PROF = Profile()

# Names shared by the hand loop and the pipeline so that the breakdown lines up.
TRAIN_EPOCH, EVALUATE, LOAD, STATS, PREP, BUILD = ("train epoch (_train_epoch)", "evaluate (val/test)",
                                                   "load_dataset", "fold_stats", "normalise+.to (_prep)",
                                                   "build_model")
CV_SELF, REFIT_SELF = "cv loop itself (split, fit() bookkeeping)", "refit itself (fit() bookkeeping)"


def instrument() -> None:
    """Wrap the pieces whose cost the report breaks down. Measurement only; pipeline/ is untouched."""
    from mlflow.tracking import MlflowClient

    w = PROF.wrap
    # training path (pipeline.loop / pipeline.cv)
    pipeline.loop._train_epoch = w(TRAIN_EPOCH, pipeline.loop._train_epoch)
    pipeline.loop.evaluate = w(EVALUATE, pipeline.loop.evaluate)
    pipeline.cv.evaluate = w(EVALUATE, pipeline.cv.evaluate)
    pipeline.loop.copy = types.SimpleNamespace(deepcopy=w("copy.deepcopy(state_dict) in fit", copy.deepcopy))
    pipeline.cv.fold_stats = w(STATS, pipeline.cv.fold_stats)
    pipeline.cv._prep = w(PREP, pipeline.cv._prep)
    pipeline.cv.build_model = w(BUILD, pipeline.cv.build_model)
    cross_validate = w(CV_SELF, pipeline.cv.cross_validate)
    refit = w(REFIT_SELF, pipeline.cv.refit)
    pipeline.cv.cross_validate = pipeline.trial.cross_validate = cross_validate
    pipeline.cv.refit = pipeline.trial.refit = refit
    # trial-level
    pipeline.trial.load_dataset = w(LOAD, pipeline.trial.load_dataset)
    pipeline.config.validate = w("config checks", pipeline.config.validate)
    pipeline.trial.check_reachable = w("check_reachable", pipeline.trial.check_reachable)
    pipeline.trial.git_commit = w("git rev-parse (subprocess, in _tags)", pipeline.trial.git_commit)
    pipeline.trial.summary_metrics = w("summary_metrics/cv_curves", pipeline.trial.summary_metrics)
    pipeline.trial._to_bytes = w("checkpoints: torch.save to bytes", pipeline.trial._to_bytes)
    pipeline.trial._print_summary = w("_print_summary", pipeline.trial._print_summary)
    pipeline.progress.Progress.on_epoch_end = w("Progress.on_epoch_end", pipeline.progress.Progress.on_epoch_end)
    pipeline.progress.Progress.on_fold_end = w("Progress.on_fold_end", pipeline.progress.Progress.on_fold_end)
    # Tracker (self time = Python-side work; MLflow client calls are broken out below)
    Tracker.start = staticmethod(w("Tracker.start (client, experiment)", Tracker.start))
    for name in ("log_params", "log_metrics", "flush", "on_epoch_end", "on_fold_end", "log_files", "log_model",
                 "finish"):
        setattr(Tracker, name, w(f"Tracker.{name}", getattr(Tracker, name)))
    # MLflow client round trips (DB writes, artifact copies); nested calls inside log_model count here too
    for name in ("log_batch", "create_run", "set_terminated", "log_artifacts", "get_experiment_by_name",
                 "create_experiment", "set_experiment_tag", "get_run", "get_metric_history", "log_outputs",
                 "create_logged_model", "finalize_logged_model", "get_logged_model", "set_logged_model_tags"):
        if hasattr(MlflowClient, name):
            setattr(MlflowClient, name, w(f"MlflowClient.{name}", getattr(MlflowClient, name)))


# --------------------------------------------------------------------------------------------------
# the variants
# --------------------------------------------------------------------------------------------------
def hand_train_epoch(model: nn.Module, opt: torch.optim.Optimizer, loss_fn: nn.Module, X: torch.Tensor,
                     y: torch.Tensor, batch_size: int, gen: torch.Generator, l1: float) -> float:
    model.train()
    n = len(y)
    perm = torch.randperm(n, generator=gen).to(X.device)
    total = torch.zeros((), device=X.device)
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        if len(idx) < 2:  # as the pipeline: batch norm cannot train on one sample
            continue
        loss = loss_fn(model(X[idx]), y[idx])
        if l1 > 0:
            loss = loss + l1 * sum(p.abs().sum() for p in model.parameters() if p.dim() > 1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * len(idx)
    return float(total) / n


@torch.no_grad()
def hand_evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(X)
    return float(nn.functional.cross_entropy(logits, y)), int((logits.argmax(1) == y).sum()) / len(y)


_hand_train_epoch = PROF.wrap(TRAIN_EPOCH, hand_train_epoch)
_hand_evaluate = PROF.wrap(EVALUATE, hand_evaluate)
_load = PROF.wrap(LOAD, load_dataset)
_stats = PROF.wrap(STATS, fold_stats)
_build = PROF.wrap(BUILD, build_model)


def _norm(X: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, device: torch.device) -> torch.Tensor:
    return ((X - mean) / std).to(device)


_norm_t = PROF.wrap(PREP, _norm)


def _hand_train(cfg: Any, data: Any, X: torch.Tensor, y: torch.Tensor, epochs: int, seed: int,
                device: torch.device, X_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None
                ) -> tuple[nn.Module, list[float]]:
    torch.manual_seed(seed)
    model = _build(cfg.model, data.input_shape, data.num_classes, float(cfg.regularization.dropout)).to(device)
    opt = build_optimizer(cfg.optimizer, model.parameters(), float(cfg.regularization.weight_decay))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=float(cfg.regularization.label_smoothing))
    gen = torch.Generator().manual_seed(seed)
    scores = []
    oc = cfg.optimizer
    for epoch in range(epochs):
        if oc.scheduler != "none":  # the same schedule as the pipeline (a pure function of the epoch)
            set_lr(opt, float(oc.lr) * lr_factor(epoch, epochs, oc.scheduler, int(oc.step_size), float(oc.gamma)))
        _hand_train_epoch(model, opt, loss_fn, X, y, int(cfg.trainer.batch_size), gen,
                          float(cfg.regularization.l1))
        if X_val is not None:
            val_loss, val_acc = _hand_evaluate(model, X_val, y_val)
            scores.append(val_acc if cfg.cv.metric == "val_accuracy" else val_loss)
    return model, scores


def _hand_cv(cfg: Any, data: Any, epochs_per_fold: list[int], device: torch.device) -> list[list[float]]:
    folds = StratifiedKFold(n_splits=int(cfg.cv.folds), shuffle=True, random_state=int(cfg.trainer.seed))
    X, y = data.X_train, data.y_train
    curves = []
    for k, (tr, va) in enumerate(folds.split(np.zeros(len(y)), y.numpy())):
        tr, va = torch.from_numpy(tr), torch.from_numpy(va)
        mean, std = _stats(X[tr])
        _, scores = _hand_train(cfg, data, _norm_t(X[tr], mean, std, device), y[tr].to(device),
                                epochs_per_fold[k], int(cfg.trainer.seed) + k, device,
                                _norm_t(X[va], mean, std, device), y[va].to(device))
        curves.append(scores)
    return curves


def _hand_refit(cfg: Any, data: Any, epochs: int, device: torch.device) -> float:
    mean, std = _stats(data.X_train)
    model, _ = _hand_train(cfg, data, _norm_t(data.X_train, mean, std, device), data.y_train.to(device), epochs,
                           int(cfg.trainer.seed) + int(cfg.cv.folds), device)
    return _hand_evaluate(model, _norm_t(data.X_test, mean, std, device), data.y_test.to(device))[1]


_hand_cv_t = PROF.wrap(CV_SELF, _hand_cv)
_hand_refit_t = PROF.wrap(REFIT_SELF, _hand_refit)


def run_hand(cfg: Any, epochs_per_fold: list[int], refit_epochs: int, device: torch.device) -> dict[str, Any]:
    data = _load(cfg.data)
    curves = _hand_cv_t(cfg, data, epochs_per_fold, device)
    test_acc = _hand_refit_t(cfg, data, refit_epochs, device) if cfg.cv.refit else math.nan
    return {"curves": curves, "test_accuracy": test_acc}


def run_pipeline(cfg: Any, device: torch.device) -> dict[str, Any]:
    data = _load(cfg.data)
    cv = pipeline.cv.cross_validate(cfg, data, device, callbacks=())
    fitted = pipeline.cv.refit(cfg, data, cv.refit_epochs(), device) if cfg.cv.refit else None
    return {"epochs": [len(f.history) for f in cv.folds], "best_epochs": cv.best_epochs, "scores": cv.scores,
            "refit_epochs": cv.refit_epochs(), "test_accuracy": fitted.test_accuracy if fitted else math.nan}


def run_trial(cfg: Any, overrides: list[str]) -> dict[str, Any]:
    result = pipeline.trial.run_trial(cfg, overrides, job={"name": "train_overhead"})
    m = result.metrics
    folds = int(cfg.cv.folds)
    return {"best_epochs": [int(m[f"fold_{k}/best_epoch"]) for k in range(folds)],
            "scores": [m[f"fold_{k}/score"] for k in range(folds)], "test_accuracy": m.get("test_accuracy", math.nan)}


# --------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------
def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def fmt_s(x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{x:.3f}" if abs(x) >= 0.0995 else f"{x * 1000:.1f}ms"


def report(args: argparse.Namespace, cfg: Any, times: dict[str, list[float]], cpu: dict[str, list[float]],
           profiles: dict[str, list[dict]],
           info: dict[str, Any]) -> str:
    out: list[str] = []
    p = out.append
    p("train_overhead: pipeline trial vs a hand-written torch loop (issue #2)")
    p(f"config: default{' + ' + ' '.join(args.override) if args.override else ''}  "
      f"(data={cfg.data.name} model={cfg.model.name} optimizer={cfg.optimizer.name} folds={cfg.cv.folds} "
      f"epochs<={cfg.trainer.epochs} batch={cfg.trainer.batch_size} "
      f"patience={cfg.regularization.early_stopping.patience} l1={cfg.regularization.l1})")
    p(f"device={info['device']}  torch threads={torch.get_num_threads()}  cpus={os.cpu_count()}  "
      f"torch {torch.__version__}  repeats={args.repeats} (order rotated each repeat)  "
      f"load avg before/after: {info['load_before']} / {info['load_after']}")
    p(f"epochs run per fold (early stopping): {info['epochs']}  refit epochs: {info['refit_epochs']}  "
      f"total epochs/trial: {sum(info['epochs']) + info['refit_epochs']}")
    p(f"hand loop reproduces the pipeline's fold scores and test accuracy exactly: {info['same_scores']}")
    p("")
    base, base_min, base_cpu = med(times["hand"]), min(times["hand"]), med(cpu["hand"])
    p(f"{'variant':<48} {'median s':>9} {'vs hand':>8} {'min s':>7} {'vs hand':>8} {'cpu s':>7} {'vs hand':>8}"
      f"   all runs, wall s")
    for v in VARIANTS:
        ts = times[v]
        p(f"{DESCRIPTION[v]:<48} {med(ts):>9.2f} {med(ts) / base:>7.3f}x {min(ts):>7.2f} {min(ts) / base_min:>7.3f}x "
          f"{med(cpu[v]):>7.2f} {med(cpu[v]) / base_cpu:>7.3f}x   " + " ".join(f"{t:.2f}" for t in ts))
    b, c, cn = med(times["pipeline"]), med(times["trial"]), med(times["trial-nomodel"])
    p("(cpu s = process CPU time; median, min and cpu ratios are each taken against the hand loop's own figure)")
    p("")
    p(f"pipeline (no tracking) / hand             : {b / base:.3f}x  ({b - base:+.2f} s)")
    p(f"trial (tracking) / pipeline (no tracking) : {c / b:.3f}x  ({c - b:+.2f} s)")
    direct = med([prof["Tracker.log_model"][1] for prof in profiles["trial"] if "Tracker.log_model" in prof])
    p(f"trial / trial with log_model=false        : {c / cn:.3f}x  ({c - cn:+.2f} s by difference; "
      f"log_model measured directly: {fmt_s(direct)})")
    # paired ratios per repeat (same repeat = closest in time, least affected by load drift)
    paired = [t / h for t, h in zip(times["trial"], times["hand"])]
    p("paired trial/hand per repeat              : " + " ".join(f"{r:.3f}" for r in paired))

    # within-run estimate: what the trial spends outside the training path (= what the hand loop lacks),
    # measured inside the same run, so not a difference of two noisy totals
    def inclusive(prof: dict, name: str) -> float:
        return prof[name][1] if name in prof else 0.0

    extra_names = ("Tracker.on_epoch_end", "Tracker.on_fold_end", "Progress.on_epoch_end", "Progress.on_fold_end",
                   "copy.deepcopy(state_dict) in fit")
    within = []
    for t, prof in zip(times["trial"], profiles["trial"]):
        outside = t - inclusive(prof, CV_SELF) - inclusive(prof, REFIT_SELF) - inclusive(prof, LOAD)
        extra = outside + sum(inclusive(prof, n) for n in extra_names)
        within.append((extra, extra / (t - extra)))
    p(f"within-run estimate (trial): tracking + callbacks + deepcopy = {fmt_s(med([e for e, _ in within]))} per "
      f"trial = {med([f for _, f in within]):.1%} of its own training time (per repeat: "
      + ", ".join(f"{f:.1%}" for _, f in within) + ")")
    ratio, est = c / base, 1 + med([f for _, f in within])
    spread = max(max(times[v]) / min(times[v]) - 1 for v in ("hand", "trial"))
    noisy = spread > 2 * (TARGET - 1)
    p(f"run-to-run spread (max/min - 1, worst of hand and trial): {spread:.0%}"
      + ("  -> wall-time ratios are noise-dominated here; trust the within-run estimate" if noisy else ""))
    p(f"TARGET trial within {TARGET - 1:.0%} of hand:")
    p(f"  median wall ratio     {ratio:.3f}x -> {'MET' if ratio <= TARGET else 'MISSED'}"
      f"{' (inconclusive: noise)' if noisy else ''}   (min wall ratio {min(times['trial']) / base_min:.3f}x)")
    p(f"  within-run estimate   {est:.3f}x -> {'MET' if est <= TARGET else 'MISSED'}")
    p("")

    # breakdown: median over repeats of self time per component
    p("Breakdown, median over repeats of self time (seconds unless ms; calls per trial in brackets).")
    p("Self time excludes other listed calls nested inside; 'unlisted' = wall time outside all of them.")
    names: list[str] = []
    for v in VARIANTS:
        for prof in profiles[v]:
            for name in prof:
                if name not in names:
                    names.append(name)

    def cell(v: str, name: str) -> tuple[float, int]:
        vals = [prof[name][2] if name in prof else 0.0 for prof in profiles[v]]
        calls = [prof[name][0] if name in prof else 0 for prof in profiles[v]]
        return med(vals), int(med(calls))

    rows = []
    for name in names:
        rows.append((name, [cell(v, name) for v in VARIANTS]))
    unlisted = []
    for v in VARIANTS:
        unlisted.append((med([t - sum(s[2] for s in prof.values()) for t, prof in zip(times[v], profiles[v])]), 0))
    rows.sort(key=lambda r: -max(x[0] for x in r[1]))
    rows.append(("unlisted (loop glue, hydra/omegaconf, mlflow imports...)", unlisted))
    width = max(len(r[0]) for r in rows)
    p(f"{'component':<{width}} " + " ".join(f"{v:>20}" for v in VARIANTS))
    for name, cells in rows:
        p(f"{name:<{width}} " + " ".join(f"{(fmt_s(s) + (f' [{n}]' if n else '')) if n or s else '-':>20}"
                                         for s, n in cells))
    p("")

    # per-call costs where the comparison matters
    def per_call(v: str, name: str, idx: int = 2) -> str:
        vals = [prof[name][idx] / prof[name][0] for prof in profiles[v] if name in prof and prof[name][0]]
        return f"{med(vals) * 1e3:.3f} ms" if vals else "-"

    p("Per-call costs (median over repeats of mean self time per call):")
    for name in (TRAIN_EPOCH, EVALUATE, "copy.deepcopy(state_dict) in fit", "Tracker.on_epoch_end",
                 "Tracker.log_metrics", "Tracker.flush", "MlflowClient.log_batch", "Progress.on_epoch_end"):
        p(f"  {name:<36} " + "  ".join(f"{v}: {per_call(v, name):>10}" for v in VARIANTS))
    p("")

    # where tracking time goes: trial - pipeline, by the components only the trial has
    p("Where the tracking time goes (trial, inclusive time, median over repeats):")
    tracking = ["Tracker.start (client, experiment)", "git rev-parse (subprocess, in _tags)", "Tracker.log_params",
                "Tracker.on_epoch_end", "Tracker.on_fold_end", "Tracker.log_metrics", "Tracker.flush",
                "checkpoints: torch.save to bytes", "Tracker.log_files", "Tracker.log_model", "Tracker.finish",
                "Progress.on_epoch_end", "Progress.on_fold_end", "summary_metrics/cv_curves", "check_reachable",
                "config checks", "_print_summary"]
    for name in tracking:
        incl = med([prof[name][1] if name in prof else 0.0 for prof in profiles["trial"]])
        calls = int(med([prof[name][0] if name in prof else 0 for prof in profiles["trial"]]))
        p(f"  {name:<40} {fmt_s(incl):>9}  [{calls} calls]")
    p("  (nested: on_fold_end > log_metrics > flush > MlflowClient.log_batch; log_model > get_run, "
      "get_metric_history, log_batch, log_outputs, *_logged_model, set_terminated)")
    p("  of which MLflow client round trips (self time, incl. those inside log_model):")
    total_db = []
    for name in names:
        if name.startswith("MlflowClient."):
            s, n = cell("trial", name)
            p(f"    {name:<38} {fmt_s(s):>9}  [{n} calls]")
    for prof in profiles["trial"]:
        total_db.append(sum(st[2] for k, st in prof.items() if k.startswith("MlflowClient.")))
    p(f"    {'all MLflow client calls':<38} {fmt_s(med(total_db)):>9}")
    p("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
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
        cfg = compose(overrides)
        cfg_nomodel = compose([*overrides, "tracking.log_model=false"])
        cfg_warmup = compose([*overrides, "trainer.epochs=1"])
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    device = pipeline.trial.resolve_device(cfg.trainer.device)
    if int(cfg.trainer.num_threads) > 0:
        torch.set_num_threads(int(cfg.trainer.num_threads))
    info: dict[str, Any] = {"device": str(device), "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg())}

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    instrument()
    try:
        # untimed warm-up: creates and migrates the SQLite store, imports mlflow (and mlflow.pytorch)
        t0 = time.perf_counter()
        run_trial(cfg_warmup, overrides)
        run_hand(cfg, [1] * int(cfg.cv.folds), 1, device)
        say(f"warm-up (store creation + migration, imports) {time.perf_counter() - t0:.1f} s")

        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
        profiles: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        # rotated each repeat; in the first, the pipeline runs first: the hand loop needs its epoch counts
        order = ["pipeline", "trial", "trial-nomodel", "hand"]
        for r in range(args.repeats):
            for v in order[r % 4:] + order[:r % 4]:
                gc.collect()
                PROF.reset()
                t0, c0 = time.perf_counter(), time.process_time()
                if v == "hand":
                    res = run_hand(cfg, info["epochs"], info["refit_epochs"], device)
                elif v == "pipeline":
                    res = run_pipeline(cfg, device)
                    info.setdefault("epochs", res["epochs"])
                    info.setdefault("refit_epochs", res["refit_epochs"])
                    info.setdefault("pipeline_result", res)
                    if res["epochs"] != info["epochs"]:
                        say(f"WARNING: pipeline ran {res['epochs']} epochs this time, {info['epochs']} before")
                else:
                    res = run_trial(cfg if v == "trial" else cfg_nomodel, overrides)
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                times[v].append(dt)
                cpu[v].append(dc)
                profiles[v].append({k: list(s) for k, s in PROF.stats.items()})
                results[v].append(res)
                say(f"repeat {r + 1}/{args.repeats}  {v:<14} {dt:7.2f} s wall  {dc:7.2f} s cpu  "
                    f"(load {os.getloadavg()[0]:.1f})")
    finally:
        if not args.keep_store:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            say(f"store kept: {uri}")

    # the hand loop must do the same work: same scores at the pipeline's best epochs, same test accuracy
    pr, hr, tr = info["pipeline_result"], results["hand"][0], results["trial"][0]
    hand_scores = [curve[e - 1] for curve, e in zip(hr["curves"], pr["best_epochs"])]
    same = (all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(hand_scores, pr["scores"]))
            and hr["test_accuracy"] == pr["test_accuracy"]
            and tr["best_epochs"] == pr["best_epochs"] and tr["scores"] == pr["scores"])
    info["same_scores"] = "yes" if same else (f"NO (pipeline {pr['scores']} test {pr['test_accuracy']}, "
                                              f"hand {hand_scores} test {hr['test_accuracy']}, trial {tr['scores']})")
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
