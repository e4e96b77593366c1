"""The run record's names: every tag, metric, artifact and run name that the trial, the sweeper, the report and
the registry share, the states a trial or a sweep can be in, and the codecs of the tags a sweep's parent holds.

Each name is spelled here once; everything else asks this module (``tests/tracking/test_names.py`` fails when
one of these strings is written anywhere else in ``pipeline/`` or ``hydra_plugins/``). The objective's own
metrics (``cv_mean``, its curve ``cv/<metric>``) belong to ``pipeline.objective``. This module imports
nothing of the project and nothing heavy.

A sweep is a parent run (tag ``sweep.strategy``) with one child run per trial (``mlflow.parentRunId``,
``trial.number``). Trial states, from a child run (``pipeline.tracking.runs.trial_state``):

* ``complete``: the run ended FINISHED. Its value is the objective metric; a run that ended normally
  without one (a task that returned nothing) is complete without a value: never the best, never run again.
* ``pruned``: tagged ``trial.pruned=true``; its value is the last intermediate value.
* ``failed``: FAILED (an exception, a non-finite loss).
* ``running``: RUNNING or SCHEDULED. Stale when the sweep that launched it is not running any more: a
  resume ends such a run as KILLED and runs the trial again.
* ``interrupted``: KILLED (Ctrl-C, SIGTERM, a resume ending a stale run).
* ``aborted``: only inside a sweeper: its worker died under it, and it runs again once under a new number.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

MAX_TAG_LENGTH = 5000  # MLflow's limit on a tag's value


class TrialState(str, Enum):
    """Every state a trial or a sweep can be in. A sweep is RUNNING, then COMPLETE (every trial ended),
    FAILED (too many failures, lost runs) or INTERRUPTED (Ctrl-C, SIGTERM); a trial can also be PRUNED, and
    ABORTED inside a sweeper (its worker died: it runs again). ``run_status`` is the MLflow run status that
    records it."""

    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"

    def __str__(self) -> str:
        return self.value

    @property
    def ended(self) -> bool:
        """Whether a trial in this state has its result: complete, pruned or failed (never run again)."""
        return self in ENDED

    @property
    def run_status(self) -> str:
        """The MLflow run status of a run in this state."""
        return _RUN_STATUS[self]

    @classmethod
    def of_status(cls, status: str) -> TrialState:
        """The state an MLflow run status records (FINISHED -> complete; a pruned run needs its tags:
        ``pipeline.tracking.runs.trial_state``)."""
        for state, known in _RUN_STATUS.items():
            if known == status and state is not cls.PRUNED:
                return state
        return cls.RUNNING if status == "SCHEDULED" else cls.INTERRUPTED


_RUN_STATUS = {TrialState.RUNNING: "RUNNING", TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "FINISHED",
               TrialState.FAILED: "FAILED", TrialState.INTERRUPTED: "KILLED", TrialState.ABORTED: "KILLED"}
ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)
STATES = (*ENDED, TrialState.INTERRUPTED, TrialState.RUNNING)  # what a trial's run in the store can say
# What a trial run's state tag says once it ended (``TRIAL_STATE_TAG``): killed, not interrupted, as before.
KILLED = "killed"

# -- the trial protocol: config keys of a task that records its own run, set by the sweeper per trial --
URI_KEY = "tracking.uri"                    # the store, decided once by the sweeper
PARENT_KEY = "tracking.parent_run_id"       # the sweep's parent run
NUMBER_KEY = "tracking.trial_number"        # the trial's number (Hydra's job number)
RUN_ID_KEY = "tracking.run_id"              # the trial's child run, created by the sweeper at launch
SWEEPER_KEYS = (URI_KEY, PARENT_KEY, NUMBER_KEY, RUN_ID_KEY)
REPRODUCES_KEY = "tracking.reproduces"      # set by ``python -m pipeline.reproduce``: the run it re-runs

# -- tags of a trial's run ---------------------------------------------------------------------------
PARENT_RUN_TAG = "mlflow.parentRunId"       # its sweep's parent run
RUN_NAME_TAG = "mlflow.runName"             # its name in the run list; a trial's says how it ended
SOURCE_NAME_TAG = "mlflow.source.name"      # the script that ran it
GIT_COMMIT_TAG = "mlflow.source.git.commit"
TRIAL_NUMBER_TAG = "trial.number"           # its job number in the sweep
TRIAL_STATE_TAG = "trial.state"             # complete | pruned | failed | killed, once ended
TRIAL_PARAMS_TAG = "trial.params"           # the searched values it was launched with (JSON, typed): a resume's
RERUN_AS_TAG = "trial.rerun_as"             # on an interrupted trial's run: the number it ran again under
MUTATED_FROM_TAG = "trial.mutated_from"     # evolution: the trial (its run name) this one was mutated from
PRUNED_TAG = "trial.pruned"                 # "true" when the pruner stopped it
FRONT_TAG = "pareto.front"                  # several objectives: "true" while the trial is on the sweep's front (and
                                            # on a registered version of a front trial)
FEASIBLE_TAG = "trial.feasible"             # with constraints: "true" when the trial met every limit, else "false"
ERROR_TAG = "error"                         # on a failed run: the exception, one line
OBJECTIVE_METRIC_TAG = "objective.metric"   # the cv.metric behind its objective
OVERRIDES_TAG = "hydra.overrides"           # its Hydra overrides, as JSON
JOB_TAG_PREFIX = "hydra.job."               # hydra.job.name, .num, .sweep_dir: Hydra's job
SEARCHPATH_TAG = JOB_TAG_PREFIX + "searchpath"  # the config folders it was composed with (JSON)
PYTHONPATH_TAG = JOB_TAG_PREFIX + "pythonpath"  # the folders a plug-in's modules were imported from (os.pathsep)
REPRODUCE_COMMAND_TAG = "reproduce.command"  # the one-line command that re-runs it
REPRODUCES_TAG = "reproduces"               # on a reproduction: the run it re-ran
REFIT_CHECKPOINT_TAG = "checkpoint.refit"   # the artifact holding its refit model, when it has one
DATA_TAG, MODEL_TAG, TASK_TAG = "data", "model", "task"  # what it trained: names a person reads
DATA_LOADING_TAG = "data.loading"           # in memory | DataLoader
LEASE_TAG = "lease"                         # on a trial (its worker) and a parent (its sweeper): host:pid:start
RUNG_TAG = "pruning.rung_{}"                # ASHA: the value a trial had when it reached rung k

# -- tags of a sweep's parent run ----------------------------------------------------------------------
SWEEP_TAG = "sweep.strategy"                # on every sweep's parent: its strategy
BASIC_STRATEGY = "basic"                    # ... for a multirun under Hydra's basic sweeper (no recorded plan)
OBJECTIVE_KEY_TAG = "sweep.objective_key"   # the child metric holding each trial's value
SWEEP_DIR_TAG = "sweep.dir"                 # a basic sweep's folder
SWEEP_COMMAND_TAG = "sweep.command"         # the command that started it
SPACE_TAG = "sweep.space"                   # its search space, as the sweep grammar (JSON)
FIXED_TAG = "sweep.fixed"                   # the fixed overrides every trial runs with (JSON)
SEED_TAG = "sweep.seed"
N_TRIALS_TAG = "sweep.n_trials"
DIRECTION_TAG = "sweep.direction"
OPTIONS_TAG = "sweep.options"               # the strategy options the user set (JSON)
CONDITIONS_TAG = "sweep.conditions"         # when each conditional parameter is active, as text (JSON)
DEFAULTS_TAG = "sweep.defaults"             # each searched parameter's value in the app's own config (JSON): where
                                            # an explanation's ablation path starts
OBJECTIVES_TAG = "sweep.objectives"         # several objectives: their names (JSON list; sweep.direction: the first's)
DIRECTIONS_TAG = "sweep.directions"         # ... the direction of each (JSON list)
OBJECTIVE_KEYS_TAG = "sweep.objective_keys"  # ... the child metric holding each (JSON list)
CONSTRAINTS_TAG = "sweep.constraints"       # limits a feasible trial meets, as text (JSON list: ["n_params<=50000"])
CONSTRAINT_KEYS_TAG = "sweep.constraint_keys"  # ... the child metric each limits (JSON list)
SELECT_TAG = "sweep.select"                 # several objectives: the rule naming the best front trial
REFERENCE_OPTION_TAG = "sweep.reference_point"  # several objectives: the reference point the user set (JSON list)
REFERENCE_POINT_TAG = "pareto.reference_point"  # ... the one the parent's hypervolume was computed against (JSON)
FRONT_TRIALS_TAG = "pareto.front_trials"    # on a parent: the numbers of the trials on its Pareto front (JSON)
N_JOBS_PARAM = "sweep.n_jobs"               # a param only: a resume may change it
SPACE_PARAM_PREFIX = "space."               # params space.<name>: each parameter's search expression
BEST_RUN_TAG = "best.run_id"                # the best complete trial's run
BEST_TRIAL_TAG = "best.trial"
BEST_PARAMS_TAG = "best.params"
REPORT_PAGE = "report.html"                 # the report's page, in REPORT_DIR
REPORT_TAG = REPORT_PAGE                    # its path among the parent's artifacts
IMPORTANCE_STATUS_TAG = "importance.status"
IMPORTANCE_METHOD_TAG = "importance.method"
SELECTION_GAP_TAG = "selection_gap"         # how much better the best looked in CV than on the test split (also
                                            # a registered version's tag); .cv_score, .test_score, .median, .optimism
REGISTERED_NAME_TAG = "registered_model.name"        # once its best is registered
REGISTERED_VERSION_TAG = "registered_model.version"
REGISTERED_ALIAS_TAG = "registered_model.alias"      # set only when the version took the alias
REGISTERED_DECISION_TAG = "registered_model.decision"  # the one line saying which version holds the alias

COST_DEVICE_TAG = "cost.device"             # on a trial: the device its latency was measured on
COST_BATCH_TAG = "cost.batch_size"          # ... and the batch size (latency_ms is per sample of such batches)
COST_MEMORY_TAG = "cost.memory"             # what peak_memory_mb measured: cuda max allocated | process peak RSS

# -- tags of a registered model version (pipeline.results.registry): what it was judged on ----------------
SWEEP_PARENT_TAG = "sweep.parent_run_id"    # the sweep it is the best of
OBJECTIVE_NAME_TAG = "objective.key"        # the metric holding the objective (cv_mean)
OBJECTIVE_DIRECTION_TAG = "objective.direction"  # minimize | maximize
OBJECTIVE_VALUE_TAG = "objective.value"     # its trial's objective value (repr of a float)
OBJECTIVE_VALUES_TAG = "objective.values"   # several objectives: its trial's value of each (JSON mapping)
DATA_TARGET_TAG = "data.target"             # the data entry (``data._target_``) it was judged on
DATA_PARAMS_TAG = "data.params"             # that entry's parameters, as sorted JSON

# -- metrics -------------------------------------------------------------------------------------------
INTERMEDIATE_PREFIX = "intermediate/"       # intermediate/<name>: a trial's intermediate value of one objective
INTERMEDIATE = INTERMEDIATE_PREFIX + "objective"  # a trial's intermediate objective, one value per step
TRAIN_SECONDS = "train_seconds"             # a trial's training time (cross-validation and refit)
BEST_EPOCH_MEDIAN = "best_epoch_median"     # the folds' median best epoch: how long the refit trains
REFIT_EPOCHS = "refit_epochs"
N_PARAMS = "n_params"                       # the model's trainable parameters
FLOPS = "flops"                             # floating-point operations of one forward pass, per sample
LATENCY_MS = "latency_ms"                   # inference time per sample of the refit model (warm, median), ms
PEAK_MEMORY_MB = "peak_memory_mb"           # peak memory while the trial trained, MB
PRUNED_STEP = "pruned_step"                 # the step at which the pruner stopped a trial
TRIAL_VALUE = "trial_value"                 # on a parent, at step k: trial k's value
BEST_VALUE = "best_value"                   # on a parent: the best value so far
HYPERVOLUME = "hypervolume"                 # on a parent, at step k: the hypervolume of the front after trial k
# Measured figures of the machine, not expected to repeat in a reproduction.
TIMING_METRICS = (TRAIN_SECONDS, LATENCY_MS, PEAK_MEMORY_MB)

# -- artifacts -----------------------------------------------------------------------------------------
REFIT_CHECKPOINT = "checkpoints/refit.pt"   # weights, normalisation and shapes of the refit model
CONFIG_ARTIFACT = "config.yaml"             # the trial's resolved config
OVERRIDES_ARTIFACT = "overrides.yaml"       # the trial's overrides
ERROR_ARTIFACT = "error.txt"                # a failed run's traceback
TRIALS_TABLE = "trials.csv"                 # on a parent (and in its report): one row per trial
RESULTS_FILE = "optimization_results.yaml"  # on a parent and in the sweep's folder: its outcome
REPORT_DIR = "report"                       # the report's artifact folder on a parent
EXPLAIN_DIR = "explain"                     # a trial's model explanation: its artifact folder (pipeline.explain)
EXPLAIN_PAGE = "explanation.html"           # ... and its page in that folder
EXPLAIN_TAG = "explain.page"                # on an explained trial's run and its registered versions: the page
EXPLAIN_SECONDS_TAG = "explain.seconds"     # ... how long explaining it took
EXPLAIN_NOTES_TAG = "explain.notes"         # ... what could not be explained, one line each
EFFECTS_SECONDS_TAG = "explain.effects_seconds"  # on a parent: how long its report took to explain the effects
MODEL_NAME = "model"                        # the name a trial's refit model is logged under

_LAUNCHED = re.compile(r"trial\.(\d+)\.params")
_RERUN = re.compile(r"trial\.(\d+)\.rerun_as")


def fold_metric(fold: int, name: str) -> str:
    """A fold's metric: ``fold_0/val_loss`` per epoch, ``fold_0/score`` and ``fold_0/best_epoch`` once."""
    return f"fold_{fold}/{name}"


FOLD_SCORE, FOLD_BEST_EPOCH = "score", "best_epoch"


def fold_checkpoint(fold: int) -> str:
    """The artifact holding a fold's best weights."""
    return f"checkpoints/fold_{fold}.pt"


def count_metric(state: str) -> str:
    """On a parent: how many trials are in ``state`` (``n_complete``)."""
    return f"n_{state}"


def explain_tag(score: str) -> str:
    """The tag holding one score of a model's explanation: ``explain.ece``, ``explain.macro_f1``."""
    return f"explain.{score}"


def selection_gap_tag(part: str = "") -> str:
    """``selection_gap``, or one of its parts: ``selection_gap.cv_score``."""
    return f"{SELECTION_GAP_TAG}.{part}" if part else SELECTION_GAP_TAG


def intermediate_metric(name: str) -> str:
    """The per-step curve of a trial's intermediate value of the objective ``name`` (several objectives)."""
    return INTERMEDIATE_PREFIX + name


def rung_tag(rung: int) -> str:
    return RUNG_TAG.format(rung)


def trial_run_name(number: int, prefix: str = "trial") -> str:
    """A trial's name in the run list and on the console, the one numbering of a sweep: ``trial-007`` (a name
    the user gives keeps the number: ``tracking.run_name=wide`` -> ``wide-007``)."""
    return f"{prefix}-{int(number):03d}"


def ended_run_name(name: str, state: TrialState, value: float | None = None) -> str:
    """A run's name once it ended, saying how: ``trial-007 0.978412`` (complete, with its value to 6 significant
    digits, so that close trials read apart), ``trial-008 failed``, ``trial-009 pruned``, ``trial-010 killed``."""
    if state == TrialState.COMPLETE:
        return name if value is None else f"{name} {value:.6g}"
    return f"{name} {KILLED if state in (TrialState.INTERRUPTED, TrialState.ABORTED) else state}"


def override_key(override: str) -> str:
    """The config key an override sets: ``+tracking.uri=x`` -> ``tracking.uri``."""
    return override.split("=", 1)[0].lstrip("+~")


def without_sweeper_keys(overrides: Iterable[str]) -> list[str]:
    """``overrides`` without those the sweeper sets for each trial (what a user re-runs)."""
    return [o for o in overrides if override_key(o) not in SWEEPER_KEYS]


def clip(value: str) -> str:
    """``value`` cut to MLflow's tag length."""
    return value if len(value) <= MAX_TAG_LENGTH else value[:MAX_TAG_LENGTH - 3] + "..."


def clip_json(obj: Any) -> str:
    return clip(json.dumps(obj, default=str))


# -- codecs of a sweep's parent tags: written once, read once ------------------------------------------
@dataclass(frozen=True)
class SweepTags:
    """What a grid/random/bayes sweep records on its parent run so that it can be resumed and read back.

    ``decode`` reads each field that is there and readable (None otherwise: a basic sweep records none, a
    tag may be clipped at MLflow's length limit); ``complete`` says whether a resume has all it needs.
    """

    strategy: str | None = None
    space: dict[str, Any] | None = None     # the search space, as the sweep grammar (``SearchSpace.to_grammar``)
    fixed: list[str] | None = None          # the fixed overrides every trial runs with
    seed: int | None = None
    n_trials: int | None = None
    direction: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # the strategy options the user set
    command: str = ""
    objective_key: str | None = None        # the child metric holding each trial's value
    conditions: dict[str, str] | None = field(default_factory=dict)  # ``SearchSpace.conditions_text``
    # several objectives (each a list, one item per objective) and constraints; empty for a single objective
    objectives: list[str] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    objective_keys: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    constraint_keys: list[str] = field(default_factory=list)
    select: str | None = None
    reference_point: list[float] | None = None  # as the user set it; None: decided from the trials at the end
    defaults: dict[str, Any] | None = None   # the searched parameters' values in the app's config, where it has them

    def encode(self) -> dict[str, str]:
        several = {OBJECTIVES_TAG: self.objectives, DIRECTIONS_TAG: self.directions,
                   OBJECTIVE_KEYS_TAG: self.objective_keys, CONSTRAINTS_TAG: self.constraints,
                   CONSTRAINT_KEYS_TAG: self.constraint_keys, REFERENCE_OPTION_TAG: self.reference_point}
        return {SWEEP_TAG: str(self.strategy), SPACE_TAG: clip_json(self.space), FIXED_TAG: clip_json(self.fixed),
                **({CONDITIONS_TAG: clip_json(self.conditions)} if self.conditions else {}),
                **{k: clip_json(v) for k, v in several.items() if v},
                **({SELECT_TAG: self.select} if self.select else {}),
                **({DEFAULTS_TAG: clip_json(self.defaults)} if self.defaults else {}),
                SEED_TAG: str(self.seed), N_TRIALS_TAG: str(self.n_trials), DIRECTION_TAG: str(self.direction),
                OPTIONS_TAG: clip_json(self.options), SWEEP_COMMAND_TAG: self.command,
                OBJECTIVE_KEY_TAG: str(self.objective_key)}

    def params(self, n_jobs: int) -> dict[str, Any]:
        """The parent's params (shown in MLflow's run table): strategy, budget, seed, direction, the space."""
        return {SWEEP_TAG: self.strategy, N_TRIALS_TAG: self.n_trials, N_JOBS_PARAM: n_jobs, SEED_TAG: self.seed,
                DIRECTION_TAG: self.direction,
                **{SPACE_PARAM_PREFIX + k: v for k, v in (self.space or {}).items()}}

    @classmethod
    def decode(cls, tags: Mapping[str, str]) -> SweepTags:
        return cls(strategy=tags.get(SWEEP_TAG), space=_json(tags, SPACE_TAG, dict), fixed=_json(tags, FIXED_TAG, list),
                   seed=_int(tags.get(SEED_TAG)), n_trials=_int(tags.get(N_TRIALS_TAG)),
                   direction=tags.get(DIRECTION_TAG), options=_json(tags, OPTIONS_TAG, dict) or {},
                   command=tags.get(SWEEP_COMMAND_TAG, ""), objective_key=tags.get(OBJECTIVE_KEY_TAG),
                   conditions=_json(tags, CONDITIONS_TAG, dict) if CONDITIONS_TAG in tags else {},
                   objectives=_json(tags, OBJECTIVES_TAG, list) or [],
                   directions=_json(tags, DIRECTIONS_TAG, list) or [],
                   objective_keys=_json(tags, OBJECTIVE_KEYS_TAG, list) or [],
                   constraints=_json(tags, CONSTRAINTS_TAG, list) or [],
                   constraint_keys=_json(tags, CONSTRAINT_KEYS_TAG, list) or [], select=tags.get(SELECT_TAG),
                   reference_point=_json(tags, REFERENCE_OPTION_TAG, list), defaults=_json(tags, DEFAULTS_TAG, dict))

    @property
    def complete(self) -> bool:
        """Whether it holds all a resume needs (a basic sweep records none of it; a tag may be clipped)."""
        return None not in (self.strategy, self.space, self.fixed, self.seed, self.n_trials, self.direction,
                            self.conditions)


def _json(tags: Mapping[str, str], key: str, kind: type) -> Any:
    with contextlib.suppress(KeyError, ValueError, TypeError):
        value = json.loads(tags[key])
        if isinstance(value, kind):
            return value
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def launched_tags(number: int, params: Mapping[str, Any], parent_run_id: str) -> dict[str, str]:
    """The tags of a trial's run as the sweeper creates it at launch (before the trial adopts it): its sweep, its
    number and the searched values it runs with, what a resumed sweep runs again."""
    return {PARENT_RUN_TAG: parent_run_id, TRIAL_NUMBER_TAG: str(number), TRIAL_PARAMS_TAG: json.dumps(dict(params))}


def parent_launched_tags(numbers: Iterable[int], params: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Parent tags recording the searched values of each launched trial (``trial.<k>.params``): for an app that
    records its own runs without taking the one the sweeper would create (no ``tracking.run_id`` in its config),
    and as sweeps recorded before trials' runs were created at launch have them. Read by ``launched_params``."""
    return {f"trial.{k}.params": json.dumps(dict(p)) for k, p in zip(numbers, params)}


def launched_run_params(tags: Mapping[str, str]) -> dict[str, Any] | None:
    """The searched values a trial's run was launched with (``launched_tags``); None for a run made otherwise."""
    with contextlib.suppress(ValueError, TypeError):  # a tag clipped at MLflow's length limit
        return dict(json.loads(tags[TRIAL_PARAMS_TAG])) if TRIAL_PARAMS_TAG in tags else None
    return None


def rerun_tags(pairs: Iterable[tuple[int, int]]) -> dict[str, str]:
    """Parent tags of sweeps recorded before trials' runs were created at launch: trial ``old`` was run again
    (after a resume) as trial ``new``. Read back by ``rerun_numbers``; a new sweep tags the old run instead
    (``RERUN_AS_TAG``)."""
    return {f"trial.{old}.rerun_as": str(new) for old, new in pairs}


def launched_params(tags: Mapping[str, str]) -> dict[int, dict[str, Any]]:
    """What the sweeper launched, by trial number, from a parent's ``trial.<k>.params`` tags: sweeps recorded
    before each trial's run was created at launch (``launched_tags``) kept them on the parent."""
    out: dict[int, dict[str, Any]] = {}
    for key, value in tags.items():
        match = _LAUNCHED.fullmatch(key)
        if match:
            with contextlib.suppress(ValueError, TypeError):  # a tag clipped at MLflow's length limit
                out[int(match[1])] = dict(json.loads(value))
    return out


def rerun_numbers(tags: Mapping[str, str]) -> set[int]:
    """Trials that a resumed sweep already ran again under a new number."""
    return {int(m[1]) for m in map(_RERUN.fullmatch, tags) if m}
