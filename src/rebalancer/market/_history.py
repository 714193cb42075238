"""The bundled real daily history: skfolio's S&P 500 stocks (1990-2022) and factor ETFs.

Real prices no one here wrote, available offline: the backfill, backtests and the synthetic
generator's calibration all read them through this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache

import pandas as pd

from rebalancer.errors import MarketDataError
from rebalancer.market._provider import FetchResult, complete_only, utc

SOURCE = "history"


@lru_cache(maxsize=1)
def history_closes() -> pd.DataFrame:
    """Daily adjusted closes, one column per symbol, indexed by trading date (naive)."""
    from skfolio.datasets import load_factors_dataset, load_sp500_dataset

    stocks = load_sp500_dataset()
    etfs = load_factors_dataset()
    closes = stocks.join(etfs, how="outer").sort_index()
    closes.index = pd.DatetimeIndex(closes.index).astype("datetime64[us]")
    closes.index.name = "date"
    return closes


def history_symbols() -> list[str]:
    """Symbols the bundled history covers."""
    return list(history_closes().columns)


def history_bars(
    symbols: Sequence[str] | None = None,
    start: date | str | None = None,
    end: date | str | None = None,
) -> pd.DataFrame:
    """Daily bars in the ``market_prices`` shape (without ``ingested_at``).

    The dataset has adjusted closes only: ``open``, ``high`` and ``low`` equal ``close`` and
    ``volume`` is null, so no one mistakes them for intraday ranges.
    """
    closes = history_closes()
    if symbols:
        unknown = sorted(set(symbols) - set(closes.columns))
        if unknown:
            raise MarketDataError(
                f"no bundled history for {', '.join(unknown)} "
                f"(available: {', '.join(closes.columns)})"
            )
        closes = closes[list(dict.fromkeys(symbols))]
    if start is not None:
        closes = closes.loc[pd.Timestamp(start) :]
    if end is not None:
        closes = closes.loc[: pd.Timestamp(end)]
    long = closes.stack().rename("close").reset_index()
    long.columns = ["ts", "symbol", "close"]
    long = long.dropna(subset=["close"])
    long["interval"] = "1d"
    for column in ("open", "high", "low"):
        long[column] = long["close"]
    long["volume"] = pd.array([None] * len(long), dtype="Int64")
    long["source"] = SOURCE
    columns = ["symbol", "ts", "interval", "open", "high", "low", "close", "volume", "source"]
    return long[columns].sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)


class HistoryProvider:
    """The bundled real daily history behind the :class:`MarketDataProvider` protocol (1d only)."""

    name = SOURCE

    def fetch(
        self,
        symbols: Sequence[str],
        start: pd.Timestamp,
        end: pd.Timestamp,
        interval: str,
        *,
        now: pd.Timestamp | None = None,
    ) -> FetchResult:
        """Daily closes with ``start <= ts < end``; symbols the history lacks are failures."""
        if interval != "1d":
            raise MarketDataError("the bundled history has daily bars only: use interval 1d")
        known = set(history_symbols())
        wanted = list(dict.fromkeys(symbols))
        failed = {s: "not in the bundled history" for s in wanted if s not in known}
        covered = [s for s in wanted if s in known]
        if not covered:
            raise MarketDataError(f"no bundled history for {', '.join(wanted) or 'no symbols'}")
        lo, hi = utc(start).tz_localize(None), utc(end).tz_localize(None)
        bars = history_bars(covered, lo.date(), hi.date())
        bars = bars[(bars["ts"] >= lo) & (bars["ts"] < hi)]
        if now is not None:
            bars = complete_only(bars, interval, now)
        return FetchResult(bars.reset_index(drop=True), failed)
