"""Hypothesis properties of the engine over many random accounts per example.

Each example draws a policy and a seed, builds a random dense book of several accounts with
numpy (fast), rebalances it with the batch path and checks invariants computed here,
independently of the engine's own bookkeeping.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebalancer.engine import BookArrays, LotArrays, Policy, RebalanceResult, rebalance
from rebalancer.engine._policy import TriggerKind
from rebalancer.engine._recommend import rebalance_batch
from tests.engine.books import random_arrays

ACCOUNTS_PER_EXAMPLE = 6
SLOTS = 6

policies = st.builds(
    Policy,
    band=st.sampled_from(["absolute", "relative", "hybrid"]),
    relative_band=st.sampled_from([0.05, 0.2, 0.5]),
    absolute_band=st.sampled_from([0.0, 0.01, 0.02, 0.05]),
    max_total_drift=st.sampled_from([None, 0.03]),
    trigger=st.sampled_from(["threshold", "calendar", "calendar_threshold"]),
    rebalance_to=st.sampled_from(["target", "band_edge", "halfway"]),
    cash_reserve=st.sampled_from([0.0, 0.01, 0.05]),
    min_trade_value=st.sampled_from([0.0, 10.0, 250.0]),
    fee_per_trade=st.sampled_from([0.0, 1.0, 10.0]),
    spread_bps=st.sampled_from([0.0, 5.0, 30.0]),
    drift_value_bps=st.sampled_from([0.0, 50.0, 500.0]),
    lot_method=st.sampled_from(["tax_aware", "hifo", "fifo"]),
)


def _policy_grid(count: int, seed: int = 7) -> list[Policy]:
    """A fixed, seeded sample of policies (cheap for hypothesis to draw: one integer)."""
    rng = np.random.default_rng(seed)
    choices = {
        "band": ["absolute", "relative", "hybrid"],
        "relative_band": [0.05, 0.2, 0.5],
        "absolute_band": [0.0, 0.01, 0.02, 0.05],
        "max_total_drift": [None, 0.03],
        "trigger": ["threshold", "calendar", "calendar_threshold"],
        "rebalance_to": ["target", "band_edge", "halfway"],
        "cash_reserve": [0.0, 0.01, 0.05],
        "min_trade_value": [0.0, 10.0, 250.0],
        "fee_per_trade": [0.0, 1.0, 10.0],
        "spread_bps": [0.0, 5.0, 30.0],
        "drift_value_bps": [0.0, 50.0, 500.0],
        "lot_method": ["tax_aware", "hifo", "fifo"],
    }
    return [
        Policy(**{k: v[int(rng.integers(len(v)))] for k, v in choices.items()})  # type: ignore[arg-type]
        for _ in range(count)
    ]


POLICY_GRID = _policy_grid(600)


def effective_targets(book: BookArrays, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """Model targets with the cash sleeve lifted to the reserve (the documented definition)."""
    tc = np.maximum(book.cash_target, policy.cash_reserve)
    lift = np.where(book.cash_target < 1, (1 - tc) / np.maximum(1 - book.cash_target, 1e-300), 0)
    return np.where(book.valid, book.target, 0.0) * lift[:, None], tc


def drift_of(book: BookArrays, qty: np.ndarray, cash: np.ndarray, policy: Policy) -> np.ndarray:
    t, tc = effective_targets(book, policy)
    x = np.where(book.valid, qty * book.price, 0.0)
    v = x.sum(axis=1) + cash
    safe = np.where(v > 0, v, 1.0)
    w = np.where(v[:, None] > 0, x / safe[:, None], 0.0)
    wc = np.where(v > 0, cash / safe, 0.0)
    return (np.abs(w - t).sum(axis=1) + np.abs(wc - tc)) / 2


def check_invariants(book: BookArrays, policy: Policy, res: RebalanceResult) -> None:
    q = res.quantity
    price = np.where(book.valid, book.price, 1.0)
    cash0 = book.cash + book.cash_flow
    value0 = np.where(book.valid, book.quantity * price, 0.0).sum(axis=1) + cash0
    floor = policy.cash_reserve * np.maximum(value0, 0)
    short = cash0 < floor - 1e-6
    buys, sells = q > 0, q < 0
    # Trades only on real slots, at the input price.
    assert not (q[~book.valid] != 0).any()
    np.testing.assert_allclose(
        res.value, q * price, rtol=0, atol=1e-9 * np.abs(q * price).max(initial=1)
    )
    # No shorting: never sell more than held.
    assert (book.quantity + q >= -1e-9 * np.maximum(1, book.quantity)).all()
    # Restrictions: no buy of restricted / do-not-trade / wash-sale-blocked, no sale of do-not-trade.
    assert not (buys & (book.restricted | book.do_not_trade | book.wash_buy_block)).any()
    assert not (sells & book.do_not_trade).any()
    # Cost model and the accounting identity (exact up to float rounding).
    sp = policy.spread_bps * 1e-4
    expected_cost = np.where(q != 0, policy.fee_per_trade + sp * np.abs(q * price), 0.0)
    np.testing.assert_allclose(res.cost, expected_cost, rtol=1e-12, atol=1e-9)
    cash_after = cash0 - (q * price).sum(axis=1) - expected_cost.sum(axis=1)
    np.testing.assert_allclose(res.cash_after, cash_after, rtol=1e-12, atol=1e-6)
    # No negative cash, cash reserve kept whenever anything is bought. The floor is a fraction
    # of the account after the trades (their costs lower it): the floor a re-run sees.
    shortfall = (res.status & 4) != 0
    assert ((cash_after >= -1e-6) | shortfall).all()
    assert not (shortfall & ~short).any()
    assert not (shortfall & buys.any(axis=1)).any()
    bought = buys.any(axis=1)
    floor_after = policy.cash_reserve * np.maximum(value0 - expected_cost.sum(axis=1), 0)
    assert (cash_after[bought] >= floor_after[bought] - 1e-6).all()
    # A shortfall is reported exactly when the cash stays below that floor.
    still_short = short & (cash_after < floor_after - 1e-6)
    assert (shortfall == still_short).all()
    # Shortfall only when everything sellable was sold.
    # Wash sale: no loss lot sold while the household bought the security in the window.
    lots = book.lots
    if lots.row.size:
        unit_cost = np.divide(
            lots.cost_basis,
            lots.quantity,
            out=np.zeros_like(lots.cost_basis),
            where=lots.quantity > 0,
        )
        loss = price[lots.row, lots.col] < unit_cost
        blocked = loss & book.wash_loss_block[lots.row, lots.col]
        assert not (res.lot_sold[blocked] > 1e-12).any()
        assert (res.lot_sold <= lots.quantity + 1e-9).all()
        # Taxable sales are fully allocated to lots.
        flat = lots.row * q.shape[1] + lots.col
        per_slot = np.bincount(flat, weights=res.lot_sold, minlength=q.size).reshape(q.shape)
        taxable_sells = sells & book.taxable[:, None]
        np.testing.assert_allclose(per_slot[taxable_sells], -q[taxable_sells], rtol=1e-9, atol=1e-9)
    # Whole shares where fractions are not allowed.
    whole = (q != 0) & ~book.fractional
    frac_part = np.abs(q[whole] - np.round(q[whole]))
    full_exit = np.isclose(-q, book.quantity)[whole]
    assert ((frac_part < 1e-9) | full_exit).all()
    # Trades never increase total drift (a cash shortfall must be funded regardless).
    before = drift_of(book, book.quantity, cash0, policy)
    after = drift_of(book, book.quantity + q, cash_after, policy)
    np.testing.assert_allclose(res.drift_before, before, atol=1e-9)
    assert (after[~short] <= before[~short] + 1e-9).all()


def in_band_and_free(book: BookArrays, policy: Policy) -> np.ndarray:
    """Accounts with every sleeve inside its band, nothing blocked, no cash need (computed here)."""
    t, tc = effective_targets(book, policy)
    cash0 = book.cash + book.cash_flow
    x = np.where(book.valid, book.quantity * book.price, 0.0)
    v = x.sum(axis=1) + cash0
    safe = np.where(v > 0, v, 1.0)
    w, wc = x / safe[:, None], cash0 / safe

    def band(target: np.ndarray) -> np.ndarray:
        if policy.band == "absolute":
            return np.full_like(target, policy.absolute_band)
        rel = policy.relative_band * target
        return rel if policy.band == "relative" else np.maximum(rel, policy.absolute_band)

    inside = (np.abs(w - t) <= band(t) - 1e-7) | ~book.valid
    cash_inside = np.abs(wc - tc) <= band(tc) - 1e-7
    drift_ok = (
        True
        if policy.max_total_drift is None
        else ((np.abs(w - t).sum(axis=1) + np.abs(wc - tc)) / 2 <= policy.max_total_drift - 1e-7)
    )
    blocks = book.restricted | book.do_not_trade | book.wash_buy_block | book.wash_loss_block
    return (
        (v > 0)
        & inside.all(axis=1)
        & cash_inside
        & drift_ok
        & ~blocks.any(axis=1)
        & (cash0 >= policy.cash_reserve * v + 1e-6)
    )


def apply_trades(book: BookArrays, res: RebalanceResult) -> BookArrays:
    """The book after executing the trades: positions, cash, lots and calendar updated."""
    lots = book.lots
    price = np.where(book.valid, book.price, 1.0)
    remaining = lots.quantity - res.lot_sold
    keep_cost = np.divide(
        lots.cost_basis * remaining,
        lots.quantity,
        out=np.zeros_like(remaining),
        where=lots.quantity > 0,
    )
    br, bc = np.nonzero((res.quantity > 0) & book.taxable[:, None])
    new_lots = LotArrays(
        row=np.concatenate([lots.row, br]).astype(np.int64),
        col=np.concatenate([lots.col, bc]).astype(np.int64),
        lot_id=np.concatenate(
            [lots.lot_id, np.array([f"N{i}" for i in range(br.size)], dtype=object)]
        ),
        quantity=np.concatenate([remaining, res.quantity[br, bc]]),
        cost_basis=np.concatenate([keep_cost, res.quantity[br, bc] * price[br, bc]]),
        age_days=np.concatenate([lots.age_days, np.zeros(br.size)]),
    )
    traded = (res.quantity != 0).any(axis=1)
    return dataclasses.replace(
        book,
        quantity=np.where(book.valid, book.quantity + res.quantity, 0.0),
        cash=res.cash_after,
        cash_flow=np.zeros_like(book.cash_flow),
        days_since_rebalance=np.where(traded, 0.0, book.days_since_rebalance),
        lots=new_lots,
    )


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=st.sampled_from(POLICY_GRID), seed=st.integers(0, 2**32 - 1))
def test_invariants_hold_for_random_books(policy: Policy, seed: int) -> None:
    book = random_arrays(np.random.default_rng(seed), ACCOUNTS_PER_EXAMPLE, SLOTS)
    res = rebalance(book, policy)
    check_invariants(book, policy, res)
    if policy.trigger == "threshold":
        quiet = in_band_and_free(book, policy)
        assert not (res.quantity[quiet] != 0).any(), "an account inside its bands was traded"


UNRESTRICTED = {"p_restricted": 0.0, "p_dnt": 0.0, "p_wash": 0.0}


def _second_pass_trades(book: BookArrays, policy: Policy) -> np.ndarray:
    first = rebalance(book, policy)
    shortfall = (first.status & 4) != 0
    second = rebalance(apply_trades(book, first), policy)
    return book.account_id[(second.quantity != 0).any(axis=1) & ~shortfall]


def _idempotent(mode: str) -> st.SearchStrategy[Policy]:
    """Threshold policies of one mode: every band kind (relative-only and zero floors too),
    a cash reserve together with trading costs (fees, spread, cost/benefit), every lot method.
    """
    return st.builds(
        Policy,
        band=st.sampled_from(["absolute", "relative", "hybrid"]),
        relative_band=st.sampled_from([0.05, 0.2, 0.5]),
        absolute_band=st.sampled_from([0.0, 0.01, 0.02, 0.05]),
        max_total_drift=st.sampled_from([None, 0.03]),
        rebalance_to=st.just(mode),
        cash_reserve=st.sampled_from([0.0, 0.01, 0.05]),
        min_trade_value=st.sampled_from([10.0, 250.0]),
        fee_per_trade=st.sampled_from([0.0, 1.0, 10.0]),
        spread_bps=st.sampled_from([0.0, 5.0, 30.0]),
        drift_value_bps=st.sampled_from([0.0, 50.0, 500.0]),
        lot_method=st.sampled_from(["tax_aware", "hifo", "fifo"]),
    )


# Blocked sleeves on purpose: restrictions, do-not-trade and wash-sale blocks at high rates.
BLOCKED = {"p_restricted": 0.15, "p_dnt": 0.08, "p_wash": 0.15}
MODES = ["target", "halfway", "band_edge"]


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=600, deadline=None)
@given(
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    p_fractional=st.sampled_from([0.0, 0.4, 1.0]),
    blocked=st.booleans(),
)
def test_rebalancing_twice_changes_nothing(
    mode: str, data: st.DataObject, seed: int, p_fractional: float, blocked: bool
) -> None:
    # Whole and fractional shares, every band kind, a cash reserve with trading costs,
    # restrictions and wash-sale blocks.
    policy = data.draw(_idempotent(mode))
    knobs = BLOCKED if blocked else UNRESTRICTED
    book = random_arrays(
        np.random.default_rng(seed), ACCOUNTS_PER_EXAMPLE, SLOTS, p_fractional=p_fractional, **knobs
    )
    moved = _second_pass_trades(book, policy)
    assert not moved.size, f"second pass traded {moved}"


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    trigger=st.sampled_from(["calendar", "calendar_threshold"]),
    calendar_days=st.sampled_from([1, 30, 90]),
    p_fractional=st.sampled_from([0.0, 0.4, 1.0]),
    blocked=st.booleans(),
)
def test_a_calendar_rebalance_is_done_for_the_day(
    mode: str,
    data: st.DataObject,
    seed: int,
    trigger: TriggerKind,
    calendar_days: int,
    p_fractional: float,
    blocked: bool,
) -> None:
    policy = Policy.from_options(
        data.draw(_idempotent(mode)), trigger=trigger, calendar_days=calendar_days
    )
    rng = np.random.default_rng(seed)
    knobs = BLOCKED if blocked else UNRESTRICTED
    book = random_arrays(rng, ACCOUNTS_PER_EXAMPLE, SLOTS, p_fractional=p_fractional, **knobs)
    # About half the accounts are due (some exactly on the day, some never rebalanced).
    due_days = calendar_days + rng.choice([0.0, 1.0, 45.0, np.inf], ACCOUNTS_PER_EXAMPLE)
    days = np.where(
        rng.random(ACCOUNTS_PER_EXAMPLE) < 0.5,
        due_days,
        rng.integers(0, calendar_days, ACCOUNTS_PER_EXAMPLE).astype(float),
    )
    book = dataclasses.replace(book, days_since_rebalance=days)
    first = rebalance(book, policy)
    shortfall = (first.status & 4) != 0
    # Off the calendar nothing trades, except to raise cash below its floor.
    cash0 = book.cash + book.cash_flow
    value0 = np.where(book.valid, book.quantity * book.price, 0.0).sum(axis=1) + cash0
    short = cash0 < policy.cash_reserve * np.maximum(value0, 0) - 1e-6
    off = (days < calendar_days) & ~short
    assert not (first.quantity[off] != 0).any(), "an account not due was traded"
    # Re-running the same day finds nothing, whether the last rebalance date has moved to
    # today (the traded accounts are no longer due) or not yet (they are still due).
    executed = apply_trades(book, first)
    same_day = dataclasses.replace(executed, days_since_rebalance=days)
    for again in (executed, same_day):
        second = rebalance(again, policy)
        moved = (second.quantity != 0).any(axis=1) & ~shortfall
        assert not moved.any(), f"second run traded {book.account_id[moved]}"


@settings(max_examples=200, deadline=None)
@given(policy=policies, seed=st.integers(0, 2**32 - 1), chunk=st.integers(1, 7))
def test_chunking_and_single_rows_give_identical_trades(
    policy: Policy, seed: int, chunk: int
) -> None:
    book = random_arrays(np.random.default_rng(seed), ACCOUNTS_PER_EXAMPLE, SLOTS)
    whole, _ = rebalance_batch(book, policy, chunk_size=10_000)
    chunked, _ = rebalance_batch(book, policy, chunk_size=chunk)
    assert whole.equals(chunked)
