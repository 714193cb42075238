"""The engine's inputs and outputs: dense ``(accounts x slots)`` arrays, no pandas.

A *slot* is one security an account holds or its model targets. Rows are padded to the widest
account of a chunk with invalid slots (``valid`` False, quantity 0, price 1, target 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt

from rebalancer.engine._drift import Array, BoolArray
from rebalancer.engine._tax import LotArrays

ObjArray = npt.NDArray[np.object_]
Int8Array = npt.NDArray[np.int8]

# Reason bits of a trade (several may apply); decoded by ``reason_codes``.
CASH_DEPLOY = 1  # invests excess cash (deposit, dividends, reserve surplus)
CASH_RAISE = 2  # raises cash up to the cash target
WITHDRAWAL = 4  # funds a pending withdrawal
FORCED = 8  # cash below its floor: sold even if small or not worth it
DRIFT_SELL = 16  # trims an overweight sleeve
DRIFT_BUY = 32  # tops up an underweight sleeve
LEFTOVER_FILL = 64  # whole-share fill of leftover cash (one share at a time)

REASON_NAMES: dict[int, str] = {
    WITHDRAWAL: "WITHDRAWAL",
    CASH_RAISE: "CASH_RAISE",
    FORCED: "FORCED",
    CASH_DEPLOY: "CASH_DEPLOY",
    DRIFT_SELL: "DRIFT_SELL",
    DRIFT_BUY: "DRIFT_BUY",
    LEFTOVER_FILL: "LEFTOVER_FILL",
}

# Account status bits.
TRIGGERED = 1
CASH_SHORT = 2  # cash below its floor before trading
SHORTFALL = 4  # the withdrawal could not be fully funded (everything sellable sold)
NO_IMPROVEMENT = 8  # trades dropped: they would not have reduced total drift
SKIPPED_COST = 16  # at least one trade skipped by min value or cost/benefit
BLOCKED_RESTRICTED = 32  # a wanted buy or sell was blocked by a restriction
BLOCKED_WASH_SALE = 64  # a wanted buy, or a loss lot, was blocked by the wash-sale rule


def reason_codes(bits: int, names: dict[int, str] = REASON_NAMES) -> str:
    """``'WITHDRAWAL+DRIFT_SELL'`` from a bit set (order fixed by ``names``)."""
    return "+".join(name for bit, name in names.items() if bits & bit)


@dataclass(frozen=True)
class BookArrays:
    """Everything the engine needs about a set of accounts, as arrays.

    Per account (shape ``(n,)``): ``account_id``, ``household`` (the household id: wash sales
    are household-wide, so one run must not buy in one account what another sells at a loss),
    ``cash`` (settled), ``cash_flow`` (pending
    deposit + / withdrawal -), ``cash_target`` (the model's CASH weight), ``taxable``,
    ``days_since_rebalance`` (``inf`` if never).
    Per slot (shape ``(n, k)``): ``symbol``, ``valid``, ``quantity``, ``price``, ``target``,
    ``fractional`` (account allows it or the security is crypto), ``restricted`` (no buys),
    ``do_not_trade``, ``wash_buy_block`` (household sold it at a loss in the window),
    ``wash_loss_block`` (household bought it in the window: no loss sales).
    ``hold`` (optional, per slot): pinned for this run (the model's gate): no drift or
    cash-deploy trade, and its weight is kept as do-not-trade keeps it, but a cash shortfall
    (a withdrawal, the reserve) may still force a sale. ``None``: nothing pinned.
    """

    account_id: ObjArray
    household: ObjArray
    cash: Array
    cash_flow: Array
    cash_target: Array
    taxable: BoolArray
    days_since_rebalance: Array
    symbol: ObjArray
    valid: BoolArray
    quantity: Array
    price: Array
    target: Array
    fractional: BoolArray
    restricted: BoolArray
    do_not_trade: BoolArray
    wash_buy_block: BoolArray
    wash_loss_block: BoolArray
    lots: LotArrays = field(default_factory=LotArrays.empty)
    hold: BoolArray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(accounts, slots)``."""
        n, k = self.valid.shape
        return int(n), int(k)

    def rows(self, index: npt.NDArray[np.int64], width: int | None = None) -> BookArrays:
        """A sub-book of the given account rows (lots follow).

        ``width``: keep only the first ``width`` slot columns (they must hold every valid slot
        of those rows), gathered in the same copy.
        """
        remap = np.full(self.shape[0], -1, dtype=np.int64)
        remap[index] = np.arange(index.size)
        cols = slice(None) if width is None else slice(0, width)
        values = {
            f.name: (arr[index, cols] if arr.ndim == 2 else arr[index])
            for f in fields(self)
            if f.name not in ("lots", "hold")
            for arr in (getattr(self, f.name),)
        }
        if self.hold is not None:
            values["hold"] = self.hold[index, cols]
        keep = remap[self.lots.row] >= 0
        return BookArrays(**values, lots=self.lots.take(keep, remap))


@dataclass(frozen=True)
class RebalanceResult:
    """What the engine decided.

    Per slot: ``quantity`` (signed units, + buy), ``value`` (signed USD), ``cost``, ``est_tax``,
    ``realized_gain``, ``reason`` (bits), ``post_weight``, ``target_weight`` (effective target:
    the model with its cash lifted to the reserve). Per account: ``drift_before``,
    ``drift_after``, ``cash_before`` (settled + pending flow), ``cash_after``, ``status`` (bits).
    Per lot: ``lot_sold`` (units of each input lot sold).
    """

    quantity: Array
    value: Array
    cost: Array
    est_tax: Array
    realized_gain: Array
    reason: Int8Array
    post_weight: Array
    target_weight: Array
    drift_before: Array
    drift_after: Array
    cash_before: Array
    cash_after: Array
    account_value: Array
    status: Int8Array
    lot_sold: Array
