"""The rebalancing pipeline on dense arrays: triggers, cash-flow first, partial rebalance,
trade sizing, funding, whole-share fill, lots and the final drift check.

Every step is a numpy expression over all accounts at once; the only loops are over the
whole-share fill (at most ``Policy.max_fill_rounds`` walks, each a step per slot column, every
step vectorized over accounts) and over lot ranks.
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
from rebalancer.engine._cash import top_up_cash
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


def rebalance(book: BookArrays, policy: Policy) -> RebalanceResult:
    """Rebalance every account of ``book`` under ``policy``. Pure: same input, same output.

    Runs the one-pass pipeline again on the accounts that traded, as if their trades had been
    executed (up to ``policy.max_passes``), and nets the passes: whole-share rounding and
    funding limits can leave a pass short of its goal, and the result should be a fixed point
    (rebalancing a freshly rebalanced account yields nothing).
    """
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
        rows = rows[moved]
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
                break
            rows = rows[again]
            state = state.rows(np.flatnonzero(again))
            sized = _size(state, policy)
            assert isinstance(sized, _Sized)
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


class _Sized(NamedTuple):
    """A pass's trades before :func:`_finalize` (signed units, reason and status bits)."""

    signed: Array
    reason: np.ndarray
    status: np.ndarray


def _one_pass(
    book: BookArrays, policy: Policy, *, triggers_only: bool = False
) -> RebalanceResult | BoolArray:
    """One pass of the pipeline over every account."""
    sized = _size(book, policy, triggers_only=triggers_only)
    if not isinstance(sized, _Sized):
        return sized
    return _finalize(book, policy, *sized)


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
    n, k = book.shape
    valid = book.valid
    price = np.where(valid, book.price, 1.0)
    qty = np.where(valid, book.quantity, 0.0)
    x = qty * price
    cash0 = book.cash + book.cash_flow

    # Effective targets: the model, with its cash sleeve lifted to the reserve.
    tc_model = book.cash_target
    tc = np.maximum(tc_model, policy.cash_reserve)
    lift = np.where(tc_model < 1, (1 - tc) / np.where(tc_model < 1, 1 - tc_model, 1.0), 0.0)
    t = np.where(valid, book.target, 0.0) * lift[:, None]
    w, wc, value = weights(x, cash0)
    floor = policy.cash_reserve * np.maximum(value, 0.0)

    # What can move: restrictions, do-not-trade, wash-sale blocks, loss lots.
    lots = book.lots
    _, lot_ok = lot_facts(lots, price, book.wash_loss_block)
    sellable_q = np.where(
        valid & ~book.do_not_trade,
        np.maximum(qty - blocked_quantity(lots, lot_ok, (n, k)), 0.0),
        0.0,
    )
    # Whole-share slots sell whole units, unless the whole (possibly fractional) holding goes.
    whole_cap = np.floor(sellable_q + _UNIT_EPS)
    full = sellable_q >= qty - _UNIT_EPS
    sellable_q = np.where(book.fractional | full, sellable_q, np.minimum(whole_cap, sellable_q))
    sellable_v = sellable_q * price
    can_buy = valid & ~book.restricted & ~book.do_not_trade & ~book.wash_buy_block
    can_sell = sellable_q > 0
    # Pinned sleeves cannot reach their target: do-not-trade, a blocked buy of an underweight,
    # or a target below the part that cannot be sold (loss lots in a wash-sale window). They
    # keep the weight they can reach; the rest of the model scales to what is left.
    safe_value = np.where(value > 0, value, 1.0)[:, None]
    min_w = np.where(value[:, None] > 0, (qty - sellable_q) * price / safe_value, 0.0)
    stuck_buy = valid & (book.do_not_trade | (~can_buy & (w < t)))
    stuck_sell = valid & (t < min_w - WEIGHT_EPS)
    tradable = valid & ~book.do_not_trade
    # Scaling the rest of the model up can put another blocked sleeve out of reach (a blocked
    # buy now below its scaled target, a scaled target below the unsellable part): pin those too,
    # until no row changes (the pinned set only grows, so at most ``k`` rounds). Otherwise a
    # sleeve the engine cannot move keeps the account triggered and the passes converge slowly.
    # The cash sleeve is pinned the same way at the reserve: buys never take it below the
    # floor, so a target scaled below the reserve (pinned overweights) is out of reach too.
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
        more_buy = stuck_buy | (valid & ~pinned & ~can_buy & (w < ta - WEIGHT_EPS))
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

    # Triggers.
    width, cash_width = band_width(ta, policy), band_width(tca, policy)
    # Effective bands: a deviation no trade can fix never triggers. Whole shares cannot land
    # closer than a share to a target and no trade is below ``min_trade_value``, so a sleeve
    # within one share (whole-share slots) or ``min_trade_value`` of its band counts as inside;
    # otherwise a narrow band (a zero-width one: relative band, 0% target) would trigger on
    # every run. Cash moves only by trading a sleeve, and only trades toward a sleeve's target
    # lower total drift: excess cash by buying an underweight sleeve, missing cash by selling
    # an overweight one. So the cash band gets the smallest slack of those sleeves (leftover
    # cash below the cheapest underweight share buys nothing), and cannot trigger without
    # one. Total drift gets the largest slack.
    share_w = np.where(valid & ~book.fractional, price / safe_value, 0.0)
    trade_w = policy.min_trade_value / safe_value[:, 0]
    slack = np.maximum(share_w, trade_w[:, None])
    drift_slack = np.maximum(np.where(tradable, slack, 0.0).max(axis=1, initial=0.0), trade_w)
    trigger_width = width + slack
    cash_over = (wc > tca)[:, None]
    fixes_cash = tradable & np.where(cash_over, can_buy & (w < ta), can_sell & (w > ta))
    cash_slack = np.where(fixes_cash, slack, np.inf).min(axis=1, initial=np.inf)
    cash_trigger = cash_width + cash_slack
    threshold = threshold_breached(
        out_of_band(w - ta, trigger_width, tradable),
        np.abs(wc - tca) > cash_trigger + WEIGHT_EPS,
        total_drift(w, ta, wc, tca) - drift_slack,
        policy,
    )
    calendar = calendar_due(book.days_since_rebalance, policy)
    cash_short = cash0 < floor - _CASH_EPS
    live = value > 0
    triggered = cash_short | (live & rule_fires(threshold, calendar, policy))
    if triggers_only or (all_triggered and not triggered.all()):
        return triggered

    # Phase A, cash flow first: excess cash buys underweights, a cash need sells overweights.
    tgt = ta * value[:, None]
    cash_goal = np.maximum(tca * value, floor)
    excess = np.where(triggered, cash0 - cash_goal, 0.0)
    deficit = np.where(tradable & can_buy, np.maximum(tgt - x, 0.0), 0.0)
    fill = np.minimum(1.0, _safe_div(np.maximum(excess, 0.0), rowsum(deficit)))
    buy_a = deficit * fill[:, None]
    surplus = np.where(tradable & can_sell, np.minimum(np.maximum(x - tgt, 0.0), sellable_v), 0.0)
    trim = np.minimum(1.0, _safe_div(np.maximum(-excess, 0.0), rowsum(surplus)))
    sell_a = surplus * trim[:, None]
    # Still below the floor (a withdrawal bigger than cash + overweights): sell pro rata.
    rest = np.where(can_sell, sellable_v - sell_a, 0.0)
    n_rest = rowsum(rest > 0)
    short = np.where(cash_short, np.maximum(floor - cash0 - rowsum(sell_a), 0.0), 0.0)
    short_gross = np.where(
        short > 0, (short + policy.fee_per_trade * n_rest) / (1 - policy.spread_bps * 1e-4), 0.0
    )
    forced = rest * np.minimum(1.0, _safe_div(short_gross, rowsum(rest)))[:, None]
    d_a = buy_a - sell_a - forced

    # Phase B: still out of band (or calendar) -> shrink every deviation by the same factor.
    xa = x + d_a
    cash_a = cash0 - rowsum(d_a)
    wa, wca, _ = weights(xa, cash_a)
    dev_a = np.concatenate([wa - ta, (wca - tca)[:, None]], axis=1)
    width_all = np.concatenate([width, cash_width[:, None]], axis=1)
    tradable_all = np.concatenate([tradable, np.ones((n, 1), dtype=bool)], axis=1)
    threshold_a = threshold_breached(
        out_of_band(dev_a[:, :k], trigger_width, tradable),
        np.abs(dev_a[:, k]) > cash_trigger + WEIGHT_EPS,
        total_drift(wa, ta, wca, tca) - drift_slack,
        policy,
    )
    need_b = triggered & live & rule_fires(threshold_a, calendar, policy)
    drift_a = total_drift(wa, ta, wca, tca)
    if policy.rebalance_to == "target":
        lam = np.zeros(n)
    else:
        # A sleeve within a trade's reach (its trigger slack) of its aim does not set the factor.
        slacks = {
            "slack": np.concatenate([slack, cash_slack[:, None]], axis=1),
            "drift_slack": drift_slack,
        }
        lam = shrink_factor(dev_a, width_all, tradable_all, policy, drift_a, **slacks)
        if policy.rebalance_to == "band_edge" and (policy.fee_per_trade or policy.spread_bps):
            lam = _edge_after_costs(
                lam, x=x, xa=xa, tgt=tgt, value=safe_value[:, 0], ta=ta, width=width,
                dev_a=dev_a, width_all=width_all, tradable=tradable, tradable_all=tradable_all,
                drift=drift_a, policy=policy, slacks=slacks,
            )  # fmt: skip
    goal = tgt + lam[:, None] * (xa - tgt)
    # Cash the buys may not dip below: the (partial) cash goal, never less than the floor.
    cash_keep = np.maximum(
        np.where(need_b, tca * value + lam * (cash_a - tca * value), cash_goal), floor
    )
    d_b = np.where(tradable & need_b[:, None], goal - xa, 0.0)
    d_b = np.where(
        d_b > 0,
        np.where(can_buy, d_b, 0.0),
        np.maximum(d_b, -np.maximum(sellable_v - sell_a - forced, 0.0)),
    )
    desired = d_a + d_b

    reason = np.zeros((n, k), dtype=np.int8)
    flow_out = (book.cash_flow < 0)[:, None]
    reason |= np.where(buy_a > _CASH_EPS, CASH_DEPLOY, 0).astype(np.int8)
    raised = (sell_a + forced) > _CASH_EPS
    reason |= np.where(raised, np.where(flow_out, WITHDRAWAL, CASH_RAISE), 0).astype(np.int8)
    reason |= np.where(forced > _CASH_EPS, FORCED, 0).astype(np.int8)
    reason |= np.where(d_b > _CASH_EPS, DRIFT_BUY, 0).astype(np.int8)
    reason |= np.where(d_b < -_CASH_EPS, DRIFT_SELL, 0).astype(np.int8)

    status = np.where(triggered, TRIGGERED, 0) | np.where(cash_short, CASH_SHORT, 0)
    # Report blocks that stop a sleeve from leaving the band it is outside of (model targets).
    model_width = band_width(t, policy)
    wanted_buy = valid & (t - w > model_width + WEIGHT_EPS)
    wanted_sell = valid & (w - t > model_width + WEIGHT_EPS)
    status |= np.where(
        (wanted_buy & (book.restricted | book.do_not_trade) | wanted_sell & book.do_not_trade).any(
            axis=1
        ),
        BLOCKED_RESTRICTED,
        0,
    )
    status |= np.where(
        (wanted_buy & book.wash_buy_block).any(axis=1)
        | (wanted_sell & (sellable_q < qty - _UNIT_EPS) & ~book.do_not_trade).any(axis=1),
        BLOCKED_WASH_SALE,
        0,
    )

    # Minimum trade value and cost/benefit (sales that fix a cash shortfall are exempt).
    exempt = (desired < 0) & cash_short[:, None]
    keep = exempt | (
        (np.abs(desired) >= policy.min_trade_value) & worth_trading(x - tgt, desired, policy)
    )
    status |= np.where((~keep & (np.abs(desired) > _CASH_EPS)).any(axis=1), SKIPPED_COST, 0)
    desired = np.where(keep, desired, 0.0)

    # Units: fractional where allowed; whole shares round sales down (up when cash is short)
    # and buys down, so no sale overshoots its target and no buy overspends.
    frac = book.fractional
    sell_units = np.maximum(-desired, 0.0) / price
    buy_units = np.maximum(desired, 0.0) / price
    whole_sell = np.where(
        forced > _CASH_EPS, np.ceil(sell_units - _UNIT_EPS), np.floor(sell_units + _UNIT_EPS)
    )
    # Partial modes aim inside the band; rounding down could leave a sleeve just outside it,
    # and the next run would trade again. There a trade rounds toward the target instead,
    # never past it (whole units to target), so the sleeve lands inside its band.
    toward = (need_b & (lam > 0))[:, None] & ~frac
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
    sell_q = np.minimum(np.where(frac, sell_units, whole_sell), sellable_q)
    sell_all = (sell_units > 0) & (sell_units >= sellable_q * (1 - 1e-9))
    sell_q = np.where(sell_all, sellable_q, sell_q)
    buy_q = np.where(frac, buy_units, whole_buy)
    sell_v = sell_q * price
    small_sell = (sell_v < policy.min_trade_value) & ~exempt
    sell_q = np.where(small_sell | (sell_v <= trade_cost(sell_v, sell_q > 0, policy)), 0.0, sell_q)
    buy_q = np.where(buy_q * price < policy.min_trade_value, 0.0, buy_q)
    # Rounding down must not leave a coverable cash shortfall: top it up with the least overshoot.
    if cash_short.any():
        topped = top_up_cash(
            sell_q, price=price, sellable_q=np.where(tradable, sellable_q, 0.0), fractional=frac,
            cash0=cash0, floor=floor, cash_short=cash_short, policy=policy,
        )  # fmt: skip
        # Units sold only to close the gap are forced sales for the withdrawal (or the floor).
        extra = topped > sell_q + _UNIT_EPS
        bits = np.where(flow_out, WITHDRAWAL, CASH_RAISE) | FORCED
        reason |= np.where(extra, bits, 0).astype(np.int8)
        sell_q = topped

    # Funding: buys never take cash below the floor; scale them down if they would.
    buy_q, sell_q, cash_s = _fund_buys(
        buy_q, sell_q, price=price, x=x, tgt=tgt, ta=ta, width=width, value=value, fractional=frac,
        sellable_q=sellable_q, cash0=cash0, cash_keep=cash_keep, partial=need_b & (lam > 0),
        policy=policy,
    )  # fmt: skip

    buy_q = _fill_leftover(
        buy_q, sell_q, price, x, tgt, value, cash_s, cash_keep,
        tradable & can_buy & ~frac & triggered[:, None] & live[:, None], frac, policy, reason,
    )  # fmt: skip

    return _Sized(buy_q - sell_q, reason, status)


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
    modes) the part of each buy that brings its sleeve up to its band's lower edge (``ta -
    width``; whole shares: up to it) is funded first and only the rest is scaled: a pro-rata cut
    could leave the worst sleeve just outside its band, and a re-run would shrink every
    deviation again. When even that part is short (whole-share sales round toward their
    targets, never past, so they can raise less than planned; costs), the sales already made
    grow toward their targets to fund it.
    """
    sp = policy.spread_bps * 1e-4
    growth = 1 + sp

    def after_sales(sell_q: Array) -> Array:
        sell_v = sell_q * price
        return cash0 + rowsum(sell_v) - rowsum(trade_cost(sell_v, sell_q > 0, policy))

    cash_s = after_sales(sell_q)
    buy_v = buy_q * price
    spend = rowsum(buy_v) + rowsum(trade_cost(buy_v, buy_q > 0, policy))
    over = spend > cash_s - cash_keep
    if not over.any():
        return buy_q, sell_q, cash_s
    fees = policy.fee_per_trade * rowsum(buy_q > 0)
    partial = over & partial
    req_q: Array | None = None
    if partial.any():
        gap = np.maximum((ta - width) * value[:, None] - x, 0.0) / price
        gap = np.where(fractional, gap, np.ceil(gap - _UNIT_EPS))
        req_q = np.where(partial[:, None], np.minimum(gap, buy_q), 0.0)
        req_v = rowsum(req_q * price) * growth
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
            cash_s = after_sales(sell_q)
            over = spend > cash_s - cash_keep
        fits = req_v <= cash_s - cash_keep - fees
        req_q = np.where(fits[:, None], req_q, 0.0)
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
    (the floor a re-run sees) is flagged ``SHORTFALL``.
    """
    n, k = book.shape
    valid = book.valid
    price = np.where(valid, book.price, 1.0)
    x = np.where(valid, book.quantity, 0.0) * price
    cash0 = book.cash + book.cash_flow
    tc_model = book.cash_target
    tc = np.maximum(tc_model, policy.cash_reserve)
    lift = np.where(tc_model < 1, (1 - tc) / np.where(tc_model < 1, 1 - tc_model, 1.0), 0.0)
    t = np.where(valid, book.target, 0.0) * lift[:, None]
    w, wc, value = weights(x, cash0)
    drift_before = total_drift(w, t, wc, tc)
    floor = policy.cash_reserve * np.maximum(value, 0.0)
    cash_short = cash0 < floor - _CASH_EPS
    lots = book.lots
    gain_per_unit, lot_ok = lot_facts(lots, price, book.wash_loss_block)
    # Float dust (e.g. passes that cancel to 1e-17 units) is not a trade.
    signed = np.where(np.abs(signed * price) < _CASH_EPS, 0.0, signed)
    trade_v = signed * price
    cost = trade_cost(trade_v, signed != 0, policy)
    cash_after = cash0 - rowsum(trade_v) - rowsum(cost)
    w_post, wc_post, value_post = weights(x + trade_v, cash_after)
    drift_after = total_drift(w_post, t, wc_post, tc)
    worse = ~cash_short & (drift_after > drift_before + WEIGHT_EPS) & (signed != 0).any(axis=1)
    if worse.any():
        signed = np.where(worse[:, None], 0.0, signed)
        trade_v = signed * price
        cost = trade_cost(trade_v, signed != 0, policy)
        cash_after = cash0 - rowsum(trade_v) - rowsum(cost)
        w_post, wc_post, value_post = weights(x + trade_v, cash_after)
        drift_after = total_drift(w_post, t, wc_post, tc)
    status |= np.where(worse, NO_IMPROVEMENT, 0)
    floor_post = policy.cash_reserve * np.maximum(value_post, 0.0)
    status |= np.where(cash_short & (cash_after < floor_post - _CASH_EPS), SHORTFALL, 0)
    reason = np.where(signed > 0, reason & _BUY_BITS, np.where(signed < 0, reason & _SELL_BITS, 0))

    # Lots of taxable sales.
    sold_units = np.where(book.taxable[:, None], np.maximum(-signed, 0.0), 0.0)
    sale = sell_lots(lots, sold_units, gain_per_unit, lot_ok, policy)
    flat = lots.row * k + lots.col
    realized = np.bincount(flat, weights=sale.gain, minlength=n * k).astype(float).reshape(n, k)
    est_tax = np.bincount(flat, weights=sale.tax, minlength=n * k).astype(float).reshape(n, k)

    return RebalanceResult(
        quantity=signed,
        value=trade_v,
        cost=cost,
        est_tax=est_tax,
        realized_gain=realized,
        reason=reason.astype(np.int8),
        post_weight=w_post,
        target_weight=t,
        drift_before=drift_before,
        drift_after=drift_after,
        cash_before=cash0,
        cash_after=cash_after,
        account_value=value,
        status=status.astype(np.int8),
        lot_sold=sale.sold,
    )


def _fill_leftover(
    buy_q: Array,
    sell_q: Array,
    price: Array,
    x: Array,
    tgt: Array,
    value: Array,
    cash_after_sales: Array,
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

    Cash still left then tops up the fractional buys of the pass, pro rata to their remaining
    deficits (never past a target, spread paid): otherwise a whole-share sleeve's pro-rata
    part of the excess cash that rounds to no share would stay idle, and each later pass would
    invest only a fraction of it (converging geometrically, short of ``max_passes``).
    """
    sp = policy.spread_bps * 1e-4
    buy_q = buy_q.copy()
    bought_v = buy_q * price
    spend = rowsum(bought_v) + rowsum(trade_cost(bought_v, buy_q > 0, policy))
    cap = cash_after_sales - spend - cash_keep
    deficit = tgt - (x + bought_v - sell_q * price)
    rows = np.flatnonzero(candidate.any(axis=1) & (cap > 0))
    for round_no in range(policy.max_fill_rounds):
        if rows.size == 0:
            break
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
                break
        # Sort each account's sleeves by deficit; gather the sorted columns as rows of a
        # (sleeves x accounts) array through flat indices (one fancy index per array).
        m, k = d.shape
        order = np.argsort(np.where(ok, -d, np.inf), axis=1, kind="stable")
        width = int(ok.sum(axis=1).max())
        local = (order[:, :width] + (np.arange(m) * k)[:, None]).T
        ok_s, u_s, p_s, d_s = (arr.reshape(-1)[local] for arr in (ok, unit, p, d))
        step = p_s * (1 + sp)
        # First walk: as many shares as the deficit holds; later walks: one share.
        count = np.maximum(np.floor(d_s / p_s), 1.0) if round_no == 0 else np.ones_like(d_s)
        taken = np.zeros_like(u_s)
        for j in range(width):
            u, s = u_s[j], step[j]
            fits = ok_s[j] & (u <= c)
            more = np.floor(np.maximum(c - u, 0.0) / s)
            more = np.where(u + more * s > c, more - 1.0, more)  # float guard
            n_take = np.where(fits, np.minimum(count[j], 1.0 + np.maximum(more, 0.0)), 0.0)
            c = c - np.where(fits, u + (n_take - 1.0) * s, 0.0)
            taken[j] = n_take
        got = taken > 0
        if not got.any():
            break
        # Back into the book's arrays (contiguous, so the flat views write through).
        flat = (order[:, :width].T + rows * k)[got]
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
        rows = rows[again]

    # Fractional top-up of the buys already made (no new trade: no fee, no minimum to meet).
    top = fractional & (buy_q > 0) & (deficit > _CASH_EPS)
    rows = np.flatnonzero(top.any(axis=1) & (cap > _CASH_EPS))
    if rows.size:
        d = np.where(top[rows], deficit[rows], 0.0)
        f = np.minimum(1.0, cap[rows] / (rowsum(d) * (1 + sp))) * (1 - 1e-12)
        add = d * f[:, None]
        buy_q[rows] += add / price[rows]
        reason[rows] |= np.where(add > 0, LEFTOVER_FILL, 0).astype(np.int8)
    return buy_q
