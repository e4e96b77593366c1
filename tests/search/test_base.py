"""The shared ask/tell bookkeeping (exercised through the random strategy: no mocks)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.search import SearchSpace, make_optimizer

SPACE = SearchSpace.from_grammar({"lr": "tag(log,interval(1e-4,1.0))", "opt": "choice(sgd,adam)"})


def opt(direction: str = "minimize"):
    return make_optimizer("random", SPACE, seed=0, direction=direction)


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_ask_needs_a_positive_integer(n) -> None:
    with pytest.raises(ValueError, match=r"ask\(n=.*\): n must be an integer >= 1"):
        opt().ask(n)


def test_ask_returns_copies_and_tracks_pending() -> None:
    o = opt()
    points = o.ask(3)
    assert len(o.pending) == 3
    points[0]["lr"] = "mutated"
    assert o.pending[0]["lr"] != "mutated"
    o.tell(points[1], 1.0)
    assert len(o.pending) == 2 and o.trials[0].params == points[1]
    assert o.all_X.shape == (len(o.trials) + len(o.pending), 2)


def test_tell_of_an_unasked_point_leaves_pending_alone() -> None:
    o = opt()
    o.ask(2)
    o.tell({"lr": 0.01, "opt": "adam"}, 1.0)
    assert len(o.pending) == 2 and len(o.trials) == 1


def test_pending_is_matched_despite_float_noise() -> None:
    o = opt()
    (p,) = o.ask(1)
    o.tell(p | {"lr": p["lr"] * (1 + 1e-15)}, 1.0)
    assert o.pending == []


@pytest.mark.parametrize(("value", "state", "match"), [
    (1.0, "done", r"state='done' must be 'complete', 'failed' or 'pruned'"),
    (float("nan"), "complete", r"state='complete' needs a finite value or None, got nan"),
    (float("inf"), "pruned", r"state='pruned' needs a finite value or None, got inf"),
])
def test_invalid_states(value, state: str, match: str) -> None:
    o = opt()
    (p,) = o.ask(1)
    with pytest.raises(ValueError, match=match):
        o.tell(p, value, state=state)
    assert len(o.pending) == 1 and o.trials == []  # nothing recorded on error


def test_states_and_observed_losses() -> None:
    o = opt(direction="maximize")
    a, b, c = o.ask(3)
    o.tell(a, 2.0)
    o.tell(b, 0.5, state="pruned")
    o.tell(c, None)
    assert [t.state for t in o.trials] == ["complete", "pruned", "failed"]
    X, y = o.observed()
    assert X.shape == (1, 2) and y.tolist() == [-2.0]  # losses: maximized values negated
    X, y = o.observed(states=("complete", "pruned"))
    assert y.tolist() == [-2.0, -0.5]


def test_complete_without_a_value_uses_the_point_but_teaches_nothing() -> None:
    o = opt()
    a, b = o.ask(2)
    o.tell(a, None, state="complete")
    o.tell(b, 3.0)
    assert [(t.state, t.value) for t in o.trials] == [("complete", None), ("complete", 3.0)]
    assert o.observed()[1].tolist() == [3.0] and o.best() == (b, 3.0) and len(o.all_X) == 2
    assert not any(np.allclose(x, o.space.encode([a])[0]) for x in o.space.encode(o.ask(8)))


def test_tell_rejects_points_outside_the_space() -> None:
    with pytest.raises(ValueError, match=r"parameter 'opt': 'rmsprop' is not one of \['sgd', 'adam'\]"):
        opt().tell({"lr": 0.01, "opt": "rmsprop"}, 1.0)
    with pytest.raises(ValueError, match=r"lacks parameters \['opt'\]"):
        opt().tell({"lr": 0.01}, 1.0)


def test_invalid_direction() -> None:
    with pytest.raises(ValueError, match=r"direction='down' must be one of \('minimize', 'maximize'\)"):
        opt("down")


def test_space_with_only_fixed_values() -> None:
    o = make_optimizer("random", SearchSpace.from_grammar({"epochs": "5"}))
    assert o.ask(4) == [{"epochs": 5}]
    assert o.ask(1) == []
    o.tell({"epochs": 5}, 1.0)
    assert o.best() == ({"epochs": 5}, 1.0)
    assert o.all_X.shape == (1, 0) and np.isfinite(o.all_X).all()
