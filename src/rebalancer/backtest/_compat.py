"""bt compatibility mode: bt's sizing conventions, for checking the simulator against bt.

bt (``bt.algos.Rebalance`` over ``SecurityBase.allocate``) trades at the close of the day its
schedule fires (``RunMonthly``: the first trading day of each new month, the first day
included: :func:`~rebalancer.backtest.period_starts`). For each asset it allocates
``(target - weight) x value``, both taken before any trade; with integer positions the share
count is floored (a sale therefore sells the extra share), and a commission ``fee(q, p)`` is
paid from cash, the quantity shrunk so a buy's outlay stays within its amount and a sale raises
at least its amount. With a proportional fee ``rate x |q| x p`` that is, in closed form:

* buys:  ``q = amount / (p (1 + rate))``, floored with integer positions;
* sales: ``q = amount / (p (1 - rate))``, floored (away from zero) with integer positions.

bt's own loop converges to the same quantity (its fractional search stops within 1e-8 USD of
the amount). In this mode the engine is not called: the mode checks the simulator's schedule,
marking and cost accounting against bt, not the engine's sizing (the engine sizes whole shares
differently: it fills leftover cash and skips trades not worth their cost).
"""

from __future__ import annotations

import numpy as np

from rebalancer.backtest._base import Array


def bt_cash(cash: float, quantity: Array, price: Array, fee: Array) -> float:
    """Cash after the orders, debited one asset at a time in order, as bt's ``adjust`` does."""
    return float(np.cumsum(np.concatenate([[cash], -(quantity * price + fee)]))[-1])


def bt_orders(
    quantity: Array, price: Array, cash: float, target: Array, *, rate: float, integer: bool
) -> tuple[Array, Array]:
    """``(signed quantities, fees)`` bt's ``Rebalance`` would trade, per asset."""
    value = quantity * price
    # bt sums cash then each position in order (sequential, like cumsum), and so must we to
    # floor the same share counts when an amount is within float noise of a whole share.
    base = float(np.cumsum(np.concatenate([[cash], value]))[-1])
    amount = (target - value / base) * base  # bt's arithmetic: (weight - current) x base
    buy = amount > 0
    q = amount / (price * np.where(buy, 1.0 + rate, 1.0 - rate))
    if integer:
        long = (quantity > 0) | ((quantity == 0) & buy)
        q = np.where(long, np.floor(q), np.ceil(q))
    # bt skips an allocation within float noise of zero (``is_zero``).
    q = np.where(np.abs(amount) < 1e-12, 0.0, q)
    closing = (target == 0) & (quantity != 0)
    q = np.where(closing, -quantity, q)
    fee = np.abs(q) * price * rate
    return q, fee
