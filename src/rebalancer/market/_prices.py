"""Price reads from the lake: the last close per symbol as of a time, the default as-of, and
the daily close panel the book generator draws from.

Every reader of ``market_prices`` for pricing goes through here. A bar's close is known at
``ts + BAR_LENGTH[interval]``: no price is used before it closed (no look-ahead).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import pandas as pd

from rebalancer.errors import ConfigError, MarketDataError
from rebalancer.lake import Lake, partition_of
from rebalancer.market._provider import BAR_LENGTH

BACKFILL_HINT = "run `rebalancer backfill` first (real history, then synthetic for the rest)"
_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-^=]{0,19}$")

#: How far back a price may be to still price a book (holidays, a late feed).
LOOKBACK_DAYS = 10
#: Windows (days back from the newest partition) searched for every book symbol's last close.
_AS_OF_WINDOWS = (LOOKBACK_DAYS, 60, 400, None)

_LAST_BARS = """
SELECT symbol, "interval", ts, close FROM (
    SELECT symbol, "interval", ts, close,
           row_number() OVER (PARTITION BY symbol, "interval"
                              ORDER BY ts DESC, ingested_at DESC) AS rn
    FROM market_prices
    WHERE dt BETWEEN :start AND :end
      AND (("interval" = '5m' AND ts <= :last_5m) OR ("interval" = '1d' AND ts <= :last_1d))
) WHERE rn = 1
"""

_LAST_TS = """
SELECT symbol, "interval", max(ts) AS ts FROM market_prices
WHERE dt >= :start AND ts IS NOT NULL
GROUP BY symbol, "interval"
"""


def partitions(lake: Lake) -> list[str]:
    """The ``dt`` partitions of ``market_prices``, oldest first (from the object listing: cheap,
    where ``max(dt)`` would open every object)."""
    return sorted({partition_of(key) for key in lake.list_objects("market_prices")} - {""})


def latest_close_time(lake: Lake) -> pd.Timestamp:
    """When the newest bar in ``market_prices`` closed (any symbol)."""
    for day in reversed(partitions(lake)):  # newest first; a partition of empty objects is skipped
        frame = lake.query(
            'SELECT "interval", max(ts) AS ts FROM market_prices '
            'WHERE dt = :day AND ts IS NOT NULL GROUP BY "interval"',
            params={"day": day},
        )
        if not frame.empty:
            return max(_close_times(frame))
    raise MarketDataError("market_prices is empty: ingest or backfill prices first")


def book_as_of(lake: Lake, symbols: Iterable[str]) -> pd.Timestamp:
    """The default as-of of a book: the last time every symbol it holds or targets has a close.

    The same rule as the generator's snapshot date: when a synthetic fill runs to today and the
    bundled history stops in 2022, a book holding both is priced where both exist, not at today
    (where most of it would have no price). Falls back to :func:`latest_close_time` for a book
    with no symbols. Raises :class:`MarketDataError` naming symbols that have no bars at all.
    """
    wanted = sorted({str(s) for s in symbols} - {"CASH"})
    days = partitions(lake)
    if not days:
        raise MarketDataError("market_prices is empty: ingest or backfill prices first")
    if not wanted:
        return latest_close_time(lake)
    newest = pd.Timestamp(days[-1])
    closes: pd.Series = pd.Series(dtype="datetime64[ns]")
    for window in _AS_OF_WINDOWS:
        start = days[0] if window is None else (newest - timedelta(days=window)).date().isoformat()
        frame = lake.query(_LAST_TS, params={"start": start})
        if not frame.empty:
            frame = frame.assign(closed=_close_times(frame))
            closes = frame.groupby(frame["symbol"].astype(str))["closed"].max()
        if set(wanted) <= set(closes.index):
            break
    missing = sorted(set(wanted) - set(closes.index))
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise MarketDataError(
            f"no prices at all for {shown} ({len(missing)} symbol(s) of the book): run "
            "`rebalancer backfill` first"
        )
    return pd.Timestamp(closes.loc[wanted].min())


def load_prices(
    lake: Lake, as_of: pd.Timestamp, *, lookback_days: int = LOOKBACK_DAYS
) -> pd.Series:
    """The last close known at ``as_of`` per symbol (5-minute or daily bar, whichever closed
    later; bars still open at ``as_of`` are not used), looking back ``lookback_days``."""
    params = {
        "start": (as_of - timedelta(days=lookback_days)).strftime("%Y-%m-%d"),
        "end": as_of.strftime("%Y-%m-%d"),
        "last_5m": (as_of - BAR_LENGTH["5m"]).to_pydatetime(),
        "last_1d": (as_of - BAR_LENGTH["1d"]).to_pydatetime(),
    }
    bars = lake.query(_LAST_BARS, params=params)
    if bars.empty:
        return pd.Series(dtype=float)
    bars["closed"] = pd.to_datetime(bars["ts"]) + bars["interval"].map(BAR_LENGTH)
    bars = bars.sort_values(["symbol", "closed", "interval"], ascending=[True, True, False])
    latest = bars.drop_duplicates("symbol", keep="last")
    return pd.Series(latest["close"].to_numpy(dtype=float), index=latest["symbol"].astype(str))


def _close_times(frame: pd.DataFrame) -> pd.Series:
    """``ts + bar length`` per row of a frame with ``interval`` and ``ts``."""
    length = frame["interval"].astype(str).map(BAR_LENGTH).fillna(timedelta(0))
    return pd.to_datetime(frame["ts"]) + pd.to_timedelta(length)


def missing_symbols(prices: pd.DataFrame, symbols: Sequence[str]) -> list[str]:
    """Symbols with no price at all in ``prices``."""
    have = {str(c) for c in prices.columns if prices[c].notna().any()}
    return sorted(set(symbols) - have)


def _check_symbol(symbol: str) -> str:
    if not _SYMBOL.match(symbol):
        raise ConfigError(f"malformed symbol {symbol!r}")
    return symbol


def price_panel_sql(
    symbols: Sequence[str], start: date | None = None
) -> tuple[str, dict[str, object]]:
    """Athena SQL for daily closes (the latest ``1d`` bar per symbol and day) and its params."""
    if not symbols:
        raise ConfigError("no symbols to load prices for")
    params: dict[str, object] = {"symbols": sorted({_check_symbol(s) for s in symbols})}
    since = ""
    if start:
        since, params["start"] = " AND dt >= :start", start.isoformat()
    sql = f"""
SELECT symbol, day, close FROM (
  SELECT symbol, CAST(ts AS date) AS day, close,
         row_number() OVER (
           PARTITION BY symbol, CAST(ts AS date) ORDER BY ts DESC, ingested_at DESC
         ) AS rn
  FROM market_prices
  WHERE "interval" = '1d' AND symbol IN :symbols{since}
) AS t
WHERE rn = 1
ORDER BY day, symbol
"""
    return sql, params


def load_price_panel(
    lake: Lake, symbols: Sequence[str], *, start: date | None = None
) -> pd.DataFrame:
    """Daily closes of ``symbols`` from the lake: index = dates, columns = symbols.

    Raises :class:`MarketDataError` naming the symbols that have no daily bars, with the
    backfill commands that load them.
    """
    wanted = sorted({s for s in symbols if s != "CASH"})
    sql, params = price_panel_sql(wanted, start)
    long = lake.query(sql, params=params)
    if long.empty:
        panel = pd.DataFrame(index=pd.DatetimeIndex([], name="date"), columns=wanted)
    else:
        long["day"] = pd.to_datetime(long["day"])
        panel = long.pivot(index="day", columns="symbol", values="close").sort_index()
        panel.index.name = "date"
        panel.columns.name = None
    missing = missing_symbols(panel, wanted)
    if missing:
        raise MarketDataError(f"no daily prices for {', '.join(missing)}; {BACKFILL_HINT}")
    return panel[wanted].astype("float64")
