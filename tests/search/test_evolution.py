"""Regularized evolution: tournaments over the last trials, one-parameter mutations that respect conditions,
seeded and resumable, and better than random search where there is something to climb."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.search import SearchSpace, make_optimizer
from pipeline.search.evolution import EvolutionOptimizer

FAMILIES = SearchSpace.from_grammar(
    {"family": "choice(mlp,cnn,rnn)", "mlp.width": "tag(log, int(interval(16, 512)))", "cnn.kernel": "choice(3,5,7)",
     "cnn.channels": "range(8,64,8)", "rnn.cell": "choice(gru,lstm)", "lr": "tag(log, interval(1e-4, 1e-1))"},
    {"mlp.width": "family=mlp", "cnn.kernel": "family=cnn", "cnn.channels": "family=cnn", "rnn.cell": "family=rnn"})


def loss(p: dict) -> float:
    """Best in the cnn branch, kernel 5 and many channels, lr near 1e-2."""
    base = {"mlp": 0.6, "cnn": 0.2, "rnn": 0.4}[p["family"]]
    own = abs(p.get("cnn.kernel", 5) - 5) * 0.05 + (64 - p.get("cnn.channels", 64)) / 640
    return base + own + (np.log10(p["lr"]) + 2) ** 2 * 0.05


def run(opt, budget: int, batch: int = 1) -> list[dict]:
    asked = []
    while len(asked) < budget:
        points = opt.ask(batch)
        asked += points
        for p in points:
            opt.tell(p, loss(p))
    return asked


def test_children_change_one_active_parameter_of_a_tournament_winner():
    opt = make_optimizer("evolution", FAMILIES, seed=1, population=8, sample_size=3)
    asked = run(opt, 40)
    children = [(p, opt.parent_of(p)) for p in asked[8:]]
    assert all(parent is not None for _, parent in children)
    for child, parent in children:
        assert parent in [t.params for t in opt.trials]
        changed = {k for k in child.keys() | parent.keys() if child.get(k) != parent.get(k)}
        if "family" in changed:  # a new family brings its own parameters and drops the old ones'
            assert changed - {"family"} <= set(FAMILIES.conditions) | set()
            assert set(child) == set(FAMILIES.active(child))
        else:
            assert len(changed) == 1, (child, parent)
    assert opt.parent_of(asked[0]) is None  # the first population is space-filling


def test_the_tournament_draws_from_the_last_trials_only():
    opt = make_optimizer("evolution", FAMILIES, seed=0, population=5, sample_size=5)
    run(opt, 12)
    _, losses, params = opt.members()
    assert params == [t.params for t in opt.trials[-5:]] and len(losses) == 5
    # with S = P every child descends from the best of the last P, not from an older, better trial
    [child] = opt.ask(1)
    best_recent = params[int(np.argmin(losses))]
    assert opt.parent_of(child) == best_recent


def test_seeded_and_a_resumed_optimizer_continues_as_the_first_would_have():
    first = make_optimizer("evolution", FAMILIES, seed=4, population=6)
    history = run(first, 20)
    again = make_optimizer("evolution", FAMILIES, seed=4, population=6)
    assert run(again, 20) == history
    resumed = make_optimizer("evolution", FAMILIES, seed=4, population=6)
    for p in history:
        resumed.tell(p, loss(p))
    assert resumed.ask(3) == first.ask(3)


def test_a_batch_keeps_workers_busy_with_distinct_points_and_failures_age_out():
    opt = make_optimizer("evolution", FAMILIES, seed=2, population=6)
    for _ in range(5):
        batch = opt.ask(4)
        keys = {tuple(sorted(p.items())) for p in batch}
        assert len(keys) == 4
        for i, p in enumerate(batch):
            opt.tell(p, None if i == 0 else loss(p))  # one failure per batch: never a parent
    assert all(opt.parent_of(p) in [t.params for t in opt.trials if t.value is not None]
               for p in opt.ask(4) if opt.parent_of(p) is not None)


def test_evolution_climbs_where_random_search_only_samples():
    def best(strategy, seed):
        opt = make_optimizer(strategy, FAMILIES, seed=seed, **({"population": 10} if strategy == "evolution" else {}))
        return min(loss(p) for p in run(opt, 60))

    evo = np.median([best("evolution", s) for s in range(8)])
    rand = np.median([best("random", s) for s in range(8)])
    assert evo < rand, (evo, rand)


@pytest.mark.parametrize("options, message", [
    ({"population": 1}, "population=1: expected an integer >= 2"),
    ({"population": 4, "sample_size": 5}, "sample_size=5: expected an integer <= population (4)"),
    ({"sample_size": 0}, "sample_size=0: expected an integer >= 1"),
    ({"tournament": 3}, "unknown option"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EvolutionOptimizer(FAMILIES, **options)
