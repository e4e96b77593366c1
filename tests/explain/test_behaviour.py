"""The test-split scores of a classifier and a regressor, against sklearn and against cases worked by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from pipeline.explain.behaviour import classification_report, probabilities, regression_report


def binary(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-class probabilities predicting class 0 with ``confidence (n,)`` (>= 0.5), and the true classes: 0 where
    ``correct``, else 1."""
    proba = np.column_stack([confidence, 1 - confidence])
    return np.where(correct, 0, 1), proba


def test_ece_of_a_worked_example():
    # 15 bins of width 1/15: 0.6 falls in (8/15, 9/15], 0.95 in (14/15, 1]
    conf = np.array([0.6] * 4 + [0.95] * 6)
    correct = np.array([1, 1, 1, 0] + [1, 1, 1, 0, 0, 0], dtype=bool)
    report = classification_report(*binary(conf, correct))
    # bin 9: 4 samples, confidence 0.6, accuracy 0.75; bin 15: 6 samples, confidence 0.95, accuracy 0.5
    assert report.ece == pytest.approx(0.4 * 0.15 + 0.6 * 0.45)
    assert [(b.count, b.confidence, b.accuracy) for b in report.reliability] == [
        (4, pytest.approx(0.6), 0.75), (6, pytest.approx(0.95), 0.5)]
    assert report.reliability[0].lower == pytest.approx(8 / 15) and report.reliability[1].upper == 1.0
    assert report.accuracy == 0.6


def test_ece_is_near_zero_when_calibrated_and_the_gap_when_over_confident():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 20000)
    calibrated = classification_report(*binary(conf, rng.uniform(size=conf.size) < conf))
    assert calibrated.ece < 0.02
    # confidence 0.9 everywhere, right 60% of the time: the gap is 0.3 in the one bin
    over = classification_report(*binary(np.full(1000, 0.9), np.arange(1000) % 5 < 3))
    assert over.ece == pytest.approx(0.3) and len(over.reliability) == 1


def test_scores_agree_with_sklearn_and_with_a_worked_case():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    proba = probabilities(rng.normal(size=(300, 4)) + 2 * np.eye(4)[y])
    pred = proba.argmax(1)
    report = classification_report(y, proba, labels=["a", "b", "c", "d"])
    assert np.array_equal(report.confusion, confusion_matrix(y, pred))
    p, r, f, s = precision_recall_fscore_support(y, pred, zero_division=0)
    assert np.allclose(report.precision, p) and np.allclose(report.recall, r) and np.allclose(report.f1, f)
    assert np.array_equal(report.support, s) and report.macro_f1 == pytest.approx(f.mean())

    # by hand: true 0 0 0 1 1 2, predicted 0 0 1 1 2 2; class 3 never occurs nor is predicted
    y = np.array([0, 0, 0, 1, 1, 2])
    proba = np.eye(4)[[0, 0, 1, 1, 2, 2]] * 0.7 + 0.075
    report = classification_report(y, proba)
    assert report.confusion.tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert np.allclose(report.precision, [1, 0.5, 0.5, 0]) and np.allclose(report.recall, [2 / 3, 0.5, 1, 0])
    assert report.support.tolist() == [3, 2, 1, 0] and report.labels == ("0", "1", "2", "3")
    assert report.per_class_rows()[0] == {"class": "0", "precision": 1.0, "recall": pytest.approx(2 / 3),
                                          "f1": pytest.approx(0.8), "support": 3}


def test_confused_pairs_most_counts_first_and_their_most_confident_mistakes():
    #            0    1    2    3    4    5    6    7    8
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 0])
    pred = np.array([1, 1, 2, 0, 0, 1, 1, 1, 0])
    conf = np.array([0.6, 0.9, 0.8, 0.55, 0.7, 0.52, 0.95, 0.65, 0.9])
    proba = np.full((9, 3), 0.0)
    proba[np.arange(9), pred] = conf
    proba[np.arange(9), (pred + 1) % 3] = 1 - conf
    report = classification_report(y, proba, labels=["cat", "dog", "fox"], top_pairs=3, examples=2)
    # (2 -> 1) three times; (0 -> 1) and (1 -> 0) twice each, in row-major order; (0 -> 2) once, cut by top_pairs
    assert [(p.true, p.predicted, p.count) for p in report.pairs] == [(2, 1, 3), (0, 1, 2), (1, 0, 2)]
    assert [p.indices for p in report.pairs] == [(6, 7), (1, 0), (4, 3)]
    assert report.pairs[0].confidence == (0.95, 0.65)
    out = report.as_json()
    json.dumps(out, allow_nan=False)
    assert out["pairs"][0] == {"true": "fox", "predicted": "dog", "true_index": 2, "predicted_index": 1, "count": 3,
                               "indices": [6, 7], "confidence": [0.95, 0.65]}
    assert out["confusion"] == report.confusion.tolist() and out["per_class"][0]["class"] == "cat"


def test_perfect_predictions_have_no_confused_pair():
    report = classification_report(np.array([0, 1, 1]), np.eye(2)[[0, 1, 1]])
    assert report.pairs == () and report.accuracy == 1.0 and report.ece == 0.0


@pytest.mark.parametrize(("y", "proba", "message"), [
    (np.zeros(3, int), np.full((4, 2), 0.5), r"y_true of shape \(3,\) and proba of shape \(4, 2\)"),
    (np.zeros(3, int), np.full(3, 0.5), r"proba of shape \(3,\)"),
    (np.array([0, 2, 1]), np.full((3, 2), 0.5), "classes from 0 to 2"),
    (np.array([0, 1, 1]), np.array([[2.0, -1.0], [0.3, 0.3], [1, 0]]), "pass probabilities"),
    (np.array([0.0, 0.5, 1.0]), np.full((3, 2), 0.5), "non-integer"),
])
def test_bad_inputs_are_named(y, proba, message):
    with pytest.raises(ValueError, match=message):
        classification_report(y, proba)


def test_label_count_and_bins_are_checked():
    with pytest.raises(ValueError, match="3 labels given for proba of shape"):
        classification_report(np.array([0, 1]), np.eye(2), labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="n_bins=0"):
        classification_report(np.array([0, 1]), np.eye(2), n_bins=0)


def test_softmax_is_stable_and_normalised():
    p = probabilities(np.array([[1000.0, 1000.0, 0.0], [-1000.0, 0.0, 1.0]]))
    assert np.isfinite(p).all() and np.allclose(p.sum(1), 1)
    assert np.allclose(p[0], [0.5, 0.5, 0]) and np.allclose(p[1, 1:], [1 / (1 + np.e), np.e / (1 + np.e)])


def test_regression_residuals_and_scores():
    from sklearn.metrics import r2_score

    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.5, 2.0, 2.0, 4.5])
    report = regression_report(y[:, None], pred)  # (n, 1) read as (n,)
    assert report.residuals.tolist() == [-0.5, 0.0, 1.0, -0.5]  # true - predicted
    assert report.mae == pytest.approx(0.5) and report.rmse == pytest.approx(np.sqrt(1.5 / 4))
    assert report.r2 == pytest.approx(r2_score(y, pred))
    assert report.rows()[2] == {"index": 2, "true": 3.0, "predicted": 2.0, "residual": 1.0}
    json.dumps(report.as_json(), allow_nan=False)

    two = regression_report(np.column_stack([y, 10 * y]), np.column_stack([pred, 10 * y]))
    assert [o["mae"] for o in two.per_output] == [pytest.approx(0.5), 0.0]
    assert two.mae == pytest.approx(0.25) and two.rows()[1] == {"index": 0, "output": 1, "true": 10.0,
                                                                "predicted": 10.0, "residual": 0.0}
    one = regression_report(np.array([1.0]), np.array([2.0]))
    assert np.isnan(one.r2) and one.as_json()["r2"] is None
    with pytest.raises(ValueError, match=r"y_true of shape \(4,\) and y_pred of shape \(3,\)"):
        regression_report(y, pred[:3])
