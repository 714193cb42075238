"""The rebalancing pipeline on dense arrays: triggers, cash-flow first, partial rebalance,
trade sizing, funding, whole-share fill, lots and the final drift check.

Every step is a numpy expression over all accounts at once; the only loops are over the
whole-share fill (at most ``Policy.max_fill_rounds`` walks, each a step per slot column, every
step vectorized over accounts) and over lot ranks.

One pass (:func:`_size`, then :func:`_finalize`) runs named stages, in order: ``_standing``
(values, weights, effective targets, cash floor), ``_movable`` (what each slot may trade),
``_reachable_targets`` (pinned sleeves), ``_bands`` and ``_breached`` (triggers),
``_cash_flow_first`` (phase A), ``_shrink`` (phase B), ``_reasons``, ``_status`` and
``_worth_it`` (bookkeeping, minimum trade and cost/benefit), ``_whole_units`` (rounding),
``_cover_shortfall``, ``_fund_buys`` and ``_fill_leftover`` (funding); ``_finalize`` checks
drift and allocates lots. Buy-only (``Policy.buy_only``) swaps the targets, trigger and plan
stages for ``_model_aim``, ``_cash_to_deploy`` and ``_new_money`` and shares the rest.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from rebalancer.engine._arrays import (
    BLOCKED_RESTRICTED,
    BLOCKED_WASH_SALE,
    CASH_DEPLOY,
    CASH_RAISE,
    CASH_SHORT,
    DRIFT_BUY,
    DRIFT_SELL,
    FORCED,
    LEFTOVER_FILL,
    NO_IMPROVEMENT,
    SHORTFALL,
    SKIPPED_COST,
    TRIGGERED,
    WITHDRAWAL,
    BookArrays,
    RebalanceResult,
)
from rebalancer.engine._bands import (
    WEIGHT_EPS,
    band_width,
    calendar_due,
    out_of_band,
    rule_fires,
    shrink_factor,
    threshold_breached,
)
from rebalancer.engine._cash import cash_after_sales, top_up_cash
from rebalancer.engine._costs import trade_cost, worth_trading
from rebalancer.engine._drift import Array, BoolArray, rowsum, total_drift, weights
from rebalancer.engine._policy import Policy
from rebalancer.engine._tax import LotArrays, blocked_quantity, lot_facts, sell_lots

_UNIT_EPS = 1e-9  # share-count tolerance before floor/ceil (float noise, not a real fraction)
_CASH_EPS = 1e-6  # USD tolerance on cash comparisons
_DUST_USD = 0.01  # a pass whose trades are all below this (USD) is not followed by another
_BUY_BITS = CASH_DEPLOY | DRIFT_BUY | LEFTOVER_FILL
_SELL_BITS = CASH_RAISE | WITHDRAWAL | FORCED | DRIFT_SELL


def _safe_div(num: Array, den: Array) -> Array:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


# --- passes ------------------------------------------------------------------------------


def rebalance(book: BookArrays, policy: Policy) -> RebalanceResult:
    """Rebalance every account of ``book`` under ``policy``. Pure: same input, same output.

    Runs the one-pass pipeline again on the accounts that traded, as if their trades had been
    executed (up to ``policy.max_passes``), and nets the passes: whole-share rounding and
    funding limits can leave a pass short of its goal, and the result should be a fixed point
    (rebalancing a freshly rebalanced account yields nothing).

    Pins (``book.hold``, the model's gate) count only in the accounts :func:`rules_act` on:
    a pin never makes an account trade that the rules leave alone.
    """
    if book.hold is not None:
        book = dataclasses.replace(book, hold=_acting_pins(book, policy))
    first = _one_pass(book, policy)
    assert isinstance(first, RebalanceResult)
    net = first.quantity.copy()
    reason = first.reason.astype(np.int64)
    status = first.status.astype(np.int64)
    last, rows = first, np.arange(book.shape[0])
    extra = later_trades = False
    for round_no in range(policy.max_passes - 1):
        # Passes that only move dust (float noise, fractions of a cent) end the loop.
        moved = (np.abs(last.value) >= _DUST_USD).any(axis=1) & ((last.status & SHORTFALL) == 0)
        if not moved.any():
            break
        step = _next_pass(book, policy, first, rows[moved], round_no, net, reason, status)
        if step is None:
            break
        rows, state, sized = step
        extra = True
        if not sized.signed.any():
            # A pass that trades nothing adds only its status bits (finalizing it would mask
            # every reason to zero and flag nothing), and the next one would stop anyway.
            status[rows] |= sized.status.astype(np.int64) & ~(CASH_SHORT | SHORTFALL)
            break
        later_trades = True
        last = _finalize(state, policy, *sized)
        net[rows] += last.quantity
        reason[rows] |= last.reason.astype(np.int64)
        status[rows] |= last.status.astype(np.int64) & ~(CASH_SHORT | SHORTFALL)
    if not extra:
        return first
    if not later_trades:
        # The net trades are the first pass's, already finalized (its drift check passed, its
        # shortfalls stand): only the status bits the later passes added change.
        final = (status & ~(NO_IMPROVEMENT | SHORTFALL)) | (first.status & SHORTFALL)
        return dataclasses.replace(first, status=final.astype(np.int8))
    return _finalize(book, policy, net, reason, status & ~(NO_IMPROVEMENT | SHORTFALL))


def rules_act(book: BookArrays, policy: Policy) -> BoolArray:
    """Per account: whether this run's own rules act on it, pins aside: a rule fires (band,
    total drift, calendar; new money to deploy when buy-only) or its cash is short. Any
    other account trades nothing, so a gate has nothing there to hold."""
    plain = book if book.hold is None else dataclasses.replace(book, hold=None)
    acts = _size(plain, policy, triggers_only=True)
    assert not isinstance(acts, _Sized)
    return acts


def _acting_pins(book: BookArrays, policy: Policy) -> BoolArray:
    """``book.hold`` kept in the accounts the rules act on (only rows with a pin are asked:
    a daily run pins in a few accounts)."""
    assert book.hold is not None
    hold = book.hold.copy()
    rows = np.flatnonzero(hold.any(axis=1))
    if rows.size:
        sub = book if rows.size == book.shape[0] else book.rows(rows)
        hold[rows] &= rules_act(sub, policy)[:, None]
    return hold


def _next_pass(
    book: BookArrays,
    policy: Policy,
    first: RebalanceResult,
    rows: np.ndarray,
    round_no: int,
    net: Array,
    reason: np.ndarray,
    status: np.ndarray,
) -> tuple[np.ndarray, BookArrays, _Sized] | None:
    """The next pass on ``rows`` (accounts that moved): its rows, its book and its trades.

    ``None`` when no account of ``rows`` is triggered any more (the passes have converged).
    """
    # The next pass starts from the original book plus the *netted* trades, exactly what a
    # fresh run on the executed trades sees (netting can save fees, which frees cash).
    # After the first pass the netted trades are the first pass's, already finalized.
    whole = rows.size == book.shape[0]  # every account moved: no sub-book to copy
    sub = book if whole else book.rows(rows)
    if round_no > 0:
        done = _finalize(sub, policy, net[rows], reason[rows], status[rows])
    else:
        done = first if whole else _result_rows(first, book, rows)
    # The cash floor is a fraction of the account as it stands after the trades so far
    # (costs paid lower it), exactly the floor a re-run computes: keeping the first pass's
    # floor would leave ``cash_reserve x costs`` for the re-run to invest. The passes are
    # the same day: an account due for its calendar rebalance stays due, so its passes
    # converge too (a re-run the same day, before its last rebalance date is moved, finds
    # nothing; one after finds it not due).
    state = advance(sub, done, same_day=True)
    # Sized whole when every account is still triggered (the usual case), else the
    # triggered ones only (a pass on any other account trades nothing).
    sized = _size(state, policy, all_triggered=True)
    if not isinstance(sized, _Sized):
        again = sized
        if not again.any():
            return None
        rows = rows[again]
        state = state.rows(np.flatnonzero(again))
        sized = _size(state, policy)
        assert isinstance(sized, _Sized)
    return rows, state, sized


def _result_rows(result: RebalanceResult, book: BookArrays, rows: np.ndarray) -> RebalanceResult:
    """``result`` (of ``book``) restricted to account ``rows``, lots as ``book.rows(rows)``.

    Every figure of a result is computed row by row, so this equals finalizing the same trades
    on the sub-book.
    """
    keep = np.zeros(book.shape[0], dtype=bool)
    keep[rows] = True
    values = {
        name: (arr[keep[book.lots.row]] if name == "lot_sold" else arr[rows])
        for name, arr in vars(result).items()
    }
    return RebalanceResult(**values)


def advance(book: BookArrays, result: RebalanceResult, *, same_day: bool = False) -> BookArrays:
    """The book after executing ``result``: positions, cash, lots and calendar updated.

    ``same_day``: keep ``days_since_rebalance`` (a later pass of the same run).
    """
    lots = book.lots
    price = np.where(book.valid, book.price, 1.0)
    remaining = np.maximum(lots.quantity - result.lot_sold, 0.0)
    kept_cost = _safe_div(lots.cost_basis * remaining, lots.quantity)
    br, bc = np.nonzero((result.quantity > 0) & book.taxable[:, None])
    bought = result.quantity[br, bc]
    # Lots bought in the run exist only between its passes: no id (None). An empty object
    # array filled by slice is ~60x faster than np.full with a string (a third of this step).
    lot_id = np.empty(lots.lot_id.size + br.size, dtype=object)
    lot_id[: lots.lot_id.size] = lots.lot_id
    new_lots = LotArrays(
        row=np.concatenate([lots.row, br]).astype(np.int64),
        col=np.concatenate([lots.col, bc]).astype(np.int64),
        lot_id=lot_id,
        quantity=np.concatenate([remaining, bought]),
        cost_basis=np.concatenate([kept_cost, bought * price[br, bc]]),
        age_days=np.concatenate([lots.age_days, np.zeros(br.size)]),
    )
    days = book.days_since_rebalance
    if not same_day:
        days = np.where((result.quantity != 0).any(axis=1), 0.0, days)
    return dataclasses.replace(
        book,
        quantity=np.where(book.valid, book.quantity + result.quantity, 0.0),
        cash=result.cash_after,
        cash_flow=np.zeros_like(book.cash_flow),
        days_since_rebalance=days,
        lots=new_lots,
    )


# --- one pass: the stages ----------------------------------------------------------------


class _Sized(NamedTuple):
    """A pass's trades before :func:`_finalize` (signed units, reason and status bits)."""

    signed: Array
    reason: np.ndarray
    status: np.ndarray


class _Standing(NamedTuple):
    """The accounts as they stand before a pass (invalid slots: price 1, quantity 0)."""

    price: Array
    qty: Array
    x: Array  # position values
    cash0: Array  # settled cash plus the pending flow
    t: Array  # effective targets (see effective_targets)
    tc: Array
    w: Array
    wc: Array
    value: Array
    safe_value: Array  # (n, 1): the value where positive, else 1 (a divisor)
    floor: Array  # the cash floor: ``cash_reserve`` of the value
    cash_short: BoolArray  # cash below its floor (a withdrawal, a reserve): must sell


class _Movable(NamedTuple):
    """What each slot may trade (restrictions, do-not-trade, wash-sale blocks, loss lots)."""

    sellable_q: Array
    sellable_v: Array
    can_buy: BoolArray
    can_sell: BoolArray
    tradable: BoolArray  # valid and not do-not-trade
    min_w: Array  # the weight that cannot be sold


class _Aim(NamedTuple):
    """Reachable targets (``ta``, ``tca``) and the values and cash they call for."""

    ta: Array
    tca: Array
    tgt: Array  # ta x value
    cash_goal: Array  # the cash target, never below the floor


class _Bands(NamedTuple):
    """Band widths around the reachable targets, and the slack no trade can close."""

    width: Array
    cash_width: Array
    slack: Array
    cash_slack: Array
    drift_slack: Array
    trigger_width: Array
    cash_trigger: Array


class _CashFlow(NamedTuple):
    """Phase A's trades (USD, non-negative): buys, sales, forced sales."""

    buy: Array
    sell: Array
    forced: Array


class _Plan(NamedTuple):
    """A pass's planned trades (USD) and what sizing them into units needs."""

    aim: _Aim
    flow: _CashFlow  # phase A (cash flow first)
    cash_trade: Array  # its net trades: buys - sales - forced sales
    drift: Array  # phase B's trades (signed)
    partial: BoolArray  # rows aiming inside their bands (partial modes): rounded toward target
    cash_keep: Array  # cash the buys may not dip below
    width: Array  # band widths (funding the band edges first on ``partial`` rows)
    triggered: BoolArray


class _Shrink(NamedTuple):
    """Phase B: the trades (USD, signed), the factor, the rows it ran on, the cash to keep."""

    trade: Array
    lam: Array
    need: BoolArray
    cash_keep: Array


def effective_targets(book: BookArrays, policy: Policy) -> tuple[Array, Array]:
    """``(t, tc)``: the model's targets with its cash sleeve lifted to the reserve.

    The one definition: the passes aim at these, and results report drift against them. The
    securities' targets scale down by what the cash sleeve gains (an all-cash model keeps 0).
    """
    tc_model = book.cash_target
    tc = np.maximum(tc_model, policy.cash_reserve)
    lift = np.where(tc_model < 1, (1 - tc) / np.where(tc_model < 1, 1 - tc_model, 1.0), 0.0)
    return np.where(book.valid, book.target, 0.0) * lift[:, None], tc


def _standing(book: BookArrays, policy: Policy) -> _Standing:
    """Values, weights, effective targets and floor: what every stage measures against."""
    valid = book.valid
    price = np.where(valid, book.price, 1.0)
    qty = np.where(valid, book.quantity, 0.0)
    x = qty * price
    cash0 = book.cash + book.cash_flow
    t, tc = effective_targets(book, policy)
    w, wc, value = weights(x, cash0)
    floor = policy.cash_reserve * np.maximum(value, 0.0)
    return _Standing(
        price=price, qty=qty, x=x, cash0=cash0, t=t, tc=tc, w=w, wc=wc, value=value,
        safe_value=np.where(value > 0, value, 1.0)[:, None], floor=floor,
        cash_short=cash0 < floor - _CASH_EPS,
    )  # fmt: skip


def _movable(book: BookArrays, s: _Standing) -> _Movable:
    """What can move: restrictions, do-not-trade, wash-sale blocks and loss lots limit it."""
    n, k = book.shape
    valid = book.valid
    _, lot_ok = lot_facts(book.lots, s.price, book.wash_loss_block)
    sellable_q = np.where(
        valid & ~book.do_not_trade,
        np.maximum(s.qty - blocked_quantity(book.lots, lot_ok, (n, k)), 0.0),
        0.0,
    )
    # Whole-share slots sell whole units, unless the whole (possibly fractional) holding goes.
    whole_cap = np.floor(sellable_q + _UNIT_EPS)
    full = sellable_q >= s.qty - _UNIT_EPS
    sellable_q = np.where(book.fractional | full, sellable_q, np.minimum(whole_cap, sellable_q))
    can_buy = valid & ~book.restricted & ~book.do_not_trade & ~book.wash_buy_block
    tradable = valid & ~book.do_not_trade
    if book.hold is not None:
        # A pinned (held) slot neither buys nor trades for drift, but stays sellable: a cash
        # shortfall's forced sales (phase A's rest, the shortfall top-up) may still take it.
        can_buy = can_buy & ~book.hold
        tradable = tradable & ~book.hold
    return _Movable(
        sellable_q=sellable_q,
        sellable_v=sellable_q * s.price,
        can_buy=can_buy,
        can_sell=sellable_q > 0,
        tradable=tradable,
        min_w=np.where(s.value[:, None] > 0, (s.qty - sellable_q) * s.price / s.safe_value, 0.0),
    )


def _reachable_targets(book: BookArrays, policy: Policy, s: _Standing, m: _Movable) -> _Aim:
    """Targets the engine can reach: pinned sleeves keep their weight, the rest scales.

    Pinned sleeves cannot reach their target: do-not-trade, a blocked buy of an underweight,
    or a target below the part that cannot be sold (loss lots in a wash-sale window). They
    keep the weight they can reach; the rest of the model scales to what is left. Scaling the
    rest of the model up can put another blocked sleeve out of reach (a blocked buy now below
    its scaled target, a scaled target below the unsellable part): pin those too, until no row
    changes (the pinned set only grows, so at most ``k`` rounds). Otherwise a sleeve the engine
    cannot move keeps the account triggered and the passes converge slowly. The cash sleeve is
    pinned the same way at the reserve: buys never take it below the floor, so a target scaled
    below the reserve (pinned overweights) is out of reach too.
    """
    n, k = book.shape
    valid, t, tc, w, min_w = book.valid, s.t, s.tc, s.w, m.min_w
    stuck_buy = valid & (book.do_not_trade | (~m.can_buy & (w < t)))
    if book.hold is not None:
        stuck_buy = stuck_buy | (valid & book.hold)  # held: keeps its weight, like do-not-trade
    stuck_sell = valid & (t < min_w - WEIGHT_EPS)
    reserve = policy.cash_reserve
    cash_pin = np.zeros(n, dtype=bool)
    for _ in range(k + 2):
        pinned = stuck_buy | stuck_sell
        pinned_w = np.where(stuck_buy, w, np.maximum(min_w, 0.0))
        frozen_w = rowsum(np.where(pinned, pinned_w, 0.0))
        frozen_t = rowsum(np.where(pinned, t, 0.0))
        if reserve > 0:
            frozen_w = frozen_w + np.where(cash_pin, reserve, 0.0)
            frozen_t = frozen_t + np.where(cash_pin, tc, 0.0)
        room = 1.0 - frozen_t
        has_room = room > WEIGHT_EPS
        scale = np.where(
            has_room, np.maximum(1.0 - frozen_w, 0.0) / np.where(has_room, room, 1.0), 0.0
        )
        ta = np.where(pinned, pinned_w, t * scale[:, None])
        tca = np.where(has_room, tc * scale, np.maximum(1.0 - frozen_w, 0.0))
        more_buy = stuck_buy | (valid & ~pinned & ~m.can_buy & (w < ta - WEIGHT_EPS))
        more_sell = stuck_sell | (valid & ~pinned & (ta < min_w - WEIGHT_EPS))
        same = (more_buy == stuck_buy).all() and (more_sell == stuck_sell).all()
        if reserve > 0:
            tca = np.where(cash_pin, reserve, tca)
            more_cash = cash_pin | (tca < reserve - WEIGHT_EPS)
            same = same and bool((more_cash == cash_pin).all())
            cash_pin = more_cash
        if same:
            break
        stuck_buy, stuck_sell = more_buy, more_sell & ~more_buy
    return _Aim(ta, tca, ta * s.value[:, None], np.maximum(tca * s.value, s.floor))


def _bands(book: BookArrays, policy: Policy, s: _Standing, m: _Movable, aim: _Aim) -> _Bands:
    """Effective bands: a deviation no trade can fix never triggers.

    Whole shares cannot land closer than a share to a target and no trade is below
    ``min_trade_value``, so a sleeve within one share (whole-share slots) or
    ``min_trade_value`` of its band counts as inside; otherwise a narrow band (a zero-width
    one: relative band, 0% target) would trigger on every run. Cash moves only by trading a
    sleeve, and only trades toward a sleeve's target lower total drift: excess cash by buying
    an underweight sleeve, missing cash by selling an overweight one. So the cash band gets the
    smallest slack of those sleeves (leftover cash below the cheapest underweight share buys
    nothing), and cannot trigger without one. Total drift gets the largest slack.
    """
    ta, tca = aim.ta, aim.tca
    width, cash_width = band_width(ta, policy), band_width(tca, policy)
    share_w = np.where(book.valid & ~book.fractional, s.price / s.safe_value, 0.0)
    trade_w = policy.min_trade_value / s.safe_value[:, 0]
    slack = np.maximum(share_w, trade_w[:, None])
    drift_slack = np.maximum(np.where(m.tradable, slack, 0.0).max(axis=1, initial=0.0), trade_w)
    cash_over = (s.wc > tca)[:, None]
    fixes_cash = m.tradable & np.where(cash_over, m.can_buy & (s.w < ta), m.can_sell & (s.w > ta))
    cash_slack = np.where(fixes_cash, slack, np.inf).min(axis=1, initial=np.inf)
    return _Bands(
        width=width, cash_width=cash_width, slack=slack, cash_slack=cash_slack,
        drift_slack=drift_slack, trigger_width=width + slack, cash_trigger=cash_width + cash_slack,
    )  # fmt: skip


def _breached(
    policy: Policy, b: _Bands, tradable: BoolArray, w: Array, wc: Array, aim: _Aim
) -> BoolArray:
    """The threshold trigger at weights ``w``, ``wc``: a sleeve or total drift out of band."""
    return threshold_breached(
        out_of_band(w - aim.ta, b.trigger_width, tradable),
        np.abs(wc - aim.tca) > b.cash_trigger + WEIGHT_EPS,
        total_drift(w, aim.ta, wc, aim.tca) - b.drift_slack,
        policy,
    )


def _size(
    book: BookArrays,
    policy: Policy,
    *,
    triggers_only: bool = False,
    all_triggered: bool = False,
) -> _Sized | BoolArray:
    """The trades of one pass (see :func:`_one_pass`), not yet finalized.

    ``all_triggered``: return the triggers instead unless every account is triggered.
    """
    s = _standing(book, policy)
    m = _movable(book, s)
    calendar = calendar_due(book.days_since_rebalance, policy)
    live = s.value > 0
    if policy.buy_only:
        # New money on the rule's days: the threshold is cash to deploy, and a calendar date
        # without any does nothing.
        aim = _model_aim(s)
        deployable = _cash_to_deploy(book, policy, s, m, aim)
        fires = deployable & rule_fires(deployable, calendar, policy)
    else:
        aim = _reachable_targets(book, policy, s, m)
        b = _bands(book, policy, s, m, aim)
        fires = rule_fires(_breached(policy, b, m.tradable, s.w, s.wc, aim), calendar, policy)
    triggered = s.cash_short | (live & fires)
    if triggers_only or (all_triggered and not triggered.all()):
        return triggered
    if policy.buy_only:
        plan = _new_money(policy, s, m, aim, triggered)
    else:
        plan = _rebalance_plan(policy, s, m, aim, b, triggered, live, calendar)
    return _sized(book, policy, s, m, plan, live)


def _sized(
    book: BookArrays, policy: Policy, s: _Standing, m: _Movable, plan: _Plan, live: BoolArray
) -> _Sized:
    """A plan (USD) made trades (units): reasons, filters, rounding, funding, leftover fill."""
    aim, a = plan.aim, plan.flow
    reason = _reasons(book, a, plan.drift, all_forced=policy.buy_only)
    status = _status(book, policy, s, m, plan.triggered)
    desired, exempt, status = _worth_it(policy, s, aim, plan.cash_trade + plan.drift, status)
    toward = plan.partial[:, None] & ~book.fractional
    buy_q, sell_q = _whole_units(book, policy, s, m, aim, desired, a.forced, toward, exempt)
    sell_q = _cover_shortfall(book, policy, s, m, sell_q, reason)
    buy_q, sell_q, cash_s = _fund_buys(
        buy_q, sell_q, price=s.price, x=s.x, tgt=aim.tgt, ta=aim.ta, width=plan.width,
        value=s.value, fractional=book.fractional,
        sellable_q=m.sellable_q if book.hold is None else np.where(book.hold, 0.0, m.sellable_q),
        cash0=s.cash0, cash_keep=plan.cash_keep, partial=plan.partial, policy=policy,
    )  # fmt: skip
    candidate = m.tradable & m.can_buy & ~book.fractional & plan.triggered[:, None] & live[:, None]
    buy_q = _fill_leftover(
        buy_q, sell_q, s.price, s.x, aim.tgt, s.value, cash_s, plan.cash_keep, candidate,
        book.fractional, policy, reason,
    )  # fmt: skip
    return _Sized(buy_q - sell_q, reason, status)


def _rebalance_plan(
    policy: Policy, s: _Standing, m: _Movable, aim: _Aim, b: _Bands, triggered: BoolArray,
    live: BoolArray, calendar: BoolArray,
) -> _Plan:  # fmt: skip
    """Rebalancing: cash flow first (phase A), then every deviation shrinks (phase B)."""
    a = _cash_flow_first(policy, s, m, aim, triggered)
    d_a = a.buy - a.sell - a.forced
    ph_b = _shrink(policy, s, m, aim, b, a, d_a, triggered & live, calendar)
    return _Plan(
        aim=aim, flow=a, cash_trade=d_a, drift=ph_b.trade, partial=ph_b.need & (ph_b.lam > 0),
        cash_keep=ph_b.cash_keep, width=b.width, triggered=triggered,
    )  # fmt: skip


def _cash_flow_first(
    policy: Policy, s: _Standing, m: _Movable, aim: _Aim, triggered: BoolArray
) -> _CashFlow:
    """Phase A, cash flow first: excess cash buys underweights, a cash need sells overweights.

    Excess cash is spread over the underweight sleeves pro rata to their deficits.
    """
    excess = np.where(triggered, s.cash0 - aim.cash_goal, 0.0)
    deficit = np.where(m.tradable & m.can_buy, np.maximum(aim.tgt - s.x, 0.0), 0.0)
    fill = np.minimum(1.0, _safe_div(np.maximum(excess, 0.0), rowsum(deficit)))
    buy_a = deficit * fill[:, None]
    sell_a, forced = _raise_cash(policy, s, m, aim.tgt, excess)
    return _CashFlow(buy_a, sell_a, forced)


def _raise_cash(
    policy: Policy, s: _Standing, m: _Movable, tgt: Array, excess: Array
) -> tuple[Array, Array]:
    """``(sales, forced sales)`` (USD) that raise the cash ``excess`` lacks (where negative).

    Overweight sleeves are trimmed toward their targets first (least drift). Still below the
    floor after that (a withdrawal bigger than cash and overweights), the rest of the sellable
    positions are sold pro rata, gross of their costs: forced sales.
    """
    surplus = np.where(
        m.tradable & m.can_sell, np.minimum(np.maximum(s.x - tgt, 0.0), m.sellable_v), 0.0
    )
    trim = np.minimum(1.0, _safe_div(np.maximum(-excess, 0.0), rowsum(surplus)))
    sell_a = surplus * trim[:, None]
    rest = np.where(m.can_sell, m.sellable_v - sell_a, 0.0)
    n_rest = rowsum(rest > 0)
    short = np.where(s.cash_short, np.maximum(s.floor - s.cash0 - rowsum(sell_a), 0.0), 0.0)
    short_gross = np.where(
        short > 0, (short + policy.fee_per_trade * n_rest) / (1 - policy.spread_bps * 1e-4), 0.0
    )
    forced = rest * np.minimum(1.0, _safe_div(short_gross, rowsum(rest)))[:, None]
    return sell_a, forced


def _model_aim(s: _Standing) -> _Aim:
    """Buy-only aims at the effective targets themselves, nothing pinned: an overweight sleeve
    waits for new money instead of lifting the others' targets, so no buy passes its target."""
    return _Aim(s.t, s.tc, s.t * s.value[:, None], np.maximum(s.tc * s.value, s.floor))


def _cash_to_deploy(
    book: BookArrays, policy: Policy, s: _Standing, m: _Movable, aim: _Aim
) -> BoolArray:
    """Buy-only's threshold: cash above the cash goal that pays for the smallest useful buy.

    The smallest buy is one whole share (fractional slots: nothing) or ``min_trade_value``,
    spread and fee included, and at least a cent, of a sleeve it may buy that is below its
    target by more than half a share (so a share lowers its deviation). A cent: what the
    floor moves by when costs are paid (``cash_reserve x costs``) is not new money. Bands
    play no part: new money is put to work whenever there is some.
    """
    sp = policy.spread_bps * 1e-4
    whole = np.where(book.fractional, 0.0, s.price)
    smallest = np.maximum(whole, policy.min_trade_value) * (1 + sp) + policy.fee_per_trade
    gap = aim.tgt - s.x
    under = m.tradable & m.can_buy & (gap > WEIGHT_EPS * s.value[:, None]) & (2 * gap > whole)
    need = np.where(under, smallest, np.inf).min(axis=1, initial=np.inf)
    return s.cash0 - aim.cash_goal > np.maximum(need, _DUST_USD)


def _new_money(policy: Policy, s: _Standing, m: _Movable, aim: _Aim, triggered: BoolArray) -> _Plan:
    """Buy-only: excess cash buys the most underweight sleeves first; no sale but forced ones.

    The buys fill the deepest deficits first (:func:`_water_fill`), never past a target. An
    account short of its floor (a withdrawal, the reserve) sells only what reaches the floor,
    overweight sleeves first, as the rebalancing path does; every such sale is forced.
    """
    n, k = s.x.shape
    deficit = np.where(m.tradable & m.can_buy, np.maximum(aim.tgt - s.x, 0.0), 0.0)
    spare = np.where(triggered & ~s.cash_short, s.cash0 - aim.cash_goal, 0.0)
    buy = _water_fill(deficit, np.maximum(spare, 0.0) / (1 + policy.spread_bps * 1e-4))
    sell, forced = _raise_cash(
        policy, s, m, aim.tgt, np.where(s.cash_short, s.cash0 - s.floor, 0.0)
    )
    zeros = np.zeros((n, k))
    return _Plan(
        aim=aim, flow=_CashFlow(buy, sell, forced), cash_trade=buy - sell - forced, drift=zeros,
        partial=np.zeros(n, dtype=bool), cash_keep=aim.cash_goal, width=zeros,
        triggered=triggered,
    )  # fmt: skip


def _water_fill(deficit: Array, budget: Array) -> Array:
    """Buys (USD) spending ``budget`` on the deepest ``deficit`` first, none past its target.

    Every deficit is cut to a common level ``L`` (``buy = max(deficit - L, 0)``), the lowest
    the budget reaches: the most underweight sleeve is bought first, then it and the next
    together, and so on; a budget that covers every deficit fills them all. ``L`` is the
    classic simplex-projection threshold: with the deficits sorted down, the largest ``j``
    whose ``j``-th deficit stays above ``(sum of the j largest - budget) / j``.
    """
    n, k = deficit.shape
    if k == 0:
        return deficit.copy()
    ranked = -np.sort(-deficit, axis=1)
    level = (np.cumsum(ranked, axis=1) - budget[:, None]) / np.arange(1, k + 1)
    above = ranked > level
    last = k - 1 - np.argmax(above[:, ::-1], axis=1)
    cut = np.where(above.any(axis=1), np.maximum(level[np.arange(n), last], 0.0), np.inf)
    return np.maximum(deficit - cut[:, None], 0.0)


def _shrink(
    policy: Policy,
    s: _Standing,
    m: _Movable,
    aim: _Aim,
    b: _Bands,
    a: _CashFlow,
    d_a: Array,
    eligible: BoolArray,
    calendar: BoolArray,
) -> _Shrink:
    """Phase B: still out of band after phase A (or calendar), on ``eligible`` accounts (live
    and triggered): shrink every deviation by the same factor, so trades fund each other."""
    xa = s.x + d_a
    cash_a = s.cash0 - rowsum(d_a)
    wa, wca, _ = weights(xa, cash_a)
    threshold_a = _breached(policy, b, m.tradable, wa, wca, aim)
    need_b = eligible & rule_fires(threshold_a, calendar, policy)
    lam = _factor(policy, s, m, aim, b, xa, wa, wca)
    goal = aim.tgt + lam[:, None] * (xa - aim.tgt)
    # Cash the buys may not dip below: the (partial) cash goal, never less than the floor.
    cash_target = aim.tca * s.value
    cash_keep = np.maximum(
        np.where(need_b, cash_target + lam * (cash_a - cash_target), aim.cash_goal), s.floor
    )
    d_b = np.where(m.tradable & need_b[:, None], goal - xa, 0.0)
    d_b = np.where(
        d_b > 0,
        np.where(m.can_buy, d_b, 0.0),
        np.maximum(d_b, -np.maximum(m.sellable_v - a.sell - a.forced, 0.0)),
    )
    return _Shrink(d_b, lam, need_b, cash_keep)


def _factor(
    policy: Policy, s: _Standing, m: _Movable, aim: _Aim, b: _Bands, xa: Array, wa: Array,
    wca: Array,
) -> Array:  # fmt: skip
    """Phase B's factor ``lam``: each deviation shrinks to ``lam`` of itself (0: to target)."""
    n = xa.shape[0]
    if policy.rebalance_to == "target":
        return np.zeros(n)
    dev_a = np.concatenate([wa - aim.ta, (wca - aim.tca)[:, None]], axis=1)
    width_all = np.concatenate([b.width, b.cash_width[:, None]], axis=1)
    tradable_all = np.concatenate([m.tradable, np.ones((n, 1), dtype=bool)], axis=1)
    drift_a = total_drift(wa, aim.ta, wca, aim.tca)
    # A sleeve within a trade's reach (its trigger slack) of its aim does not set the factor.
    slacks = {
        "slack": np.concatenate([b.slack, b.cash_slack[:, None]], axis=1),
        "drift_slack": b.drift_slack,
    }
    lam = shrink_factor(dev_a, width_all, tradable_all, policy, drift_a, **slacks)
    if policy.rebalance_to == "band_edge" and (policy.fee_per_trade or policy.spread_bps):
        lam = _edge_after_costs(
            lam, x=s.x, xa=xa, tgt=aim.tgt, value=s.safe_value[:, 0], ta=aim.ta, width=b.width,
            dev_a=dev_a, width_all=width_all, tradable=m.tradable, tradable_all=tradable_all,
            drift=drift_a, policy=policy, slacks=slacks,
        )  # fmt: skip
    return lam


def _reasons(book: BookArrays, a: _CashFlow, d_b: Array, *, all_forced: bool) -> np.ndarray:
    """Reason bits per slot: why phase A and phase B want each trade.

    ``all_forced`` (buy-only): every sale is forced (a buy-only account sells only to reach
    its floor).
    """
    n, k = book.shape
    reason = np.zeros((n, k), dtype=np.int8)
    flow_out = (book.cash_flow < 0)[:, None]
    reason |= np.where(a.buy > _CASH_EPS, CASH_DEPLOY, 0).astype(np.int8)
    raised = (a.sell + a.forced) > _CASH_EPS
    reason |= np.where(raised, np.where(flow_out, WITHDRAWAL, CASH_RAISE), 0).astype(np.int8)
    forced = a.sell + a.forced if all_forced else a.forced
    reason |= np.where(forced > _CASH_EPS, FORCED, 0).astype(np.int8)
    reason |= np.where(d_b > _CASH_EPS, DRIFT_BUY, 0).astype(np.int8)
    reason |= np.where(d_b < -_CASH_EPS, DRIFT_SELL, 0).astype(np.int8)
    return reason


def _status(
    book: BookArrays, policy: Policy, s: _Standing, m: _Movable, triggered: BoolArray
) -> np.ndarray:
    """Status bits: triggered, cash short, and blocks that keep a sleeve out of its band.

    Blocks are reported against the model's targets: a buy of a sleeve below its band that a
    restriction or a wash sale stops, a sale of one above it that do-not-trade or loss lots in
    a wash-sale window stop.
    """
    valid, t, w = book.valid, s.t, s.w
    status = np.where(triggered, TRIGGERED, 0) | np.where(s.cash_short, CASH_SHORT, 0)
    model_width = band_width(t, policy)
    wanted_buy = valid & (t - w > model_width + WEIGHT_EPS)
    wanted_sell = valid & (w - t > model_width + WEIGHT_EPS)
    restricted = (
        wanted_buy & (book.restricted | book.do_not_trade) | wanted_sell & book.do_not_trade
    )
    status |= np.where(restricted.any(axis=1), BLOCKED_RESTRICTED, 0)
    status |= np.where(
        (wanted_buy & book.wash_buy_block).any(axis=1)
        | (wanted_sell & (m.sellable_q < s.qty - _UNIT_EPS) & ~book.do_not_trade).any(axis=1),
        BLOCKED_WASH_SALE,
        0,
    )
    return status


def _worth_it(
    policy: Policy, s: _Standing, aim: _Aim, desired: Array, status: np.ndarray
) -> tuple[Array, BoolArray, np.ndarray]:
    """``(desired, exempt, status)`` after the minimum trade value and cost/benefit test.

    Sales that fix a cash shortfall are exempt; a skipped trade flags ``SKIPPED_COST``.
    """
    exempt = (desired < 0) & s.cash_short[:, None]
    keep = exempt | (
        (np.abs(desired) >= policy.min_trade_value) & worth_trading(s.x - aim.tgt, desired, policy)
    )
    status = status | np.where((~keep & (np.abs(desired) > _CASH_EPS)).any(axis=1), SKIPPED_COST, 0)
    return np.where(keep, desired, 0.0), exempt, status


def _whole_units(
    book: BookArrays, policy: Policy, s: _Standing, m: _Movable, aim: _Aim, desired: Array,
    forced: Array, toward: BoolArray, exempt: BoolArray,
) -> tuple[Array, Array]:  # fmt: skip
    """``(buy units, sell units)``: fractional where allowed; whole shares round sales down
    (up when cash is short) and buys down, so no sale overshoots and no buy overspends.

    Partial modes aim inside the band; rounding down could leave a sleeve just outside it,
    and the next run would trade again. There (``toward``) a trade rounds toward the target
    instead, never past it (whole units to target), so the sleeve lands inside its band.
    """
    price, frac, x, tgt = s.price, book.fractional, s.x, aim.tgt
    sell_units = np.maximum(-desired, 0.0) / price
    buy_units = np.maximum(desired, 0.0) / price
    whole_sell = np.where(
        forced > _CASH_EPS, np.ceil(sell_units - _UNIT_EPS), np.floor(sell_units + _UNIT_EPS)
    )
    to_target = np.floor(np.abs(x - tgt) / price + _UNIT_EPS)
    whole_sell = np.where(
        toward & (x > tgt),
        np.maximum(whole_sell, np.minimum(np.ceil(sell_units - _UNIT_EPS), to_target)),
        whole_sell,
    )
    whole_buy = np.floor(buy_units + _UNIT_EPS)
    whole_buy = np.where(
        toward & (x < tgt),
        np.maximum(whole_buy, np.minimum(np.ceil(buy_units - _UNIT_EPS), to_target)),
        whole_buy,
    )
    sellable_q = m.sellable_q
    sell_q = np.minimum(np.where(frac, sell_units, whole_sell), sellable_q)
    sell_all = (sell_units > 0) & (sell_units >= sellable_q * (1 - 1e-9))
    sell_q = np.where(sell_all, sellable_q, sell_q)
    buy_q = np.where(frac, buy_units, whole_buy)
    sell_v = sell_q * price
    small_sell = (sell_v < policy.min_trade_value) & ~exempt
    sell_q = np.where(small_sell | (sell_v <= trade_cost(sell_v, sell_q > 0, policy)), 0.0, sell_q)
    buy_q = np.where(buy_q * price < policy.min_trade_value, 0.0, buy_q)
    return buy_q, sell_q


def _cover_shortfall(
    book: BookArrays, policy: Policy, s: _Standing, m: _Movable, sell_q: Array,
    reason: np.ndarray,
) -> Array:  # fmt: skip
    """Sales after rounding, topped up so rounding down leaves no coverable cash shortfall.

    Units sold only to close the gap are forced sales for the withdrawal (or the floor):
    ``reason`` gets those bits in place.
    """
    if not s.cash_short.any():
        return sell_q
    # sellable_q is already 0 off valid, tradable slots; held slots stay in: forced sales.
    topped = top_up_cash(
        sell_q, price=s.price, sellable_q=m.sellable_q,
        fractional=book.fractional, cash0=s.cash0, floor=s.floor, cash_short=s.cash_short,
        policy=policy,
    )  # fmt: skip
    extra = topped > sell_q + _UNIT_EPS
    bits = np.where((book.cash_flow < 0)[:, None], WITHDRAWAL, CASH_RAISE) | FORCED
    reason |= np.where(extra, bits, 0).astype(np.int8)
    return topped


def _one_pass(
    book: BookArrays, policy: Policy, *, triggers_only: bool = False
) -> RebalanceResult | BoolArray:
    """One pass of the pipeline over every account."""
    sized = _size(book, policy, triggers_only=triggers_only)
    if not isinstance(sized, _Sized):
        return sized
    return _finalize(book, policy, *sized)


# --- funding -----------------------------------------------------------------------------


def _fund_buys(
    buy_q: Array,
    sell_q: Array,
    *,
    price: Array,
    x: Array,
    tgt: Array,
    ta: Array,
    width: Array,
    value: Array,
    fractional: BoolArray,
    sellable_q: Array,
    cash0: Array,
    cash_keep: Array,
    partial: BoolArray,
    policy: Policy,
) -> tuple[Array, Array, Array]:
    """Buys, sales and cash after the sales, once the buys fit above ``cash_keep``.

    Buys that would take cash below ``cash_keep`` are scaled down. On ``partial`` rows (partial
    modes) the part of each buy that brings its sleeve up to its band's lower edge is funded
    first and only the rest is scaled (see :func:`_fund_band_edges`).
    """
    growth = 1 + policy.spread_bps * 1e-4
    cash_s = cash_after_sales(sell_q, price, cash0, policy)
    buy_v = buy_q * price
    spend = rowsum(buy_v) + rowsum(trade_cost(buy_v, buy_q > 0, policy))
    over = spend > cash_s - cash_keep
    if not over.any():
        return buy_q, sell_q, cash_s
    fees = policy.fee_per_trade * rowsum(buy_q > 0)
    partial = over & partial
    req_q: Array | None = None
    if partial.any():
        req_q, sell_q, cash_s, over = _fund_band_edges(
            buy_q, sell_q, cash_s, over, partial, fees, spend, price=price, x=x, tgt=tgt, ta=ta,
            width=width, value=value, fractional=fractional, sellable_q=sellable_q, cash0=cash0,
            cash_keep=cash_keep, policy=policy,
        )  # fmt: skip
    if req_q is None:  # the usual case: every buy scales
        f = _safe_div(cash_s - cash_keep - fees, rowsum(buy_v) * growth)
        rest_q = buy_q
    else:
        fund = cash_s - cash_keep - fees - rowsum(req_q * price) * growth
        rest_q = buy_q - req_q
        f = _safe_div(fund, rowsum(rest_q * price) * growth)
    f = np.clip(f, 0.0, 1.0) * (1 - 1e-12)
    scaled = np.where(fractional, rest_q * f[:, None], np.floor(rest_q * f[:, None]))
    if req_q is not None:
        scaled = req_q + scaled
    buy_q = np.where(over[:, None], scaled, buy_q)
    buy_q = np.where(buy_q * price < policy.min_trade_value, 0.0, buy_q)
    return buy_q, sell_q, cash_s


def _fund_band_edges(
    buy_q: Array, sell_q: Array, cash_s: Array, over: BoolArray, partial: BoolArray,
    fees: Array, spend: Array, *, price: Array, x: Array, tgt: Array, ta: Array, width: Array,
    value: Array, fractional: BoolArray, sellable_q: Array, cash0: Array, cash_keep: Array,
    policy: Policy,
) -> tuple[Array, Array, Array, BoolArray]:  # fmt: skip
    """``(required buys, sales, cash after sales, over)``: the part of each buy on ``partial``
    rows that brings its sleeve up to its band's lower edge (``ta - width``; whole shares: up
    to it), zero on rows where even that part cannot be funded.

    A pro-rata cut could leave the worst sleeve just outside its band, and a re-run would
    shrink every deviation again. When even that part is short (whole-share sales round
    toward their targets, never past, so they can raise less than planned; costs), the sales
    already made grow toward their targets to fund it.
    """
    sp = policy.spread_bps * 1e-4
    gap = np.maximum((ta - width) * value[:, None] - x, 0.0) / price
    gap = np.where(fractional, gap, np.ceil(gap - _UNIT_EPS))
    req_q = np.where(partial[:, None], np.minimum(gap, buy_q), 0.0)
    req_v = rowsum(req_q * price) * (1 + sp)
    lacking = partial & (req_v > cash_s - cash_keep - fees)
    if lacking.any():
        to_target = np.maximum(x - tgt, 0.0) / price
        to_target = np.where(fractional, to_target, np.floor(to_target + _UNIT_EPS))
        room = np.maximum(np.minimum(to_target, sellable_q) - sell_q, 0.0)
        room = np.where(lacking[:, None] & (sell_q > 0), room, 0.0)
        need = (req_v - (cash_s - cash_keep - fees)) / (1 - sp)
        part = np.minimum(1.0, _safe_div(need, rowsum(room * price)))
        add = room * part[:, None]
        add = np.where(fractional, add, np.minimum(np.ceil(add - _UNIT_EPS), room))
        sell_q = sell_q + add
        cash_s = cash_after_sales(sell_q, price, cash0, policy)
        over = spend > cash_s - cash_keep
    fits = req_v <= cash_s - cash_keep - fees
    return np.where(fits[:, None], req_q, 0.0), sell_q, cash_s, over


def _edge_after_costs(
    lam: Array,
    *,
    x: Array,
    xa: Array,
    tgt: Array,
    value: Array,
    ta: Array,
    width: Array,
    dev_a: Array,
    width_all: Array,
    tradable: BoolArray,
    tradable_all: BoolArray,
    drift: Array,
    policy: Policy,
    slacks: dict[str, Array],
) -> Array:
    """``band_edge``'s factor, with each band narrowed by what the pass's own costs move.

    The worst sleeve is aimed at its band edge, but paying the costs ``C`` moves it: the
    account shrinks by ``C``, so an overweight sleeve on its upper edge rises by
    ``(target + width) x C / (value - C)``; and the buys are scaled down to fund ``C``, so an
    underweight sleeve on its lower edge falls short by its share of the buys times ``C``. A
    re-run would then find it outside its band and shrink every deviation again. So the
    factor aims each sleeve that much inside its band (total drift: ``C / value``). ``C`` is
    the cost of the planned trades; two rounds, as a smaller factor means larger trades.
    """
    k = x.shape[1]
    sp = policy.spread_bps * 1e-4
    out = lam
    for _ in range(2):
        plan = np.where(tradable, (tgt - x) + out[:, None] * (xa - tgt), 0.0)
        moving = np.abs(plan) > _CASH_EPS
        cost = rowsum(np.where(moving, policy.fee_per_trade + sp * np.abs(plan), 0.0))
        c = np.minimum(cost / value, 0.5)
        buys = np.maximum(plan, 0.0)
        share = _safe_div(buys, np.broadcast_to(rowsum(buys)[:, None], buys.shape))
        over = dev_a[:, :k] > 0
        margin = np.where(over, (ta + width) * (c / (1.0 - c))[:, None], share * c[:, None])
        narrowed = np.concatenate([np.maximum(width - margin, 0.0), width_all[:, k:]], axis=1)
        out = np.minimum(
            lam,
            shrink_factor(dev_a, narrowed, tradable_all, policy, drift, drift_margin=c, **slacks),
        )
    return out


# --- the final check ---------------------------------------------------------------------


class _After(NamedTuple):
    """An account once trades are done: their values and costs, cash, weights, drift."""

    trade_v: Array
    cost: Array
    cash: Array
    w: Array
    wc: Array
    value: Array
    drift: Array


def _after(policy: Policy, s: _Standing, signed: Array) -> _After:
    """The accounts of ``s`` after trading ``signed`` units (costs paid from cash)."""
    trade_v = signed * s.price
    cost = trade_cost(trade_v, signed != 0, policy)
    cash_after = s.cash0 - rowsum(trade_v) - rowsum(cost)
    w_post, wc_post, value_post = weights(s.x + trade_v, cash_after)
    drift = total_drift(w_post, s.t, wc_post, s.tc)
    return _After(trade_v, cost, cash_after, w_post, wc_post, value_post, drift)


def _finalize(
    book: BookArrays,
    policy: Policy,
    signed: Array,
    reason: np.ndarray,
    status: np.ndarray,
) -> RebalanceResult:
    """Values, costs, cash, drift and lots of the final trades.

    Drops an account's trades if they would not reduce total drift (a cash shortfall excepted).
    A cash-short account whose cash stays below the floor of the account *after* the trades
    (the floor a re-run sees) is flagged ``SHORTFALL``. ``status`` is updated in place.
    """
    s = _standing(book, policy)
    drift_before = total_drift(s.w, s.t, s.wc, s.tc)
    # Float dust (e.g. passes that cancel to 1e-17 units) is not a trade.
    signed = np.where(np.abs(signed * s.price) < _CASH_EPS, 0.0, signed)
    post = _after(policy, s, signed)
    worse = ~s.cash_short & (post.drift > drift_before + WEIGHT_EPS) & (signed != 0).any(axis=1)
    if worse.any():
        signed = np.where(worse[:, None], 0.0, signed)
        post = _after(policy, s, signed)
    status |= np.where(worse, NO_IMPROVEMENT, 0)
    floor_post = policy.cash_reserve * np.maximum(post.value, 0.0)
    status |= np.where(s.cash_short & (post.cash < floor_post - _CASH_EPS), SHORTFALL, 0)
    reason = np.where(signed > 0, reason & _BUY_BITS, np.where(signed < 0, reason & _SELL_BITS, 0))
    lot_sold, realized, est_tax = _lots_sold(book, policy, s.price, signed)
    return RebalanceResult(
        quantity=signed,
        value=post.trade_v,
        cost=post.cost,
        est_tax=est_tax,
        realized_gain=realized,
        reason=reason.astype(np.int8),
        post_weight=post.w,
        target_weight=s.t,
        drift_before=drift_before,
        drift_after=post.drift,
        cash_before=s.cash0,
        cash_after=post.cash,
        account_value=s.value,
        status=status.astype(np.int8),
        lot_sold=lot_sold,
    )


def _lots_sold(
    book: BookArrays, policy: Policy, price: Array, signed: Array
) -> tuple[Array, Array, Array]:
    """Lots of taxable sales: ``(units sold per lot, realized gain, estimated tax per slot)``."""
    n, k = book.shape
    lots = book.lots
    gain_per_unit, lot_ok = lot_facts(lots, price, book.wash_loss_block)
    sold_units = np.where(book.taxable[:, None], np.maximum(-signed, 0.0), 0.0)
    sale = sell_lots(lots, sold_units, gain_per_unit, lot_ok, policy)
    flat = lots.row * k + lots.col
    realized = np.bincount(flat, weights=sale.gain, minlength=n * k).astype(float).reshape(n, k)
    est_tax = np.bincount(flat, weights=sale.tax, minlength=n * k).astype(float).reshape(n, k)
    return sale.sold, realized, est_tax


# --- leftover cash -----------------------------------------------------------------------


def _fill_leftover(
    buy_q: Array,
    sell_q: Array,
    price: Array,
    x: Array,
    tgt: Array,
    value: Array,
    cash_s: Array,
    cash_keep: Array,
    candidate: BoolArray,
    fractional: BoolArray,
    policy: Policy,
    reason: np.ndarray,
) -> Array:
    """Spend whole-share leftovers on the underweight sleeves, most underweight first.

    A first-fit walk, per account, down the sleeves in order of deficit: each takes as many
    whole shares as its deficit holds (at least one) while the cash lasts, and a sleeve that
    does not fit is passed over for the cheaper ones after it. A second walk tops the
    remaining deficits up by single shares. Only sleeves below target are bought and only with
    cash above the account's cash goal, so each share lowers total drift (the cash sleeve drops
    by the share's price, the sleeve's deviation by at most as much). Like PyPortfolioOpt's
    greedy second pass, without its ten-candidate search limit.

    Cash still left then tops up the fractional buys of the pass (:func:`_top_up_fractional`).
    ``cash_s`` is the cash after the pass's sales; ``reason`` gets ``LEFTOVER_FILL`` in place.
    """
    buy_q = buy_q.copy()
    bought_v = buy_q * price
    spend = rowsum(bought_v) + rowsum(trade_cost(bought_v, buy_q > 0, policy))
    cap = cash_s - spend - cash_keep
    deficit = tgt - (x + bought_v - sell_q * price)
    rows = np.flatnonzero(candidate.any(axis=1) & (cap > 0))
    for round_no in range(policy.max_fill_rounds):
        if rows.size == 0:
            break
        rows = _fill_walk(
            round_no == 0, rows, buy_q, deficit, cap, price, value, candidate, policy, reason
        )
    _top_up_fractional(buy_q, deficit, cap, price, fractional, policy, reason)
    return buy_q


def _fill_walk(
    first: bool, rows: np.ndarray, buy_q: Array, deficit: Array, cap: Array, price: Array,
    value: Array, candidate: BoolArray, policy: Policy, reason: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """One walk of the leftover fill over ``rows`` (``buy_q``, ``deficit``, ``cap`` and
    ``reason`` updated in place); returns the rows a further walk could still buy for."""
    sp = policy.spread_bps * 1e-4
    p = price[rows]
    new = buy_q[rows] == 0
    unit = p * (1 + sp) + np.where(new, policy.fee_per_trade, 0.0)
    d = deficit[rows]
    c = cap[rows]
    ok = candidate[rows] & (d > WEIGHT_EPS * value[rows, None]) & (unit <= c[:, None])
    if policy.fee_per_trade > 0 or policy.min_trade_value > 0 or sp > 0:
        # A new position must be worth its fee: the misallocation one share removes.
        removed = d - np.abs(d - p)
        worth = (p >= policy.min_trade_value) & (
            removed * policy.drift_value_bps * 1e-4 >= policy.fee_per_trade + sp * p
        )
        ok &= ~new | worth
    live_rows = ok.any(axis=1)
    if not live_rows.all():
        rows, ok = rows[live_rows], ok[live_rows]
        p, unit, d, c = p[live_rows], unit[live_rows], d[live_rows], c[live_rows]
        if rows.size == 0:
            return rows
    k = d.shape[1]
    cols, taken, count, c, p_s, d_s = _first_fit(ok, unit, p, d, c, first, sp)
    got = taken > 0
    if not got.any():
        return rows[:0]
    # Back into the book's arrays (contiguous, so the flat views write through).
    flat = (cols.T + rows * k)[got]
    units = taken[got]
    buy_q.reshape(-1)[flat] += units
    deficit.reshape(-1)[flat] -= units * price.reshape(-1)[flat]
    reason.reshape(-1)[flat] |= LEFTOVER_FILL
    cap[rows] = c
    # Only a sleeve that took all its whole shares can have a deficit left that one more
    # share fits (the others ran out of cash, which only shrinks): the next walk is for
    # the accounts that have one.
    rest = d_s - taken * p_s
    again = (got & (taken == count) & (rest > WEIGHT_EPS * value[rows])).any(axis=0)
    return rows[again]


def _first_fit(
    ok: BoolArray, unit: Array, p: Array, d: Array, c: Array, first: bool, sp: float
) -> tuple[np.ndarray, Array, Array, Array, Array, Array]:
    """``(sorted columns, shares taken, shares wanted, cash left, prices, deficits)`` of one
    first-fit walk down each account's sleeves, most underweight first (sorted arrays are
    ``(sleeves x accounts)``).

    The first walk takes as many shares as each deficit holds (at least one), later walks one.
    """
    # Sort each account's sleeves by deficit; gather the sorted columns as rows of a
    # (sleeves x accounts) array through flat indices (one fancy index per array).
    m, k = d.shape
    order = np.argsort(np.where(ok, -d, np.inf), axis=1, kind="stable")
    width = int(ok.sum(axis=1).max())
    local = (order[:, :width] + (np.arange(m) * k)[:, None]).T
    ok_s, u_s, p_s, d_s = (arr.reshape(-1)[local] for arr in (ok, unit, p, d))
    step = p_s * (1 + sp)
    count = np.maximum(np.floor(d_s / p_s), 1.0) if first else np.ones_like(d_s)
    taken = np.zeros_like(u_s)
    for j in range(width):
        u, s = u_s[j], step[j]
        fits = ok_s[j] & (u <= c)
        more = np.floor(np.maximum(c - u, 0.0) / s)
        more = np.where(u + more * s > c, more - 1.0, more)  # float guard
        n_take = np.where(fits, np.minimum(count[j], 1.0 + np.maximum(more, 0.0)), 0.0)
        c = c - np.where(fits, u + (n_take - 1.0) * s, 0.0)
        taken[j] = n_take
    return order[:, :width], taken, count, c, p_s, d_s


def _top_up_fractional(
    buy_q: Array, deficit: Array, cap: Array, price: Array, fractional: BoolArray,
    policy: Policy, reason: np.ndarray,
) -> None:  # fmt: skip
    """Top up the fractional buys of the pass with the cash still left, in place.

    Pro rata to their remaining deficits, never past a target, spread paid; no new trade (no
    fee, no minimum to meet). Otherwise a whole-share sleeve's pro-rata part of the excess cash
    that rounds to no share would stay idle, and each later pass would invest only a fraction
    of it (converging geometrically, short of ``max_passes``).
    """
    sp = policy.spread_bps * 1e-4
    top = fractional & (buy_q > 0) & (deficit > _CASH_EPS)
    rows = np.flatnonzero(top.any(axis=1) & (cap > _CASH_EPS))
    if rows.size:
        d = np.where(top[rows], deficit[rows], 0.0)
        f = np.minimum(1.0, cap[rows] / (rowsum(d) * (1 + sp))) * (1 - 1e-12)
        add = d * f[:, None]
        buy_q[rows] += add / price[rows]
        reason[rows] |= np.where(add > 0, LEFTOVER_FILL, 0).astype(np.int8)
