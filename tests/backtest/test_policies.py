"""Each policy on hand-built price paths with answers worked out on paper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.backtest import (
    POLICIES,
    Backtest,
    BacktestResult,
    Calendar,
    CalendarThreshold,
    Daryanani,
    FiveTwentyFive,
    Never,
    Threshold,
    Vanguard,
    make_trigger,
    metrics,
)
from rebalancer.backtest._base import BaseTrigger
from rebalancer.errors import ConfigError, MarketDataError
from tests.backtest.paths import diverging, ramp

HALF = {"A": 0.5, "B": 0.5}


def run(
    trigger: BaseTrigger,
    closes: pd.DataFrame,
    weights: dict[str, float] = HALF,
    *,
    cost_bps: float = 0.0,
    account_type: str = "ira",
    fractional: bool = True,
    mode: str = "arrays",
) -> BacktestResult:
    bt = Backtest(trigger, weights, cost_bps=cost_bps, account_type=account_type,
                  fractional=fractional, mode=mode)  # type: ignore[arg-type]  # fmt: skip
    return bt.fit(closes).result_


def fire_days(result: BacktestResult) -> list[str]:
    """Rebalance dates after the day-0 investment."""
    return [d.strftime("%Y-%m-%d") for d in result.rebalances["date"].iloc[1:]]


def test_never_is_buy_and_hold() -> None:
    closes = diverging("2020-01-02", "2020-06-30")
    result = run(Never(), closes)
    rel = closes / closes.iloc[0]
    np.testing.assert_allclose(result.equity, 0.5 * rel["A"] + 0.5 * rel["B"], rtol=1e-12)
    m = metrics(result)
    assert m["rebalances"] == 0 and m["turnover"] == 0.0
    assert m["final_value"] == pytest.approx(0.5 * rel["A"].iloc[-1] + 0.5 * rel["B"].iloc[-1])


@pytest.mark.parametrize(("period", "count"), [("monthly", 23), ("quarterly", 7), ("annual", 1)])
def test_calendar_rebalances_on_each_periods_first_trading_day(period: str, count: int) -> None:
    result = run(Calendar(period), diverging("2020-01-02", "2021-12-31"), cost_bps=5.0)
    assert metrics(result)["rebalances"] == count
    days = pd.DatetimeIndex(result.rebalances["date"])
    bdays = pd.bdate_range("2020-01-02", "2021-12-31")
    step = {"monthly": "MS", "quarterly": "QS", "annual": "YS"}[period]
    starts = [bdays[bdays >= s][0] for s in pd.date_range("2020-01-01", "2021-12-31", freq=step)]
    assert list(days) == starts  # the day-0 investment is the first period's start
    # and each sends the account back to target (the engine's all-the-way mode)
    assert (result.drift[result.dates.isin(days)] < 1e-3).all()


def test_monthly_is_twelve_a_year() -> None:
    result = run(Calendar("monthly"), diverging("2020-01-02", "2020-12-31"))
    assert len(result.rebalances) == 12  # 11 rebalances + the January investment


def test_absolute_threshold_fires_on_the_known_day_and_trades_to_target() -> None:
    # B's weight b/(1+b) passes 0.55 when b > 11/9 = 1.2222: day 23 (b = 1.23), 2021-02-04.
    result = run(Threshold("absolute", 0.05), ramp(40))
    assert fire_days(result)[0] == "2021-02-04"
    trades = result.trades[result.trades["date"] == pd.Timestamp("2021-02-04")]
    qty = dict(
        zip(
            trades["symbol"],
            trades["quantity"] * np.where(trades["side"] == "BUY", 1, -1),
            strict=True,
        )
    )
    value = 500_000 + 5_000 * 123.0  # 1,115,000
    assert qty["A"] == pytest.approx(value / 2 / 100 - 5_000)  # +575 shares
    assert qty["B"] == pytest.approx(value / 2 / 123 - 5_000)  # -467.48 shares


def test_halfway_trim_has_known_quantities() -> None:
    # Halfway between the band edge (0.55) and target (0.50): B goes to 0.525 of 1,115,000.
    result = run(Threshold("absolute", 0.05, rebalance_to="halfway"), ramp(25))
    trades = result.trades[result.trades["date"] == pd.Timestamp("2021-02-04")]
    sold = float(trades.loc[trades["symbol"] == "B", "quantity"].iloc[0])
    assert 5_000 - sold == pytest.approx(0.525 * 1_115_000 / 123.0, rel=1e-12)
    bought = float(trades.loc[trades["symbol"] == "A", "quantity"].iloc[0])
    assert 5_000 + bought == pytest.approx(0.475 * 1_115_000 / 100.0, rel=1e-12)


def test_a_tax_realized_on_a_known_lot_and_the_rest_deferred() -> None:
    # The day-0 lot of B (5,000 @ 100) sells 467.48 shares @ 123 after 31 days: short term.
    closes = ramp(25)  # ends the day after the sale, B at 124
    result = run(Threshold("absolute", 0.05), closes, account_type="taxable")
    sold = 5_000 - 1_115_000 / 2 / 123.0
    gain = sold * (123.0 - 100.0)
    assert result.rebalances["realized_gain"].iloc[1] == pytest.approx(gain)
    assert result.taxes_paid == pytest.approx(0.35 * gain / 1e6)
    # left: B (5,000 - sold) @ 100 basis, marked at 124; A's lots at 100 carry no gain
    assert result.taxes_deferred == pytest.approx(0.35 * (5_000 - sold) * 24.0 / 1e6)
    m = metrics(result)
    assert m["after_tax_final_value"] == pytest.approx(
        m["final_value"] - result.taxes_paid - result.taxes_deferred
    )
    ira = run(Threshold("absolute", 0.05), closes, account_type="ira")
    assert ira.taxes_paid == ira.taxes_deferred == 0.0
    np.testing.assert_allclose(ira.equity, result.equity, rtol=1e-12)  # taxes paid from outside


def test_costs_reduce_value_by_exactly_bps_times_traded() -> None:
    closes = ramp(25)
    result = run(Threshold("absolute", 0.05), closes, cost_bps=10.0)
    held = run(Never(), closes, cost_bps=10.0)
    day0, fire = result.rebalances.iloc[0], result.rebalances.iloc[1]
    # day 0: 1,000,000 = invested + 10 bps of it
    assert day0["cost"] == pytest.approx(day0["turnover"] * 10e-4, rel=1e-12)
    assert result.equity[0] == pytest.approx(1.0 - day0["cost"] / 1e6, rel=1e-12)
    # the fire day: the same holdings as buy-and-hold until its close, less the trades' cost
    assert fire["cost"] == pytest.approx(fire["turnover"] * 10e-4, rel=1e-12)
    assert held.equity[23] - result.equity[23] == pytest.approx(fire["cost"] / 1e6, rel=1e-9)
    assert metrics(result)["costs"] == pytest.approx((day0["cost"] + fire["cost"]) / 1e6)


def test_five_twenty_five_takes_the_smaller_band() -> None:
    # 10/90: A's band is min(5 points, 25% of 10%) = 2.5 points. A (a = 1 + 0.01 t) passes
    # 12.5% when a > 1.2857: day 29. A 5-point band alone would wait for a > 1.588: day 59.
    closes = ramp(70).rename(columns={"A": "B", "B": "A"})[["A", "B"]]
    weights = {"A": 0.1, "B": 0.9}
    first = fire_days(run(FiveTwentyFive(), closes, weights))[0]
    assert first == closes.index[29].strftime("%Y-%m-%d")
    assert fire_days(run(make_trigger("relative:0.25"), closes, weights))[0] == first
    absolute = fire_days(run(make_trigger("absolute:0.05"), closes, weights))[0]
    assert absolute == closes.index[59].strftime("%Y-%m-%d")


def test_daryanani_waits_for_the_fortnightly_check() -> None:
    # 20% relative band on 50%: B passes 60% when b > 1.5, i.e. t = 48 (Thu 2021-03-11) at
    # 1.05% a day; checks fall every 14 days from Mon 2021-01-04, so the next is Mon 03-15.
    closes = ramp(60, step=0.0105)
    assert fire_days(run(Threshold("relative", 0.20), closes))[0] == "2021-03-11"
    result = run(Daryanani(0.20), closes)
    assert fire_days(result)[0] == "2021-03-15"
    # halfway: B to the middle of 0.60 and 0.50
    day = int(np.flatnonzero(result.dates == pd.Timestamp("2021-03-15"))[0])
    weights = result.trades[result.trades["date"] == pd.Timestamp("2021-03-15")]
    assert len(weights) == 2
    assert result.drift[day] == pytest.approx(0.05, abs=1e-9)


def test_calendar_threshold_checks_only_on_period_starts() -> None:
    # The 5-point band breaks on 2021-02-04; the next month's first trading day is 2021-03-01.
    result = run(CalendarThreshold("monthly", "absolute", 0.05), ramp(60))
    assert fire_days(result)[0] == "2021-03-01"
    assert "2021-02-01" not in fire_days(result)  # due, but inside the band then


def test_vanguard_trades_back_to_one_point_seventy_five() -> None:
    # Total drift of 50/50 is |w_B - 0.5|: over 2 points when b > 1.0833, day 9 (b = 1.09).
    result = run(Vanguard(), ramp(12))
    assert fire_days(result)[0] == ramp(12).index[9].strftime("%Y-%m-%d")
    assert result.drift[9] == pytest.approx(0.0175, abs=1e-9)
    assert result.drift[8] <= 0.02


def test_hybrid_band_has_a_two_point_floor() -> None:
    # 5/95: 20% of 5% is 1 point, so the 2-point floor rules: A fires above 7%, not 6%.
    closes = ramp(60).rename(columns={"A": "B", "B": "A"})[["A", "B"]]
    weights = {"A": 0.05, "B": 0.95}
    result = run(make_trigger("hybrid"), closes, weights)
    a = 1.0 + 0.01 * np.arange(60)
    w_a = 0.05 * a / (0.05 * a + 0.95)
    assert fire_days(result)[0] == closes.index[int(np.argmax(w_a > 0.07))].strftime("%Y-%m-%d")


def test_whole_shares_stay_whole_and_cash_never_negative() -> None:
    closes = diverging("2020-01-02", "2020-12-31")
    bt = Backtest(Calendar("monthly"), HALF, cost_bps=5.0, fractional=False, account_type="ira")
    result = bt.fit(closes).result_
    assert (result.trades["quantity"] == np.round(result.trades["quantity"])).all()
    assert len(result.rebalances) == 12
    assert (result.equity > 0).all()


@pytest.mark.parametrize("spec", ["monthly", "hybrid", "daryanani", "vanguard", "5/25"])
def test_fast_path_equals_the_production_tables_path(spec: str) -> None:
    """The arrays path settles trades as recommend_book + execute do (whole shares, lots,
    wash sales, taxes): identical trades and curves."""
    from rebalancer.market import history_closes

    closes = history_closes()[["AMD", "KO", "XOM"]].loc["2019-01-01":"2019-06-30"]
    weights = {"AMD": 0.4, "KO": 0.3, "XOM": 0.3}
    fast = run(make_trigger(spec), closes, weights, cost_bps=5.0, account_type="taxable",
               fractional=False)  # fmt: skip
    slow = run(make_trigger(spec), closes, weights, cost_bps=5.0, account_type="taxable",
               fractional=False, mode="tables")  # fmt: skip
    assert len(fast.rebalances) == len(slow.rebalances) >= 2
    np.testing.assert_allclose(fast.equity, slow.equity, rtol=1e-12)
    np.testing.assert_allclose(fast.trades["quantity"], slow.trades["quantity"], rtol=1e-12)
    assert fast.taxes_paid == pytest.approx(slow.taxes_paid, rel=1e-12)
    assert fast.taxes_deferred == pytest.approx(slow.taxes_deferred, rel=1e-12)


def test_metrics_by_hand() -> None:
    # A alone: 100 -> 120 -> 90 -> 99, never rebalanced, free: drawdown 25%, no drift.
    index = pd.bdate_range("2021-01-04", periods=4)
    closes = pd.DataFrame({"A": [100.0, 120.0, 90.0, 99.0]}, index=index)
    m = metrics(run(Never(), closes, {"A": 1.0}))
    assert m["final_value"] == pytest.approx(0.99)
    assert m["max_drawdown"] == pytest.approx(-0.25)
    assert m["avg_drift"] == pytest.approx(0.0)
    assert m["tracking_error"] == pytest.approx(0.0, abs=1e-12)
    returns = np.array([0.2, -0.25, 0.1])
    assert m["volatility"] == pytest.approx(returns.std(ddof=1) * np.sqrt(252))
    years = 3 / 365.25
    assert m["annual_return"] == pytest.approx(0.99 ** (1 / years) - 1)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "unknown policy 'nope'"),
        ("absolute:abc", "must be a number"),
        ("absolute:1.5", "between 0 and 1"),
        ("calendar:weekly", "monthly, quarterly or annual"),
    ],
)
def test_bad_policy_specs_are_one_line(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        make_trigger(spec)
    assert "\n" not in str(info.value)


def test_every_registered_policy_runs() -> None:
    closes = diverging("2020-01-02", "2020-03-31")
    for name in POLICIES:
        if name == "learned":  # trained on history first: tests/backtest/test_learned.py
            continue
        result = run(make_trigger(name), closes, cost_bps=5.0)
        assert np.isfinite(result.equity).all(), name
    assert make_trigger("absolute:5%").label == "threshold:absolute:0.05:target"


@pytest.mark.parametrize(
    ("weights", "closes", "error", "message"),
    [
        ({"A": 0.6, "B": 0.6}, ramp(5), ConfigError, "sum to 1"),
        ({"A": 1.2, "B": -0.2}, ramp(5), ConfigError, "non-negative"),
        ({"A": 0.5, "C": 0.5}, ramp(5), MarketDataError, "no prices for C"),
        (HALF, ramp(1), MarketDataError, "fewer than two days"),
        (HALF, ramp(5).assign(B=[1.0, np.nan, 1.0, 1.0, 1.0]), MarketDataError, "missing closes"),
    ],
)
def test_bad_inputs_are_one_line(
    weights: dict[str, float], closes: pd.DataFrame, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        Backtest(Never(), weights).fit(closes)
    assert "\n" not in str(info.value)
