"""The learned trigger: walk-forward splits without leakage, labels from the real engine,
determinism, and the trigger run through the same engine as the rules.

Small on purpose: three real stocks over two and a half years, short label windows, few probes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from rebalancer.backtest import (
    Backtest,
    BaseTrigger,
    LearnedTrigger,
    Never,
    best_rule,
    make_trigger,
    metrics,
    training_set,
    walk_forward_splits,
)
from rebalancer.backtest._base import TO_TARGET, BoolArray, Window
from rebalancer.backtest._learned import (
    LOOKBACK,
    _Constant,
    _ProbeRun,
    fit_model,
    price_context,
)
from rebalancer.errors import ConfigError
from rebalancer.market import history_closes

WEIGHTS = {"AAPL": 0.4, "KO": 0.3, "XOM": 0.3}
START = "2006-07-03"  # the first test day
SMALL: dict[str, Any] = {"horizon": 10, "embargo": 5, "refit": 63, "stride": 7, "min_train": 120}


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return history_closes()[list(WEIGHTS)].loc["2005-07-01":"2007-06-29"]


@pytest.fixture(scope="module")
def fitted(closes: pd.DataFrame) -> LearnedTrigger:
    return LearnedTrigger(**SMALL).fit(closes, WEIGHTS, START)


@pytest.mark.parametrize(
    ("n", "test_start", "refit", "horizon", "embargo"),
    [(500, 250, 63, 10, 5), (800, 400, 100, 63, 21), (300, 200, 1, 5, 0), (1000, 700, 299, 1, 3)],
)
def test_splits_are_train_purge_embargo_test_in_order(
    n: int, test_start: int, refit: int, horizon: int, embargo: int
) -> None:
    splits = walk_forward_splits(
        n, test_start=test_start, refit=refit, horizon=horizon, embargo=embargo, min_train=10
    )
    tested = np.concatenate([s.test for s in splits])
    assert list(tested) == list(range(test_start, n))  # every later day tested once, in order
    for before, split in zip([None, *splits[:-1]], splits, strict=True):
        first_test = int(split.test[0])
        assert split.train[0] == LOOKBACK
        assert list(split.train) == list(range(LOOKBACK, int(split.train[-1]) + 1))
        # No label window [t, t + horizon] reaches the embargo before the test block ...
        assert split.train[-1] + horizon < first_test - embargo
        # ... and the purge is no longer than it must be (the day after would reach it).
        assert split.train[-1] + 1 + horizon >= first_test - embargo
        if before is not None:  # walk forward: training grows, never reaches back into test
            assert split.train.size >= before.train.size
            assert before.test[-1] < first_test


def test_training_labels_read_no_price_of_the_test_period(
    closes: pd.DataFrame, fitted: LearnedTrigger
) -> None:
    """Scrambling every price from the embargo on leaves the first fold's training samples,
    its model and the in-sample rule ranking exactly as they were."""
    split = fitted.splits_[0]
    cut = int(split.test[0]) - SMALL["embargo"]
    rng = np.random.default_rng(0)
    scrambled = closes.copy()
    scrambled.iloc[cut:] *= rng.uniform(0.5, 1.5, size=scrambled.iloc[cut:].shape)
    kw = {"horizon": SMALL["horizon"], "stride": SMALL["stride"]}
    until = int(split.train[-1]) + 1
    a = training_set(closes, WEIGHTS, until=until, **kw).rows(split.train)
    b = training_set(scrambled, WEIGHTS, until=until, **kw).rows(split.train)
    assert a.y.size > 50 and 0 < a.y.mean() < 1
    assert np.array_equal(a.day, b.day) and np.array_equal(a.y, b.y)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.gain, b.gain)
    assert (a.day + SMALL["horizon"] < cut).all()
    rule, scores = best_rule(scrambled.iloc[:until], WEIGHTS)
    assert scores == fitted.rule_scores_  # the best rule is picked in sample only
    assert rule.label == fitted.best_rule_.label
    assert np.array_equal(fit_model(b).predict_proba(a.x), fitted.models_[0].predict_proba(a.x))
    # The scrambled prices do change what later folds learn: the test above can fail.
    later = fitted.splits_[-1].train
    c = training_set(closes, WEIGHTS, **kw).rows(later)
    d = training_set(scrambled, WEIGHTS, **kw).rows(later)
    assert not np.array_equal(c.gain, d.gain)


def test_a_seed_makes_the_trigger_deterministic(
    closes: pd.DataFrame, fitted: LearnedTrigger
) -> None:
    again = LearnedTrigger(**SMALL).fit(closes, WEIGHTS, START, pick_rule=False)
    test = closes.loc[START:]
    a = Backtest(fitted, WEIGHTS).fit(test).result_
    b = Backtest(again, WEIGHTS).fit(test).result_
    assert np.array_equal(a.equity, b.equity)
    assert np.array_equal(fitted.proba_, again.proba_, equal_nan=True)
    assert len(fitted.models_) == len(fitted.splits_) == 4


def test_it_trades_only_on_days_it_said_now(closes: pd.DataFrame, fitted: LearnedTrigger) -> None:
    test = closes.loc[START:]
    result = Backtest(fitted, WEIGHTS, fractional=True).fit(test).result_
    proba = fitted.proba_
    assert not np.isnan(proba[1:]).any()  # asked every day after the first
    said_now = set(test.index[1:][proba[1:] > fitted.threshold])
    traded = set(result.rebalances["date"].iloc[1:])  # day 0 invests the cash
    assert traded, "the fitted trigger never fired: the check below would be vacuous"
    assert traded <= said_now
    # Fractional shares and a zero band: every "now" finds drift to trade.
    assert len(traded) >= 0.9 * len(said_now)
    m = metrics(result)
    assert m["rebalances"] == len(traded)
    assert m["final_value"] == result.equity[-1]


def test_a_trigger_that_always_waits_is_buy_and_hold(
    closes: pd.DataFrame, fitted: LearnedTrigger
) -> None:
    test = closes.loc[START:]
    models = fitted.models_
    try:
        fitted.models_ = [_Constant(0.0) for _ in models]
        learned = Backtest(fitted, WEIGHTS).fit(test).result_
    finally:
        fitted.models_ = models
    never = Backtest(Never(), WEIGHTS).fit(test).result_
    assert np.array_equal(learned.equity, never.equity)
    assert metrics(learned)["rebalances"] == 0


class _FireOn(BaseTrigger):
    """Monthly, plus the given days (the counterfactual "now")."""

    name = "fire_on"

    def __init__(self, days: list[int]) -> None:
        self.days = days

    def prepare(
        self, dates: npt.NDArray[np.datetime64], closes: npt.NDArray[np.float64], target: Any
    ) -> None:
        super().prepare(dates, closes, target)
        from rebalancer.backtest import period_starts

        self.due_ = period_starts(dates, "monthly")
        self.due_[self.days] = True

    def mask(self, window: Window) -> BoolArray:
        return self.due_[window.index]

    def policy_options(self) -> dict[str, Any]:
        return dict(TO_TARGET)


@pytest.mark.parametrize("account_type", ["ira", "taxable"])
def test_labels_are_the_engine_run_with_and_without_the_trade(
    closes: pd.DataFrame, account_type: str
) -> None:
    """A probe's gain is what two real backtests give: the monthly path with and without an
    extra rebalance on the probe day, held to the window's end (batched rows == one account)."""
    frame = closes.iloc[:200]
    horizon, days = 15, np.array([90, 111, 130, 150], dtype=np.int64)
    spec = Backtest(make_trigger("monthly"), WEIGHTS, account_type=account_type)
    run = _ProbeRun(spec, frame)
    run.run()
    ctx = price_context(frame.to_numpy(float), np.array(list(WEIGHTS.values())))
    _, y, gain, kept = run.probe(days, horizon, ctx)
    assert list(kept) == list(days) and np.abs(gain).max() > 0
    for t, g in zip(days, gain, strict=True):
        window = frame.iloc[: t + horizon + 1]
        # Monthly fires between t and t + horizon would spoil "hold": pick t's without one.
        wait = Backtest(_FireOn([]), WEIGHTS, account_type=account_type).fit(window).result_
        assert not (wait.rebalances["date"] > frame.index[t]).any()
        now = Backtest(_FireOn([int(t)]), WEIGHTS, account_type=account_type).fit(window).result_
        assert now.rebalances["date"].iloc[-1] == frame.index[t]
        if account_type == "ira":
            expected = (now.equity[-1] - wait.equity[-1]) / wait.equity[t]
            assert g == pytest.approx(expected, rel=1e-9, abs=1e-12)
        else:  # one account through the backtest's own engine call, settled as it settles
            k = int(np.searchsorted(run.snap_day, t)) - 1
            run._restore(run.snaps[k])
            value = float(run.px[t] @ run.qty) + run.cash
            held = run._after_tax(int(t) + horizon)
            trades = run._engine_arrays(int(t))
            assert trades is not None
            realized = float(trades["est_tax"].sum())
            assert realized == pytest.approx(float(now.rebalances["est_tax"].iloc[-1]))
            expected = (run._after_tax(int(t) + horizon) - realized - held) / value
            assert g == pytest.approx(expected, rel=1e-9, abs=1e-12)
            assert value / spec.initial_value == pytest.approx(wait.equity[t], rel=1e-12)
    assert list(y) == [int(g > 0) for g in gain]


def test_bad_arguments_are_one_line(closes: pd.DataFrame, fitted: LearnedTrigger) -> None:
    cases: list[tuple[Any, str]] = [
        (lambda: make_trigger("learned:often"), "must be a number"),
        (lambda: make_trigger("learned:1.5"), "between 0 and 1"),
        (lambda: Backtest(LearnedTrigger(), WEIGHTS).fit(closes), "must be fitted"),
        (lambda: Backtest(fitted, WEIGHTS).fit(closes.loc["2006-01":]), "fitted for runs from"),
        (
            lambda: Backtest(fitted, {"AAPL": 0.5, "KO": 0.25, "XOM": 0.25}).fit(
                closes.loc[START:]
            ),
            "another target",
        ),
        (lambda: LearnedTrigger(**SMALL).fit(closes, WEIGHTS, "2005-09-01"), "needs 198 trading"),
        (
            lambda: walk_forward_splits(
                100, test_start=100, refit=5, horizon=5, embargo=1, min_train=5
            ),
            "must start inside",
        ),
    ]
    for call, message in cases:
        with pytest.raises(ConfigError, match=message) as info:
            call()
        assert "\n" not in str(info.value)
