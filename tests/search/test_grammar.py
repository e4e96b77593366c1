"""Hydra sweep grammar -> parameters, every form and every error, and formatting back."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from pipeline.search import CategoricalParam, FloatParam, IntParam, SearchSpace
from pipeline.search.grammar import format_param, format_value, parse_param

PARSED = [
    ("choice(sgd,adam)", CategoricalParam("p", ("sgd", "adam"))),
    ("choice(mlp,cnn)", CategoricalParam("p", ("mlp", "cnn"))),  # config-group style: model=mlp,cnn
    ("choice(1,1.5,true,'x',mlp)", CategoricalParam("p", (1, 1.5, True, "x", "mlp"))),
    ("choice(1,1.0,true)", CategoricalParam("p", (1, 1.0, True))),  # equal in Python, distinct choices
    ("choice(a,a,b)", CategoricalParam("p", ("a", "b"))),
    ("a,b", CategoricalParam("p", ("a", "b"))),
    ("'x y',null,false", CategoricalParam("p", ("x y", None, False))),
    ("choice(x)", CategoricalParam("p", ("x",))),
    ("range(1,5)", IntParam("p", 1, 4)),
    ("range(0,10,3)", IntParam("p", 0, 9, step=3)),
    ("range(10,0,-2)", IntParam("p", 2, 10, step=2)),
    ("shuffle(range(1,4))", IntParam("p", 1, 3)),
    ("range(5,6)", CategoricalParam("p", (5,))),
    ("range(0.0,1.0,0.25)", FloatParam("p", 0.0, 0.75, step=0.25)),
    ("range(0.1,1.0,0.1)", FloatParam("p", 0.1, 0.9, step=0.1)),
    ("range(0.5,3)", FloatParam("p", 0.5, 2.5, step=1.0)),
    ("interval(1,10)", FloatParam("p", 1.0, 10.0)),
    ("interval(-0.5,0.5)", FloatParam("p", -0.5, 0.5)),
    ("int(interval(1,10))", IntParam("p", 1, 10, interval=True)),
    ("int(interval(1.5,3.7))", IntParam("p", 1, 3, interval=True)),
    ("tag(log,interval(1e-5,1.0))", FloatParam("p", 1e-5, 1.0, log=True)),
    ("tag(log, int(interval(16, 512)))", IntParam("p", 16, 512, log=True, interval=True)),
    ("int(tag(log,interval(16,512)))", IntParam("p", 16, 512, log=True, interval=True)),
]


@pytest.mark.parametrize(("expr", "expected"), PARSED, ids=[e for e, _ in PARSED])
def test_parse_every_form(expr: str, expected: object) -> None:
    assert parse_param("p", expr) == expected


def test_choice_keeps_python_types() -> None:
    p = parse_param("p", "choice(1,1.5,true,'x',mlp)")
    assert [type(c) for c in p.choices] == [int, float, bool, str, str]


@pytest.mark.parametrize("expr", ["range(1,5)", "range(0,10,3)", "range(10,0,-2)", "range(0.1,1.0,0.1)",
                                  "range(0.0,1.0,0.25)", "range(0,1,0.3)"])
def test_range_excludes_stop_and_matches_hydra(expr: str) -> None:
    hydra_values = list(OverridesParser.create().parse_override(f"p={expr}").sweep_iterator())
    ours = parse_param("p", expr).values()
    assert len(ours) == len(hydra_values)
    assert ours == pytest.approx(sorted(hydra_values))


@pytest.mark.parametrize(("expr", "expected"), [("3", 3), ("0.5", 0.5), ("'3'", "3"), ("adam", "adam"),
                                                ("[1,2]", [1, 2]), ("null", None), ("", "")])
def test_plain_values_are_fixed(expr: str, expected: object) -> None:
    assert parse_param("p", expr) == expected


def test_non_string_passes_through_and_from_grammar_splits_fixed() -> None:
    assert parse_param("p", 0.25) == 0.25
    space = SearchSpace.from_grammar({"lr": "interval(0,1)", "epochs": "5", "model": "mlp,cnn", "bs": 32})
    assert space.names == ["lr", "model"]
    assert space.fixed == {"epochs": 5, "bs": 32}


ERRORS = [
    ("choice()", "empty choice"),
    ("interval(2,1)", r"low=2.0 must be < high=1.0"),
    ("interval(1,1)", r"low=1.0 must be < high=1.0"),
    ("int(interval(5,5))", r"low=5 must be < high=5"),
    ("tag(log,interval(0,1))", r"log scale needs bounds > 0"),
    ("tag(log,int(interval(-4,4)))", r"log scale needs bounds > 0"),
    ("interval(0,1", r"cannot parse"),
    ("foo(1)", r"cannot parse.*Unknown function 'foo'"),
    ("x,", r"cannot parse"),
    ("tag(foo,interval(0,1))", r"unknown tags \['foo'\]"),
    ("tag(log,choice(1,2))", r"unknown tags \['log'\]"),
    ("tag(log,range(1,5))", r"unknown tags \['log'\]"),
    ("range(1,1)", r"range\(1, 1, 1\) is empty"),
    ("range(1,5,0)", r"step 0"),
    ("choice([1,2],3)", r"choice values must be scalars"),
]


@pytest.mark.parametrize(("expr", "match"), ERRORS, ids=[e for e, _ in ERRORS])
def test_errors_name_the_parameter_and_the_problem(expr: str, match: str) -> None:
    with pytest.raises(ValueError, match=rf"parameter 'model\.lr'.*{match}"):
        parse_param("model.lr", expr)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: CategoricalParam("opt", ()), r"parameter 'opt': choice\(\) is empty"),
    (lambda: CategoricalParam("opt", ("a", "a")), r"parameter 'opt'.*duplicates"),
    (lambda: FloatParam("lr", 1.0, 0.1), r"parameter 'lr': interval low=1.0 must be < high=0.1"),
    (lambda: FloatParam("lr", -1.0, 1.0, log=True), r"parameter 'lr': log scale needs bounds > 0"),
    (lambda: FloatParam("lr", 0.0, float("inf")), r"parameter 'lr'.*must be finite"),
    (lambda: FloatParam("lr", 0.1, 1.0, log=True, step=0.1), r"parameter 'lr': log scale cannot"),
    (lambda: FloatParam("lr", 0.0, 1.0, step=0.0), r"parameter 'lr': step=0.0 must be > 0"),
    (lambda: IntParam("n", 1.5, 4), r"parameter 'n': low=1.5 must be an integer"),
    (lambda: IntParam("n", 1, 4, step=0), r"parameter 'n': step=0 must be an integer >= 1"),
    (lambda: IntParam("n", 1, 9, log=True, step=2), r"parameter 'n': log scale needs step=1"),
])
def test_direct_construction_errors(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("expr", [e for e, p in PARSED] + ["1,null", "choice('a b',\"c'd\")"])
def test_format_param_round_trips(expr: str) -> None:
    p = parse_param("p", expr)
    assert parse_param("p", format_param(p)) == p


@pytest.mark.parametrize("value", ["plain", "a b", "c'd", "a\\b", "a\\", "a\\'b", "x=y", "a,b", "", "1abc",
                                   "null", "True", "inf", "NaN", "a@b/c.d:e-f+g", "3", 3, 2.5, 1e-05, True,
                                   False, None, 10**30])
def test_format_value_round_trips(value: object) -> None:
    text = format_value(value)
    forms = [f"{text},zzz"] + ([f"choice({text},zzz)"] if value is not None else [])  # choice() refuses null
    for expr in forms:
        parsed = parse_param("p", expr).choices[0]
        assert parsed == value and type(parsed) is type(value), expr


def test_space_to_grammar_round_trips() -> None:
    grammar = {"lr": "tag(log,interval(1e-05,1.0))", "hidden": "tag(log,int(interval(16,512)))",
               "layers": "range(1,5,1)", "opt": "sgd,adam", "epochs": "5", "tag": "'a b'"}
    space = SearchSpace.from_grammar(grammar)
    assert space.to_grammar() == grammar
    assert SearchSpace.from_grammar(space.to_grammar()) == space
