"""Buy-only (``Policy.buy_only``): new money only, the most underweight sleeves first.

Hand-worked examples (the numbers are worked out in the comments), then hypothesis properties
over random books: no sale but forced ones, cash never negative, drift never up, a second run
finds nothing, and the batch, chunked and single-account paths agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.engine import (
    BookArrays,
    Policy,
    Recommendation,
    execute,
    rebalance,
    recommend_account,
    recommend_book,
)
from rebalancer.engine._arrays import FORCED, SHORTFALL
from rebalancer.engine._recommend import rebalance_batch
from tests.engine.books import AS_OF, SECURITIES, account, book, holdings, model, random_arrays
from tests.engine.test_batch_single import MODELS, SYMBOLS, _frames, account_rows
from tests.engine.test_properties import BLOCKED, POLICY_GRID, apply_trades, check_invariants

PRICES = {"VTI": 100.0, "BND": 100.0, "VXUS": 50.0, "AAPL": 333.33, "BTC-USD": 60_000.0}
M3 = model("M3", VTI=0.5, BND=0.3, VXUS=0.2)
BUY_ONLY = Policy(buy_only=True)  # default costs: 5 bps spread, no fee, $10 minimum trade


def run(
    acct: dict, held: pd.DataFrame, policy: Policy = BUY_ONLY, mdl: pd.DataFrame = M3, **kw: object
) -> Recommendation:
    tables = book(acct, held, mdl, securities=SECURITIES, **kw)
    return recommend_account(tables, PRICES, policy, account_id=acct["account_id"], as_of=AS_OF)


def trades(rec: Recommendation) -> dict[tuple[str, str], float]:
    return {(r.symbol, r.side): r.quantity for r in rec.trades.itertuples()}


def test_the_default_policy_is_not_buy_only() -> None:
    assert Policy().buy_only is False


def test_a_deposit_buys_the_underweights_and_sells_nothing() -> None:
    # $100,000 at 70/20/10 against 50/30/20, plus a $5,000 deposit: $105,000. Targets: VTI
    # $52,500 (overweight by $17,500), BND $31,500 (short $11,500), VXUS $21,000 (short
    # $11,000). The rebalancing default sells VTI; buy-only keeps it. The $5,000 (net of the
    # 5 bps spread: $4,997.50) first takes BND down to VXUS's deficit ($500), then both alike
    # ($2,248.75 each): BND $2,748.75 -> 27 shares, VXUS $2,248.75 -> 44 shares, and the
    # leftover $47.50 + $2.25 buys one more VXUS share (the most underweight that fits).
    acct, held = (
        account(model_id="M3", pending_cash_flow=5_000.0),
        holdings(VTI=700, BND=200, VXUS=200),
    )
    assert ("VTI", "SELL") in trades(run(acct, held, Policy()))
    rec = run(acct, held)
    assert trades(rec) == {("BND", "BUY"): 27.0, ("VXUS", "BUY"): 45.0}
    assert dict(zip(rec.trades["symbol"], rec.trades["reason"], strict=True)) == {
        "BND": "CASH_DEPLOY",
        "VXUS": "CASH_DEPLOY+LEFTOVER_FILL",
    }
    summary = rec.accounts.iloc[0]
    assert summary["status"] == "TRIGGERED"
    assert 0 <= summary["cash_after"] < 50.0
    assert summary["drift_after"] < summary["drift_before"]
    # Never past target.
    assert (rec.trades["post_weight"] <= rec.trades["target_weight"]).all()


@pytest.mark.parametrize("fractional", [True, False])
def test_the_most_underweight_sleeve_is_bought_first(fractional: bool) -> None:
    # $70k VTI, $20k BND, $15k VXUS plus $3,000: $108,000. BND is short $12,400, VXUS $6,600: the
    # $2,998.50 (net of spread) does not even close the gap between them, so all of it goes to
    # BND (pro rata would have given VXUS a third). Fractional: 29.985 units. Whole shares:
    # 29 BND; the $98.55 left buys no 30th BND share ($100.05) but one VXUS share.
    acct = account(model_id="M3", pending_cash_flow=3_000.0, fractional_shares=fractional)
    rec = run(acct, holdings(VTI=700, BND=200, VXUS=300))
    if fractional:
        assert trades(rec) == {("BND", "BUY"): pytest.approx(3_000 / 1.0005 / 100, abs=1e-9)}
    else:
        assert trades(rec) == {("BND", "BUY"): 29.0, ("VXUS", "BUY"): 1.0}
        assert rec.trades.set_index("symbol").loc["VXUS", "reason"] == "LEFTOVER_FILL"
    assert rec.accounts.loc[0, "cash_after"] >= 0


def test_a_withdrawal_still_sells_and_every_sale_is_forced() -> None:
    # A $5,000 withdrawal from an account with no cash: buy-only must still raise it. The
    # overweight VTI pays ($5,000 = 50 shares); the spread ($2.50) is topped up with the sale
    # that overshoots least (one $50 VXUS share). Every sale is flagged FORCED; nothing is bought.
    acct = account(model_id="M3", pending_cash_flow=-5_000.0)
    rec = run(acct, holdings(VTI=700, BND=200, VXUS=200))
    assert trades(rec) == {("VTI", "SELL"): 50.0, ("VXUS", "SELL"): 1.0}
    assert (rec.trades["side"] == "SELL").all()
    assert all("FORCED" in r and "WITHDRAWAL" in r for r in rec.trades["reason"])
    summary = rec.accounts.iloc[0]
    assert "CASH_SHORT" in summary["status"]
    assert 0 <= summary["cash_after"] < 50.0


def test_the_cash_reserve_is_raised_only_to_the_floor() -> None:
    # A 5% reserve on $100,000 with no cash: the floor is $5,000, raised from overweight VTI
    # (forced, CASH_RAISE); buy-only never raises cash further, to a model's cash target.
    policy = Policy(buy_only=True, cash_reserve=0.05)
    rec = run(account(model_id="M3"), holdings(VTI=700, BND=200, VXUS=200), policy)
    assert set(rec.trades["symbol"]) <= {"VTI", "VXUS"}
    assert (rec.trades["side"] == "SELL").all()
    assert all("FORCED" in r and "CASH_RAISE" in r for r in rec.trades["reason"])
    value_after = 100_000.0 - rec.trades["cost"].sum()
    assert 0.05 * value_after <= rec.accounts.loc[0, "cash_after"] < 5_000.0 + 100.0
    # Cash below a 10% model cash target but above a 2% reserve: the default raises it, buy-only
    # leaves it (no sale that is not forced).
    cash_model = model("MC", VTI=0.45, BND=0.27, VXUS=0.18, CASH=0.10)
    acct, held = account(model_id="MC", cash=6_000.0), holdings(VTI=700, BND=200, VXUS=80)
    assert ("VTI", "SELL") in trades(run(acct, held, Policy(cash_reserve=0.02), cash_model))
    rec = run(acct, held, Policy(buy_only=True, cash_reserve=0.02), cash_model)
    assert rec.trades.empty
    assert rec.accounts.loc[0, "status"] == ""


def test_new_money_inside_the_bands_is_still_deployed() -> None:
    # 60/40 on target plus a $1,500 deposit: cash is 1.5% of the account, inside its 2-point
    # band, so the rebalancing default does nothing; buy-only invests it (new money is put to
    # work whenever it pays for a trade): $1,500 over a $900 VTI and a $600 BND deficit.
    acct, held = account(pending_cash_flow=1_500.0), holdings(VTI=600, BND=400)
    assert run(acct, held, Policy(), model()).trades.empty
    rec = run(acct, held, mdl=model())
    assert trades(rec) == {("VTI", "BUY"): 8.0, ("BND", "BUY"): 6.0}
    assert (rec.trades["side"] == "BUY").all()


def test_leftover_cash_below_one_useful_trade_stays() -> None:
    # $40 of spare cash and no sleeve a share away from its target: nothing to do.
    rec = run(account(cash=40.0), holdings(VTI=600, BND=400), mdl=model())
    assert rec.trades.empty
    assert rec.accounts.loc[0, "status"] == ""


TX = pd.DataFrame(
    [{"transaction_id": "T1", "account_id": "X", "household_id": "H1", "symbol": "BND",
      "side": "SELL", "quantity": 10.0, "price": 110.0, "trade_date": "2024-12-20",
      "realized_gain": -100.0}]
)  # fmt: skip


def _restriction(kind: str) -> pd.DataFrame:
    return pd.DataFrame(
        [{"account_id": "A1", "symbol": "BND", "restriction": kind, "reason": None}]
    )


@pytest.mark.parametrize(
    "blocked",
    [
        {"restrictions": _restriction("restricted")},
        {"restrictions": _restriction("do_not_trade")},
        {"transactions": TX},  # the household sold BND at a loss 11 days ago: no buy
    ],
    ids=["restricted", "do_not_trade", "wash_sale"],
)
def test_blocked_symbols_are_not_bought(blocked: dict[str, pd.DataFrame]) -> None:
    # $113,000 with $8,000 cash: BND is the most underweight (short $13,900) but blocked, so
    # VXUS takes its whole deficit ($7,600 = 152 shares) and no more: the rest stays cash.
    acct = account(model_id="M3", cash=8_000.0)
    rec = run(acct, holdings(VTI=700, BND=200, VXUS=300), **blocked)
    assert trades(rec) == {("VXUS", "BUY"): 152.0}
    # At its target, less the spread paid out of the account ($3.80 of $113,000).
    assert rec.trades.loc[0, "post_weight"] == pytest.approx(0.2, abs=1e-4)


def test_calendar_triggers_still_pick_the_days() -> None:
    policy = Policy(buy_only=True, trigger="calendar", calendar_days=90)
    held = holdings(VTI=700, BND=200, VXUS=200)
    recent = account(model_id="M3", pending_cash_flow=5_000.0, last_rebalanced="2024-12-01")
    assert run(recent, held, policy).trades.empty
    due = account(model_id="M3", pending_cash_flow=5_000.0, last_rebalanced="2024-09-01")
    assert set(run(due, held, policy).trades["side"]) == {"BUY"}


def test_a_second_run_on_the_executed_book_finds_nothing() -> None:
    accts = [
        account("A1", model_id="M3", pending_cash_flow=5_000.0),
        account("A2", model_id="M3", pending_cash_flow=-5_000.0, account_type="roth"),
        account("A3", model_id="M3", cash=8_000.0, fractional_shares=True),
    ]
    held = pd.concat(
        [holdings(a, VTI=700, BND=200, VXUS=200) for a in ("A1", "A2", "A3")], ignore_index=True
    )
    tables = book(accts, held, M3, securities=SECURITIES)
    first = recommend_book(tables, PRICES, BUY_ONLY, as_of=AS_OF)
    assert set(first.trades["account_id"]) == {"A1", "A2", "A3"}
    again = recommend_book(execute(tables, first), PRICES, BUY_ONLY, as_of=AS_OF)
    assert again.trades.empty


def test_costs_never_make_cash_negative_or_drift_worse() -> None:
    # Fees, a wide spread and small accounts: every account's cash stays >= 0 and drift never
    # rises (forced sales aside).
    policy = Policy(buy_only=True, fee_per_trade=5.0, spread_bps=50.0, cash_reserve=0.01)
    flows = [0.0, 120.0, 2_000.0, -300.0, -3_000.0]
    accts = [account(f"A{i}", model_id="M3", pending_cash_flow=f, cash=50.0) for i, f in enumerate(flows)]  # fmt: skip
    held = pd.concat(
        [holdings(f"A{i}", VTI=30 + 7 * i, BND=12, VXUS=9 + i) for i in range(len(flows))],
        ignore_index=True,
    )
    rec = recommend_book(book(accts, held, M3, securities=SECURITIES), PRICES, policy, as_of=AS_OF)
    summary = rec.accounts.set_index("account_id")
    assert (summary["cash_after"] >= 0).all()
    calm = ~summary["status"].str.contains("CASH_SHORT")
    assert (summary.loc[calm, "drift_after"] <= summary.loc[calm, "drift_before"] + 1e-12).all()
    sells = rec.trades[rec.trades["side"] == "SELL"]
    assert sells["reason"].str.contains("FORCED").all()
    assert set(sells["account_id"]) <= set(summary.index[~calm])


# --- properties over random books ---------------------------------------------------------


def _buy_only(policy: Policy) -> Policy:
    return policy.model_copy(update={"buy_only": True})


def _random_book(seed: int, p_fractional: float, blocked: bool) -> BookArrays:
    knobs = BLOCKED if blocked else {}
    return random_arrays(np.random.default_rng(seed), 6, 6, p_fractional=p_fractional, **knobs)


@settings(max_examples=400, deadline=None)
@given(
    policy=st.sampled_from(POLICY_GRID),
    seed=st.integers(0, 2**32 - 1),
    p_fractional=st.sampled_from([0.0, 0.4, 1.0]),
    blocked=st.booleans(),
)
def test_buy_only_sells_only_when_forced(
    policy: Policy, seed: int, p_fractional: float, blocked: bool
) -> None:
    policy = _buy_only(policy)
    book_arrays = _random_book(seed, p_fractional, blocked)
    res = rebalance(book_arrays, policy)
    # Cash >= 0 (or a reported shortfall), no buy of a blocked slot, drift never up unless
    # cash was short, lots, costs and whole shares: the engine's invariants.
    check_invariants(book_arrays, policy, res)
    sells = res.quantity < 0
    assert not (sells & ((res.reason & FORCED) == 0)).any(), "a sale that was not forced"
    cash0 = book_arrays.cash + book_arrays.cash_flow
    value0 = (np.where(book_arrays.valid, book_arrays.quantity * book_arrays.price, 0.0)).sum(
        axis=1
    ) + cash0
    short = cash0 < policy.cash_reserve * np.maximum(value0, 0) - 1e-6
    assert not sells[~short].any(), "an account above its floor sold"
    # Executed, the book needs nothing more (shortfalls aside: they cannot be funded).
    second = rebalance(apply_trades(book_arrays, res), policy)
    moved = (second.quantity != 0).any(axis=1) & ((res.status & SHORTFALL) == 0)
    assert not moved.any(), f"a second run traded {book_arrays.account_id[moved]}"


@settings(max_examples=150, deadline=None)
@given(
    policy=st.sampled_from(POLICY_GRID),
    seed=st.integers(0, 2**32 - 1),
    chunk=st.integers(1, 7),
    blocked=st.booleans(),
)
def test_buy_only_batch_chunks_and_households_agree(
    policy: Policy, seed: int, chunk: int, blocked: bool
) -> None:
    policy = _buy_only(policy)
    book_arrays = _random_book(seed, 0.4, blocked)
    whole, summary = rebalance_batch(book_arrays, policy, chunk_size=10_000)
    chunked, _ = rebalance_batch(book_arrays, policy, chunk_size=chunk)
    assert whole.equals(chunked)
    # Each household alone (what the single-account path runs) gives the same rows.
    for household in np.unique(book_arrays.household):
        rows = np.flatnonzero(book_arrays.household == household)
        alone, alone_summary = rebalance_batch(book_arrays.rows(rows), policy)
        ids = set(book_arrays.account_id[rows])
        mine = whole[whole["account_id"].isin(ids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, mine, check_exact=True)
        theirs = summary[summary["account_id"].isin(ids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone_summary, theirs, check_exact=True)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(account_rows, min_size=1, max_size=4),
    prices=st.lists(st.floats(1.0, 5_000.0), min_size=5, max_size=5),
)
def test_buy_only_batch_and_single_account_agree(rows: list[dict], prices: list[float]) -> None:
    accts, held, book_lots, restr, tx = _frames(rows)
    price_map = dict(zip(SYMBOLS, prices, strict=True))
    policy = Policy(buy_only=True, fee_per_trade=1.0)
    extra = {"securities": SECURITIES, "tax_lots": book_lots, "restrictions": restr,
             "transactions": tx}  # fmt: skip
    tables = book(accts, held, MODELS, **extra)
    batch = recommend_book(tables, price_map, policy, as_of=AS_OF, chunk_size=3)
    assert batch.rejected.empty
    sells = batch.trades[batch.trades["side"] == "SELL"]
    assert sells["reason"].str.contains("FORCED").all()
    shortfall = batch.accounts["status"].str.contains("WITHDRAWAL_SHORTFALL")
    assert (batch.accounts.loc[~shortfall, "cash_after"] >= -1e-6).all()
    for aid in accts["account_id"]:
        single = recommend_account(tables, price_map, policy, account_id=aid, as_of=AS_OF)
        mine = batch.trades[batch.trades["account_id"] == aid].reset_index(drop=True)
        pd.testing.assert_frame_equal(single.trades, mine, check_exact=True)
        theirs = batch.accounts[batch.accounts["account_id"] == aid].reset_index(drop=True)
        pd.testing.assert_frame_equal(single.accounts, theirs, check_exact=True)
