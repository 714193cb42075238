"""Market data: providers (yfinance, synthetic, bundled history) and validation."""

from __future__ import annotations

from rebalancer.market._backfill import BackfillResult, backfill, backfill_object_name
from rebalancer.market._history import history_bars, history_closes, history_symbols

__all__ = [
    "BackfillResult",
    "backfill",
    "backfill_object_name",
    "history_bars",
    "history_closes",
    "history_symbols",
]
