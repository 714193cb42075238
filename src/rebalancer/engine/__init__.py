"""The rebalancing engine: pure functions on arrays (no clock, no I/O, no randomness).

Two entry points give identical trades for the same account:

* :func:`recommend_book` rebalances a whole book at once (vectorized over accounts, in chunks);
* :func:`recommend_account` rebalances one account for the API; it is the batch path on the
  account's household (same-run wash sales), and raises
  :class:`~rebalancer.errors.InvalidAccountError` for bad data.

:func:`execute` settles a recommendation's trades into the book (backtests, what-if).

Lower level: :func:`build_book` (tables -> :class:`BookArrays`, with validation) and
:func:`rebalance` (arrays -> :class:`RebalanceResult`).
"""

from __future__ import annotations

from rebalancer.engine._allocator import tune_allocator
from rebalancer.engine._arrays import (
    REASON_NAMES,
    BookArrays,
    RebalanceResult,
    reason_codes,
)
from rebalancer.engine._bands import band_width, calendar_due, shrink_factor, threshold_breached
from rebalancer.engine._book import CASH, Book, build_book
from rebalancer.engine._costs import trade_cost, worth_trading
from rebalancer.engine._drift import total_drift, weights
from rebalancer.engine._execute import execute
from rebalancer.engine._policy import Policy
from rebalancer.engine._recommend import (
    CHUNK_SIZE,
    ENGINE_VERSION,
    Recommendation,
    acting_accounts,
    book_chunks,
    prepare_book,
    rebalance_batch,
    recommend_account,
    recommend_book,
    trades_frame,
)
from rebalancer.engine._sizing import rebalance
from rebalancer.engine._tax import LotArrays
from rebalancer.engine._washsale import wash_sale_blocks

__all__ = [
    "CASH",
    "CHUNK_SIZE",
    "ENGINE_VERSION",
    "REASON_NAMES",
    "Book",
    "BookArrays",
    "LotArrays",
    "Policy",
    "RebalanceResult",
    "Recommendation",
    "acting_accounts",
    "band_width",
    "book_chunks",
    "build_book",
    "calendar_due",
    "execute",
    "prepare_book",
    "reason_codes",
    "rebalance",
    "rebalance_batch",
    "recommend_account",
    "recommend_book",
    "shrink_factor",
    "threshold_breached",
    "total_drift",
    "trade_cost",
    "trades_frame",
    "tune_allocator",
    "wash_sale_blocks",
    "weights",
    "worth_trading",
]
