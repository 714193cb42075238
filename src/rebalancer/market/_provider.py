"""The one seam between ingestion and where bars come from: :class:`MarketDataProvider`.

A provider returns bars in the ``market_prices`` shape (without ``ingested_at``) for a
half-open window ``[start, end)`` of bar open times, keeping only bars that are complete at
``now`` (``ts + interval <= now``): the bar still forming is never written. Per-symbol failures
are reported in :attr:`FetchResult.failed`, never swallowed; a provider that could fetch nothing
at all raises :class:`~rebalancer.errors.MarketDataError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from rebalancer.errors import MarketDataError

BAR_COLUMNS = ["symbol", "ts", "interval", "open", "high", "low", "close", "volume", "source"]
BAR_LENGTH: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "1d": timedelta(days=1),
}
"""Bar interval -> bar length: the one table of supported intervals (a bar opened at ``ts``
closes at ``ts + BAR_LENGTH[interval]``). Everything that needs a bar's length reads it here."""
INTERVALS: dict[str, pd.Timedelta] = {
    name: pd.Timedelta(length) for name, length in BAR_LENGTH.items()
}


@dataclass(frozen=True)
class FetchResult:
    """Bars a provider returned plus the symbols it could not fetch (symbol -> reason)."""

    bars: pd.DataFrame
    failed: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class MarketDataProvider(Protocol):
    """Something that returns OHLCV bars for symbols over a window."""

    @property
    def name(self) -> str:
        """The ``source`` value written with every bar."""
        ...

    def fetch(
        self,
        symbols: Sequence[str],
        start: pd.Timestamp,
        end: pd.Timestamp,
        interval: str,
        *,
        now: pd.Timestamp | None = None,
    ) -> FetchResult:
        """Bars with ``start <= ts < end`` that are complete at ``now`` (default: the clock)."""
        ...


def utc(value: object) -> pd.Timestamp:
    """A timestamp as tz-aware UTC (naive input is taken to be UTC already)."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise MarketDataError(f"not a timestamp: {value!r}") from None
    if pd.isna(stamp):
        raise MarketDataError(f"not a timestamp: {value!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def check_interval(interval: str) -> pd.Timedelta:
    """The length of a bar interval; :class:`MarketDataError` for anything but 5m and 1d."""
    try:
        return INTERVALS[interval]
    except KeyError:
        raise MarketDataError(
            f"unsupported interval {interval!r} (supported: {', '.join(INTERVALS)})"
        ) from None


def empty_bars() -> pd.DataFrame:
    """A zero-row frame with the bar columns and dtypes."""
    return pd.DataFrame(
        {
            "symbol": pd.Series([], dtype=object),
            "ts": pd.Series([], dtype="datetime64[us]"),
            "interval": pd.Series([], dtype=object),
            "open": pd.Series([], dtype="float64"),
            "high": pd.Series([], dtype="float64"),
            "low": pd.Series([], dtype="float64"),
            "close": pd.Series([], dtype="float64"),
            "volume": pd.Series([], dtype="float64"),
            "source": pd.Series([], dtype=object),
        }
    )


def complete_only(bars: pd.DataFrame, interval: str, now: pd.Timestamp) -> pd.DataFrame:
    """Drop bars still forming at ``now`` (their close time ``ts + interval`` is after it)."""
    if bars.empty:
        return bars
    length = check_interval(interval)
    limit = np.datetime64(utc(now).tz_localize(None) - length, "us")
    ts = bars["ts"].to_numpy(dtype="datetime64[us]")
    return bars[ts <= limit]
