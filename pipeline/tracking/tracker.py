"""A ``Tracker`` owns one MLflow run and writes it in batches; experiments are made here too (the store itself:
``pipeline.tracking.store``; the names of what is written: ``pipeline.tracking.names``).

Every MLflow call is a network or database round trip, so metrics are buffered and sent with
``log_batch`` (one call per flush, never one per value), and params, tags and artifacts are
sent in as few calls as MLflow's limits allow.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import re
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.errors import TrackingError
from pipeline.tracking.names import (
    ERROR_ARTIFACT,
    ERROR_TAG,
    KILLED,
    MODEL_NAME,
    PARENT_RUN_TAG,
    RUN_NAME_TAG,
    TRIAL_STATE_TAG,
    TrialState,
    clip,
)
from pipeline.tracking.store import artifact_root, get_client, redact

log = logging.getLogger(__name__)

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
FLUSH_SECONDS = 10.0         # buffered epoch metrics are sent at most this often (and at the end)
MAX_METRICS_PER_BATCH = 1000  # MLflow's log_batch limits
MAX_PARAMS_PER_BATCH = 100
_UNSAFE_KEY = re.compile(r"[^\w\-. :/]")


def ensure_experiment(client: Any, name: str, uri: str) -> str:
    """The id of experiment ``name``, created if needed and tagged for MLflow 3's classic ML view."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_root(uri),
                                            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        except MlflowException:  # created concurrently by another worker
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        raise TrackingError(f"tracking.experiment={name!r} is deleted; restore it or choose another name")
    if exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return exp.experiment_id


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping to ``{"a.b.c": value}``; lists kept as values."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def safe_key(name: str) -> str:
    """``name`` with the characters MLflow refuses in param and metric names replaced by ``_``
    (``+model.x`` -> ``_model.x``)."""
    return _UNSAFE_KEY.sub("_", name)


def param_text(value: Any) -> str:
    """Params are strings in MLflow; numbers are written plainly so the UI can plot them as numbers."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return redact(str(value))


class Tracker:
    """One MLflow run: buffered metrics, batched params/tags, artifacts, terminal status.

    With ``background=True`` every write goes, in order, to one writer thread, so round trips to a
    tracking server overlap training instead of adding to it; ``finish`` waits for them and raises
    if any failed. Metrics and tags still buffered are sent together in one ``log_batch``.
    """

    def __init__(self, client: Any, run_id: str, uri: str, background: bool = False) -> None:
        self.client, self.run_id, self.uri = client, run_id, uri
        self._buffer: list[Any] = []
        self._last_flush = time.monotonic()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mlflow-writer") if background else None
        self._pending: list[Future[Any]] = []

    @functools.cached_property
    def experiment_id(self) -> str:
        return self.client.get_run(self.run_id).info.experiment_id

    @classmethod
    def start(cls, uri: str, experiment: str, run_name: str, tags: Mapping[str, str] | None = None,
              parent_run_id: str | None = None, background: bool = False, run_id: str | None = None) -> Tracker:
        """Create the run (as a child of ``parent_run_id`` when given), or take ``run_id``, the run a sweeper
        created for this trial at launch: renamed ``run_name`` and tagged with ``tags`` in one call."""
        if run_id:
            client = get_client(uri)
            tags = {k: clip(redact(str(v))) for k, v in {**(tags or {}), RUN_NAME_TAG: run_name}.items()}
            tracker = cls(client, run_id, uri, background=background)
            tracker.set_tags(tags)  # queued first on the writer thread: before anything else the trial writes
            return tracker
        client = get_client(uri)
        exp_id = ensure_experiment(client, experiment, uri)
        tags = {k: clip(redact(str(v))) for k, v in (tags or {}).items()}
        if parent_run_id:
            tags[PARENT_RUN_TAG] = parent_run_id
        run = client.create_run(exp_id, run_name=run_name, tags=tags)
        tracker = cls(client, run.info.run_id, uri, background=background)
        tracker.experiment_id = exp_id
        return tracker

    def _write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run one MLflow write now, or queue it on the writer thread (raising an earlier failure)."""
        if self._pool is None:
            fn(*args, **kwargs)
            return
        self._raise_failed()
        self._pending.append(self._pool.submit(fn, *args, **kwargs))

    def _raise_failed(self) -> None:
        done = [f for f in self._pending if f.done()]
        self._pending = [f for f in self._pending if not f.done()]
        for f in done:
            if f.exception() is not None:
                raise TrackingError(f"MLflow logging to {redact(self.uri)} failed: {f.exception()}") from f.exception()

    def wait(self) -> None:
        """Block until every queued write is done; raise ``TrackingError`` if one failed."""
        for f in self._pending:
            f.exception()
        self._raise_failed()

    # -- params, tags, metrics ----------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(safe_key(k), param_text(v)) for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self._write(self.client.log_batch, self.run_id, params=items[i:i + MAX_PARAMS_PER_BATCH])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for chunk in _tag_chunks(tags):
            self._write(self.client.log_batch, self.run_id, tags=chunk)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0, flush: bool = False) -> None:
        """Buffer ``metrics`` at ``step``; sent when ``FLUSH_SECONDS`` have passed or ``flush`` is set."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._buffer += [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
        if flush or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self, tags: Mapping[str, Any] | None = None) -> None:
        """Send the buffered metrics (and ``tags``, in the same call where they fit)."""
        chunks = _tag_chunks(tags or {})
        for i in range(0, max(len(self._buffer), 1), MAX_METRICS_PER_BATCH):
            batch_tags = chunks.pop(0) if chunks else []
            if self._buffer or batch_tags:
                self._write(self.client.log_batch, self.run_id, metrics=self._buffer[i:i + MAX_METRICS_PER_BATCH],
                            tags=batch_tags)
        for chunk in chunks:
            self._write(self.client.log_batch, self.run_id, tags=chunk)
        self._buffer = []
        self._last_flush = time.monotonic()

    # -- artifacts --------------------------------------------------------------------------------
    def log_files(self, files: Mapping[str, str | bytes], artifact_path: str | None = None) -> None:
        """Upload ``{relative name: content}`` in one ``log_artifacts`` call (from a temporary folder)."""
        contents = {name: c if isinstance(c, bytes) else redact(c).encode() for name, c in files.items()}
        self._write(_upload, self.client, self.run_id, contents, artifact_path)

    def log_model(self, model: Any, example: Any, fmt: str = "pickle", name: str = MODEL_NAME,
                  code_paths: list[str] | None = None) -> str:
        """Log a PyTorch model with MLflow 3's ``name=`` API into this run (requirements pinned, not inferred),
        with a signature and ``example`` (a numpy input batch) as its input example; returns the logged model's id.

        ``code_paths``: packages shipped with the model, so that it loads where they are not installed.
        ``fmt="pt2"`` (torch.export, no pickle on load) costs seconds per trial; ``pickle`` ~0.1 s.
        Works on a run that has already ended, without reopening it.
        """
        import warnings

        import mlflow
        import torch
        from mlflow.models import Model, infer_signature

        self.wait()
        reqs = [f"torch=={torch.__version__.split('+')[0]}"]
        with torch.no_grad():
            signature = infer_signature(example, model(torch.as_tensor(example)).numpy())
        # the model belongs to (and stores its artifacts under) the run's experiment, not the active one
        with mlflow_fluent(self.uri, self.experiment_id), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)  # the pickle notice, once per trial
            logging.getLogger("mlflow.models.model").setLevel(logging.ERROR)
            info = Model.log(artifact_path=None, name=name, flavor=mlflow.pytorch, pytorch_model=model,
                             run_id=self.run_id, pip_requirements=reqs, serialization_format=fmt,
                             signature=signature, input_example=example, code_paths=code_paths or None)
        return info.model_id

    # -- end of run -------------------------------------------------------------------------------
    def finish(self, state: TrialState = TrialState.COMPLETE, tags: Mapping[str, Any] | None = None,
               unless_ended: bool = False) -> bool:
        """Send what is buffered (with ``tags``), wait for queued writes, and end the run in ``state``; True.

        ``unless_ended``: a run that something else has ended meanwhile (a sweep that was stopped marks its trials'
        runs KILLED, and a worker it could not stop may still finish) keeps that end: the buffered metrics are
        sent, ``tags`` and ``state`` are not, and False is returned. One more round trip."""
        try:
            ended = unless_ended and self.client.get_run(self.run_id).info.status != TrialState.RUNNING.run_status
            self.flush(None if ended else tags)
            self.wait()
        finally:
            self._close()
        if not ended:
            self.client.set_terminated(self.run_id, state.run_status)
        return not ended

    def fail(self, error: BaseException, state: TrialState = TrialState.FAILED,
             tags: Mapping[str, Any] | None = None) -> None:
        """Record ``error`` on the run (tag + traceback artifact) and end it in ``state`` (failed, or interrupted)."""
        try:
            self._close(discard_errors=True)
            said = KILLED if state == TrialState.INTERRUPTED else str(state)
            self.flush({ERROR_TAG: f"{type(error).__name__}: {error}", TRIAL_STATE_TAG: said, **(tags or {})})
            tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            self.log_files({ERROR_ARTIFACT: tb})
        finally:
            self.client.set_terminated(self.run_id, state.run_status)

    def _close(self, discard_errors: bool = False) -> None:
        """Stop the writer thread after its queue; later writes are made directly."""
        if self._pool is None:
            return
        self._pool.shutdown(wait=True)
        self._pool = None
        if discard_errors:
            for f in self._pending:
                if f.exception() is not None:
                    log.warning("MLflow write lost while failing run %s: %s", self.run_id, f.exception())
            self._pending = []


def _upload(client: Any, run_id: str, contents: Mapping[str, bytes], artifact_path: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in contents.items():
            path = Path(tmp, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        client.log_artifacts(run_id, tmp, artifact_path)


def _tag_chunks(tags: Mapping[str, Any]) -> list[list[Any]]:
    from mlflow.entities import RunTag

    items = [RunTag(k, clip(redact(str(v)))) for k, v in tags.items()]
    return [items[i:i + MAX_PARAMS_PER_BATCH] for i in range(0, len(items), MAX_PARAMS_PER_BATCH)]


def checkpoint_bytes(obj: Any) -> bytes:
    """A checkpoint of tensors and plain values only, loadable with ``torch.load(weights_only=True)``."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


FLUENT_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID")  # what MLflow's setters also write to os.environ


@contextlib.contextmanager
def mlflow_fluent(uri: str, experiment_id: str) -> Iterator[None]:
    """MLflow's fluent calls (``Model.log``, ``set_signature``) read the process's tracking URI and active
    experiment: both are set for the calls in this block and put back exactly as they were after it (MLflow's
    setters also write them to ``os.environ``), so no caller finds them changed."""
    import mlflow
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils

    uri_before, experiment_before = utils._tracking_uri, fluent._active_experiment_id
    env_before = {key: os.environ.get(key) for key in FLUENT_ENV}
    mlflow.set_tracking_uri(uri)
    fluent._active_experiment_id = experiment_id
    try:
        yield
    finally:
        if uri_before is not None:
            mlflow.set_tracking_uri(uri_before)
        utils._tracking_uri, fluent._active_experiment_id = uri_before, experiment_before
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
