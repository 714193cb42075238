"""Transaction cost model and the cost/benefit test."""

from __future__ import annotations

import numpy as np

from rebalancer.engine._drift import Array, BoolArray
from rebalancer.engine._policy import Policy


def trade_cost(value: Array, traded: BoolArray, policy: Policy) -> Array:
    """``fee + spread_bps / 1e4 x |value|`` for each traded slot, 0 elsewhere.

    >>> policy = Policy(fee_per_trade=1.0)
    >>> trade_cost(np.array([1000.0, 0.0]), np.array([True, False]), policy).tolist()
    [1.5, 0.0]
    """
    return np.where(traded, policy.fee_per_trade + policy.spread_bps * 1e-4 * np.abs(value), 0.0)


def worth_trading(deviation_before: Array, trade_value: Array, policy: Policy) -> BoolArray:
    """True where a trade's benefit covers its cost.

    ``deviation_before`` is position value minus target value (USD) and ``trade_value`` the
    signed trade (USD, + buy). The benefit is the misallocation removed,
    ``|dev| - |dev + trade|``, valued at ``drift_value_bps``; a trade that removes nothing is
    never worth it.
    """
    removed = np.abs(deviation_before) - np.abs(deviation_before + trade_value)
    benefit = removed * policy.drift_value_bps * 1e-4
    cost = trade_cost(trade_value, trade_value != 0, policy)
    return (removed > 0) & (benefit >= cost)
