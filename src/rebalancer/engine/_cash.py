"""Cash top-up: whole-share rounding must never leave a cash shortfall the account can cover.

Sales round *down* to whole shares so none overshoots its target. When the account is short of
cash (a withdrawal, a negative balance, a reserve), that rounding can leave it a fraction of a
share short. This step sells the few extra units that close the gap, choosing the position
whose sale overshoots the gap least, so the account lands just above its floor and a second run
finds nothing more to do.
"""

from __future__ import annotations

import numpy as np

from rebalancer.engine._drift import Array, BoolArray, rowsum
from rebalancer.engine._policy import Policy

_EPS = 1e-6
_UNIT_EPS = 1e-9
_MAX_ROUNDS = 8


def cash_after_sales(sell_q: Array, price: Array, cash0: Array, policy: Policy) -> Array:
    """Cash once the sales settle, net of their costs."""
    value = sell_q * price
    cost = np.where(sell_q > 0, policy.fee_per_trade + policy.spread_bps * 1e-4 * value, 0.0)
    return cash0 + rowsum(value) - rowsum(cost)


def top_up_cash(
    sell_q: Array,
    *,
    price: Array,
    sellable_q: Array,
    fractional: BoolArray,
    cash0: Array,
    floor: Array,
    cash_short: BoolArray,
    policy: Policy,
) -> Array:
    """Add the smallest sales that lift a cash-short account back to its floor.

    Parameters
    ----------
    sell_q
        Units each slot already sells (non-negative), accounts x securities.
    price, sellable_q, fractional
        Prices, the units each slot may sell at most, and where fractions are allowed.
    cash0, floor, cash_short
        Cash before trades (flows applied), the cash floor, and the accounts short of it.

    Returns
    -------
    The new sell quantities; rows that were not short, or that nothing can cover, keep theirs
    (the second case is reported by the caller as a shortfall).
    """
    sell_q = sell_q.copy()
    net = 1.0 - policy.spread_bps * 1e-4
    rows_all = np.arange(sell_q.shape[0])
    for _ in range(_MAX_ROUNDS):
        gap = np.where(cash_short, floor - cash_after_sales(sell_q, price, cash0, policy), 0.0)
        need = gap > _EPS
        left = np.maximum(sellable_q - sell_q, 0.0)
        if not need.any() or not (left[need] > _UNIT_EPS).any():
            break
        fee = np.where(sell_q > 0, 0.0, policy.fee_per_trade)
        exact = (gap[:, None] + fee) / (price * net)
        units = np.where(fractional, exact, np.ceil(exact - _UNIT_EPS))
        units = np.where(units > left + _UNIT_EPS, np.inf, units)  # this slot alone cannot cover
        units = np.where(left > _UNIT_EPS, units, np.inf)
        overshoot = units * price * net - fee - gap[:, None]
        best = np.argmin(overshoot, axis=1)
        covered = need & np.isfinite(overshoot[rows_all, best])
        sell_q[rows_all[covered], best[covered]] += units[rows_all[covered], best[covered]]
        # No single slot covers the gap: sell the largest remaining slot whole and go again.
        stuck = need & ~covered
        if stuck.any():
            biggest = np.argmax(left * price, axis=1)
            rows = rows_all[stuck]
            sell_q[rows, biggest[stuck]] += left[rows, biggest[stuck]]
    return sell_q
