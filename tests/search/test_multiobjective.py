"""Several objectives and constraints behind ask/tell: the front, feasibility, and each strategy's use of them."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.search import make_optimizer
from pipeline.search.pareto import hypervolume, non_dominated
from pipeline.search.space import FloatParam, SearchSpace

SPACE = SearchSpace([FloatParam("x", 0.0, 1.0), FloatParam("y", 0.0, 1.0), FloatParam("z", 0.0, 1.0)])
BOTH_MIN = ("minimize", "minimize")


def zdt1(p: dict) -> tuple[float, float]:
    f1 = p["x"]
    g = 1.0 + 9.0 * (p["y"] + p["z"]) / 2.0
    return f1, g * (1.0 - np.sqrt(f1 / g))


def test_tell_checks_one_value_per_objective() -> None:
    opt = make_optimizer("random", SPACE, direction=BOTH_MIN)
    p = opt.ask()[0]
    with pytest.raises(ValueError, match="expected 2 values"):
        opt.tell(p, 1.0)
    with pytest.raises(ValueError, match="expected finite numbers"):
        opt.tell(p, (1.0, 2.0), constraints=[float("nan")])
    opt.tell(p, (1.0, float("nan")))
    assert opt.trials[-1].state == "failed"
    with pytest.raises(ValueError, match="no single best"):
        opt.best()


def test_front_is_feasible_and_non_dominated_in_each_direction() -> None:
    opt = make_optimizer("random", SPACE, direction=("maximize", "minimize"))
    rng = np.random.default_rng(0)
    told = []
    for p in opt.ask(30):
        v = (float(rng.random()), float(rng.random()))
        c = [float(rng.random() - 0.8)]
        opt.tell(p, v, constraints=c)
        told.append((v, c[0] <= 0))
    front = opt.front()
    assert front and all(t.feasible for t in front)
    feasible = np.array([[-v[0], v[1]] for v, ok in told if ok])
    expected = {tuple(r) for r in feasible[non_dominated(feasible)]}
    assert {(-t.value[0], t.value[1]) for t in front} == expected


def test_an_infeasible_trial_is_never_the_best() -> None:
    opt = make_optimizer("random", SearchSpace([FloatParam("x", 0.0, 1.0)]))
    a, b = opt.ask(2)
    opt.tell(a, 0.1, constraints=[1.0])
    opt.tell(b, 0.5, constraints=[-1.0])
    assert opt.best()[1] == 0.5


def _hv_after(strategy: str, seed: int, n: int = 30) -> float:
    opt = make_optimizer(strategy, SPACE, seed=seed, direction=BOTH_MIN)
    values = []
    for _ in range(n):
        p = opt.ask()[0]
        values.append(zdt1(p))
        opt.tell(p, values[-1])
    return hypervolume(np.array(values), np.array([1.1, 11.0]))


def test_bayes_by_ehvi_finds_more_hypervolume_than_random() -> None:
    bayes = [_hv_after("bayes", s) for s in (0, 1)]
    random = [_hv_after("random", s) for s in (0, 1)]
    assert min(bayes) > max(random)


def test_bayes_stops_proposing_where_the_limit_is_broken() -> None:
    """x + y >= 0.6 is required; after its design, bayes proposes almost nowhere clearly infeasible."""
    far = {}
    for strategy in ("bayes", "random"):
        opt = make_optimizer(strategy, SPACE, seed=3, direction=BOTH_MIN)
        broken = []
        for _ in range(30):
            p = opt.ask()[0]
            c = 0.6 - p["x"] - p["y"]
            opt.tell(p, (p["x"], 1 - p["x"] + (p["y"] - 0.3) ** 2), constraints=[c])
            broken.append(c > 0.1)
        far[strategy] = np.mean(broken[15:])
    assert far["bayes"] <= 0.07 < far["random"]


def test_bayes_batches_with_running_trials_are_distinct() -> None:
    opt = make_optimizer("bayes", SPACE, seed=0, direction=BOTH_MIN, n_initial=6)
    for p in opt.ask(6):
        opt.tell(p, zdt1(p))
    batch = opt.ask(3)
    X = SPACE.encode(batch)
    assert len({tuple(np.round(x, 6)) for x in X}) == 3
    assert len(opt.pending) == 3


def test_bayes_with_one_objective_and_a_constraint_finds_the_constrained_optimum() -> None:
    space = SearchSpace([FloatParam("x", 0.0, 1.0), FloatParam("y", 0.0, 1.0)])
    opt = make_optimizer("bayes", space, seed=1)
    for _ in range(30):
        p = opt.ask()[0]
        opt.tell(p, (p["x"] - 0.8) ** 2 + (p["y"] - 0.8) ** 2, constraints=[p["x"] + p["y"] - 1.0])
    params, value = opt.best()
    assert params["x"] + params["y"] <= 1.0
    assert value == pytest.approx(0.18, abs=0.01)  # the optimum on the line x + y = 1 is (0.5, 0.5)


def test_evolution_ranks_members_by_feasibility_rank_and_crowding() -> None:
    opt = make_optimizer("evolution", SPACE, seed=0, direction=BOTH_MIN, population=5)
    pts = opt.ask(5)
    values = [(0.0, 0.0), (1.0, 1.0), (0.5, 2.0), (2.0, 0.5), (-1.0, -1.0)]
    for p, v, c in zip(pts, values, [0.0, 0.0, 0.0, 0.0, 3.0]):
        opt.tell(p, v, constraints=[c])
    _, places, _ = opt.members()
    assert places[0] == 0  # feasible and dominating every feasible one
    assert places[4] == 4  # the best values, but infeasible: last
    assert places[1] == 3  # rank 1 with the others, but between them: the least crowding distance


def test_evolution_selects_parents_from_the_front() -> None:
    opt = make_optimizer("evolution", SPACE, seed=2, direction=BOTH_MIN, population=8, sample_size=4)
    for _ in range(40):
        p = opt.ask()[0]
        opt.tell(p, zdt1(p))
    X, places, params = opt.members()
    child = opt.ask()[0]
    parent = opt.parent_of(child)
    assert parent is not None
    rank_of_parent = places[[i for i, q in enumerate(params) if q == parent][0]]
    assert rank_of_parent < np.median(places)


def _accuracy_and_size(p: dict) -> tuple[float, float]:
    """Error falls as a network grows; its size spans five decades (as a parameter count does)."""
    return 0.02 + 0.5 * np.exp(-8 * p["x"]) + 0.1 * p["y"], 10 ** (1 + 5 * p["x"]) * (1 + 3 * p["y"])


def _log_hv(seed: int, logs: list[bool] | None) -> float:
    space = SearchSpace([FloatParam("x", 0.0, 1.0), FloatParam("y", 0.0, 1.0)])
    opt = make_optimizer("bayes", space, seed=seed, direction=BOTH_MIN, n_initial=6,
                         **({"log_objectives": logs} if logs else {}))
    values = []
    for _ in range(20):
        p = opt.ask()[0]
        values.append(_accuracy_and_size(p))
        opt.tell(p, values[-1])
    V = np.array(values)
    return hypervolume(np.column_stack([V[:, 0], np.log10(V[:, 1])]), np.array([0.65, 7.0]))


def test_a_count_spanning_decades_modelled_on_its_log_finds_more_of_the_front_on_that_scale() -> None:
    for seed in (0, 1):
        assert _log_hv(seed, [False, True]) > _log_hv(seed, None)


@pytest.mark.parametrize("bad", [[True], [True, "yes"], "true"])
def test_log_objectives_takes_one_flag_per_objective(bad) -> None:
    with pytest.raises(ValueError, match="log_objectives"):
        make_optimizer("bayes", SPACE, direction=BOTH_MIN, log_objectives=bad)
