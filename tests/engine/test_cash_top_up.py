"""The cash top-up: whole-share rounding never leaves a coverable cash shortfall."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.engine import Policy, recommend_book
from rebalancer.engine._cash import cash_after_sales, top_up_cash
from tests.engine.books import AS_OF, SECURITIES, account, book, holdings

POLICY = Policy(fee_per_trade=0.0, spread_bps=5.0)


def _run(sell, price, sellable, cash0, *, fractional=False, floor=0.0, policy=POLICY):  # type: ignore[no-untyped-def]
    sell = np.array([sell], dtype=float)
    price = np.array([price], dtype=float)
    sellable = np.array([sellable], dtype=float)
    cash = np.array([cash0], dtype=float)
    out = top_up_cash(
        sell, price=price, sellable_q=sellable, fractional=np.full(sell.shape, fractional),
        cash0=cash, floor=np.array([floor]), cash_short=cash < floor, policy=policy,
    )  # fmt: skip
    return out[0], cash_after_sales(out, price, cash, policy)[0]


def test_rounded_down_withdrawal_sale_is_topped_up_by_one_share() -> None:
    # -194.16 of cash; 4 VEA at 41.40 were sold (rounded down from 4.69): one more covers it.
    sells, cash = _run([4.0, 0.0], [41.40, 500.0], [53.0, 1.0], -194.16)
    assert sells.tolist() == [5.0, 0.0]
    assert 0 <= cash < 41.40


def test_picks_the_position_that_overshoots_least() -> None:
    # 30 short: one 35 share (overshoot ~5) beats one 100 share (overshoot ~70).
    sells, cash = _run([0.0, 0.0], [100.0, 35.0], [10.0, 10.0], -30.0)
    assert sells.tolist() == [0.0, 1.0]
    assert cash == pytest.approx(35 * (1 - 5e-4) - 30)


def test_sells_several_positions_when_none_covers_alone() -> None:
    sells, cash = _run([0.0, 0.0], [100.0, 100.0], [2.0, 2.0], -350.0)
    assert sells.tolist() == [2.0, 2.0]
    assert cash == pytest.approx(400 * (1 - 5e-4) - 350)


def test_fractional_account_sells_exactly_enough() -> None:
    sells, cash = _run([0.0], [200.0], [3.0], -50.0, fractional=True)
    assert cash == pytest.approx(0.0, abs=1e-6)
    assert sells[0] == pytest.approx(50 / (200 * (1 - 5e-4)))


def test_account_not_short_is_untouched() -> None:
    sells, _ = _run([1.0, 0.0], [10.0, 10.0], [5.0, 5.0], 100.0)
    assert sells.tolist() == [1.0, 0.0]


def test_uncoverable_shortfall_sells_everything_and_stays_short() -> None:
    sells, cash = _run([0.0], [10.0], [3.0], -1_000.0)
    assert sells.tolist() == [3.0]
    assert cash < 0


@settings(max_examples=500, deadline=None)
@given(
    prices=st.lists(st.floats(1.0, 5_000.0), min_size=1, max_size=6),
    held=st.lists(st.integers(0, 200), min_size=6, max_size=6),
    cash0=st.floats(-50_000.0, 0.0),
    fee=st.sampled_from([0.0, 1.0]),
)
def test_never_short_when_holdings_cover(prices, held, cash0, fee) -> None:  # type: ignore[no-untyped-def]
    k = len(prices)
    price = np.array(prices)
    sellable = np.array(held[:k], dtype=float)
    policy = Policy(fee_per_trade=fee, spread_bps=5.0)
    sells, cash = _run([0.0] * k, price, sellable, cash0, policy=policy)
    assert (sells <= sellable + 1e-9).all() and (sells >= 0).all()
    assert (sells == np.round(sells)).all()
    coverable = (sellable * price * (1 - 5e-4)).sum() - fee * (sellable > 0).sum() + cash0 >= 1e-6
    if coverable:
        assert cash >= -1e-6


@pytest.mark.parametrize(
    ("cash", "flow", "prices"),
    [
        (2_419.03, -2_519.01, {"VTI": 290.87, "BND": 224.90}),  # from a 100k-account audit
        (50.0, -60.0, {"VTI": 310.0, "BND": 225.0}),
    ],
)
def test_a_top_up_sale_is_reported_as_a_forced_withdrawal(
    cash: float, flow: float, prices: dict[str, float]
) -> None:
    # An account on target, a withdrawal a little larger than its cash: the only sale is the
    # top-up share. Its reason must say why (the audit exempts FORCED sales from the drift
    # rule, as the engine does): it used to be empty.
    acc = pd.DataFrame([account("W", cash=cash, pending_cash_flow=flow)])
    tables = book(acc, holdings("W", VTI=120, BND=80), securities=SECURITIES)
    rec = recommend_book(tables, prices, as_of=AS_OF)
    sells = rec.trades[rec.trades["side"] == "SELL"]
    assert len(sells) == 1 and sells["quantity"].iloc[0] == 1.0
    assert sells["reason"].iloc[0] == "WITHDRAWAL+FORCED"
    assert rec.accounts["cash_after"].iloc[0] >= 0
