"""Tax lots: which lots a sale uses, and the estimated gain and tax.

Lots are flat arrays addressed by ``(row, col)``: the account row and slot of the dense book.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rebalancer.engine._drift import Array, BoolArray
from rebalancer.engine._policy import Policy

IntArray = npt.NDArray[np.int64]

#: Lot categories of the tax-aware order: losses first, then long-term gains, short-term last.
LOSS, LONG_TERM_GAIN, SHORT_TERM_GAIN = 0, 1, 2


@dataclass(frozen=True)
class LotArrays:
    """Open tax lots of taxable accounts.

    Attributes
    ----------
    row, col
        Account row and slot each lot belongs to.
    lot_id
        Identifier, reported in ``lots`` of the recommendation.
    quantity, cost_basis
        Units remaining and their total cost basis (USD).
    age_days
        Days held at ``as_of``; more than 365 is long-term.
    """

    row: IntArray
    col: IntArray
    lot_id: npt.NDArray[np.object_]
    quantity: Array
    cost_basis: Array
    age_days: Array

    @classmethod
    def empty(cls) -> LotArrays:
        """No lots."""
        z = np.zeros(0)
        i = np.zeros(0, dtype=np.int64)
        return cls(i, i, np.zeros(0, dtype=object), z, z, z)

    def take(self, mask: BoolArray, row_map: IntArray | None = None) -> LotArrays:
        """A subset of lots, rows renumbered through ``row_map`` if given."""
        row = self.row[mask]
        return LotArrays(
            row if row_map is None else row_map[row],
            self.col[mask],
            self.lot_id[mask],
            self.quantity[mask],
            self.cost_basis[mask],
            self.age_days[mask],
        )


@dataclass(frozen=True)
class LotSale:
    """Per lot: units sold, realized gain and estimated tax (same order as the input lots)."""

    sold: Array
    gain: Array
    tax: Array


def lot_facts(lots: LotArrays, price: Array, loss_blocked: BoolArray) -> tuple[Array, BoolArray]:
    """Gain per unit at today's price, and whether the lot may be sold.

    A lot that would realize a loss is unsellable while the household bought the security in
    the wash-sale window (``loss_blocked``): selling it would be a wash sale.
    """
    per_unit_cost = np.divide(
        lots.cost_basis, lots.quantity, out=np.zeros_like(lots.cost_basis), where=lots.quantity > 0
    )
    gain_per_unit = price[lots.row, lots.col] - per_unit_cost
    blocked = (gain_per_unit < 0) & loss_blocked[lots.row, lots.col]
    return gain_per_unit, ~blocked & (lots.quantity > 0)


def blocked_quantity(lots: LotArrays, sellable: BoolArray, shape: tuple[int, int]) -> Array:
    """Units per slot held in lots that may not be sold."""
    flat = lots.row * shape[1] + lots.col
    weights = np.where(sellable, 0.0, lots.quantity)
    out = np.bincount(flat, weights=weights, minlength=shape[0] * shape[1]).astype(np.float64)
    return out.reshape(shape)


def sell_lots(
    lots: LotArrays,
    sell_quantity: Array,
    gain_per_unit: Array,
    sellable: BoolArray,
    policy: Policy,
) -> LotSale:
    """Allocate each slot's sale across its lots in the policy's order.

    ``tax_aware``: losses first (largest loss per unit first), then long-term gains, then
    short-term gains, highest cost first within each group (HIFO keeps realized gains small).
    ``hifo``: highest cost first. ``fifo``: oldest first. Unsellable lots come last and are
    never used (the sale size already excludes them).
    """
    total = lots.row.size
    sold_all, gain_all, tax_all = np.zeros(total), np.zeros(total), np.zeros(total)
    # Only the lots of slots being sold matter: sort those alone.
    touched = np.flatnonzero(sell_quantity[lots.row, lots.col] > 0)
    if touched.size == 0:
        return LotSale(sold_all, gain_all, tax_all)
    mask = np.zeros(total, dtype=bool)
    mask[touched] = True
    lots = lots.take(mask)
    gain_per_unit, sellable = gain_per_unit[touched], sellable[touched]
    n = touched.size
    per_unit_cost = np.divide(
        lots.cost_basis, lots.quantity, out=np.zeros_like(lots.cost_basis), where=lots.quantity > 0
    )
    long_term = lots.age_days > 365
    if policy.lot_method == "tax_aware":
        category = np.where(
            gain_per_unit < 0, LOSS, np.where(long_term, LONG_TERM_GAIN, SHORT_TERM_GAIN)
        )
        key2 = -per_unit_cost
    elif policy.lot_method == "hifo":
        category = np.zeros(n, dtype=np.int64)
        key2 = -per_unit_cost
    else:
        category = np.zeros(n, dtype=np.int64)
        key2 = -lots.age_days
    # lexsort: the last key is primary.
    # Ties (same group, same cost) go to the older, then the bigger lot, then input order.
    order = np.lexsort(
        (
            np.arange(n),
            -lots.quantity,
            -lots.age_days,
            key2,
            category,
            ~sellable,
            lots.col,
            lots.row,
        )
    )
    row, col = lots.row[order], lots.col[order]
    qty = np.where(sellable[order], lots.quantity[order], 0.0)
    group_start = np.ones(n, dtype=bool)
    group_start[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    cum_in_group = _segmented_cumsum(qty, group_start)
    wanted = sell_quantity[row, col]
    sold_sorted = np.clip(wanted - (cum_in_group - qty), 0.0, qty)
    sold = np.empty(n)
    sold[order] = sold_sorted
    gain = sold * gain_per_unit
    rate = np.where(long_term, policy.long_term_tax_rate, policy.short_term_tax_rate)
    sold_all[touched], gain_all[touched], tax_all[touched] = sold, gain, gain * rate
    return LotSale(sold=sold_all, gain=gain_all, tax=tax_all)


def _segmented_cumsum(values: Array, group_start: BoolArray) -> Array:
    """Cumulative sum restarting at each group start, exact per group.

    Loops over the position inside a group (a handful of lots per position), never over
    groups, and adds in lot order, so a lot's running total does not depend on other accounts.
    """
    n = values.size
    index = np.arange(n)
    start = np.maximum.accumulate(np.where(group_start, index, 0))
    rank = index - start
    out = values.copy()
    for r in range(1, int(rank.max(initial=0)) + 1):
        at = np.flatnonzero(rank == r)
        out[at] = out[at - 1] + values[at]
    return out
