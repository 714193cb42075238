"""The decision scale: the per-class factor ``weights ** alpha`` picked on the validation fold.

A small class-weighted booster on synthetic imbalanced rows (SELL and BUY rare, as advisors'
decisions are) stands in for a trained model, so each test runs in well under a second."""

from __future__ import annotations

import json

import numpy as np
import xgboost as xgb

from rebalancer.model._decisions import ACTIONS
from rebalancer.model._metrics import classification_report
from rebalancer.model._train import DECISION_ALPHAS, class_weights, decision_scale
from rebalancer.model.serving import ATTR_CLASSES, ATTR_PRIOR, score


def _rows(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Two features; the class (0 SELL, 1 HOLD, 2 BUY) follows the first one, blurred by
    ``noise``: about 6% SELL and 10% BUY."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    signal = x[:, 0] + noise * rng.normal(size=n)
    y = np.where(signal < -1.55, 0, np.where(signal > 1.3, 2, 1))
    return x, y


def _booster(x: np.ndarray, y: np.ndarray) -> tuple[xgb.Booster, np.ndarray]:
    """Class-weighted and prior-corrected as :func:`rebalancer.model._train.fit` does."""
    weights = class_weights(y)
    params = {
        "objective": "multi:softprob",
        "num_class": 3,
        "max_depth": 3,
        "seed": 7,
        "nthread": 1,
    }
    booster = xgb.train(params, xgb.DMatrix(x, label=y, weight=weights[y]), num_boost_round=30)
    booster.set_attr(
        **{
            ATTR_CLASSES: json.dumps(list(ACTIONS)),
            ATTR_PRIOR: json.dumps((1.0 / weights).tolist()),
        }
    )
    return booster, weights


def _f1_by_alpha(
    booster: xgb.Booster, x: np.ndarray, y: np.ndarray, weights: np.ndarray
) -> list[float]:
    proba = np.asarray(score(x, booster, contributions=False)["probabilities"])
    return [
        classification_report(y, (proba * weights**a).argmax(axis=1))["macro_f1"]
        for a in DECISION_ALPHAS
    ]


def test_the_best_validation_alpha_is_chosen_whatever_the_row_order() -> None:
    x, y = _rows(6_000, seed=1, noise=0.6)
    booster, weights = _booster(x, y)
    xv, yv = _rows(3_000, seed=2, noise=0.6)
    f1 = _f1_by_alpha(booster, xv, yv, weights)
    alpha = DECISION_ALPHAS[int(np.argmax(f1))]
    assert alpha > 0 and max(f1) > f1[0]  # the rare classes need the push: the case matters
    expected = weights**alpha / (weights**alpha).max()

    scale = decision_scale(booster, xv, yv, weights)
    np.testing.assert_allclose(scale, expected)
    order = np.random.default_rng(3).permutation(len(yv))
    np.testing.assert_allclose(decision_scale(booster, xv[order], yv[order], weights), scale)


def test_a_tie_keeps_the_calibrated_argmax_and_no_rows_mean_no_scale() -> None:
    x, y = _rows(4_000, seed=4, noise=0.0)  # separable: several alphas share the best score
    booster, weights = _booster(x, y)
    xv, yv = _rows(2_000, seed=5, noise=0.0)
    f1 = np.asarray(_f1_by_alpha(booster, xv, yv, weights))
    assert f1[0] == f1.max() and (f1 == f1.max()).sum() > 1
    np.testing.assert_array_equal(decision_scale(booster, xv, yv, weights), np.ones(3))
    empty = decision_scale(booster, xv[:0], yv[:0], weights)
    np.testing.assert_array_equal(empty, np.ones(3))
