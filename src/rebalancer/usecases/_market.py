"""Price bars for readers (the API's market route): a bounded range, a bounded row count.

A reader asking for years of 5-minute bars would make the lake scan every partition and the
response hold millions of rows: the range per interval and the rows per answer are capped, and
a request past either cap is refused with the cap named (not truncated silently).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from rebalancer.errors import ConfigError, OutOfRangeError
from rebalancer.lake import Lake
from rebalancer.market import BAR_LENGTH

MAX_SYMBOLS = 50
MAX_ROWS = 10_000
#: Longest range per interval, days (about MAX_ROWS bars of one symbol).
MAX_DAYS = {"5m": 31, "1d": 3_660}
_MIN_DAY = date(1900, 1, 1)
_MAX_DAY = date(2200, 1, 1)

_BARS = """
SELECT symbol, ts, open, high, low, close, volume FROM (
    SELECT symbol, ts, open, high, low, close, volume,
           row_number() OVER (PARTITION BY symbol, ts ORDER BY ingested_at DESC) AS rn
    FROM market_prices
    WHERE dt BETWEEN :start AND :end AND "interval" = :interval AND symbol IN :symbols
      AND ts >= :ts_start AND ts < :ts_end
) WHERE rn = 1
ORDER BY symbol, ts
LIMIT :limit
"""


def price_bars(
    lake: Lake, *, symbols: list[str], start: date, end: date, interval: str = "1d"
) -> pd.DataFrame:
    """Bars of ``symbols`` from ``start`` to ``end`` (both days included), one row per bar."""
    wanted = sorted({s.strip() for s in symbols if s.strip()})
    if not wanted:
        raise ConfigError("symbols: give at least one symbol")
    if len(wanted) > MAX_SYMBOLS:
        raise OutOfRangeError(f"symbols: at most {MAX_SYMBOLS} per request, got {len(wanted)}")
    if interval not in MAX_DAYS or interval not in BAR_LENGTH:
        raise ConfigError(f"interval must be one of {', '.join(MAX_DAYS)}, got {interval!r}")
    if not (_MIN_DAY <= start <= _MAX_DAY and _MIN_DAY <= end <= _MAX_DAY):
        raise OutOfRangeError(f"start and end must be between {_MIN_DAY} and {_MAX_DAY}")
    if end < start:
        raise ConfigError(f"end {end} is before start {start}")
    days = (end - start).days + 1
    if days > MAX_DAYS[interval]:
        raise OutOfRangeError(
            f"at most {MAX_DAYS[interval]} days of {interval} bars per request, asked for {days}"
        )
    columns = ["symbol", "ts", "open", "high", "low", "close", "volume"]
    if not lake.list_objects("market_prices"):
        return pd.DataFrame(columns=columns)
    params: dict[str, object] = {
        "start": start.isoformat(), "end": end.isoformat(), "interval": interval,
        "symbols": wanted, "limit": MAX_ROWS + 1,
        "ts_start": pd.Timestamp(start).to_pydatetime(),
        "ts_end": pd.Timestamp(end + timedelta(days=1)).to_pydatetime(),
    }  # fmt: skip
    bars = lake.query(_BARS, params=params)
    if len(bars) > MAX_ROWS:
        raise OutOfRangeError(
            f"more than {MAX_ROWS:,} bars match: ask for fewer symbols or a shorter range"
        )
    return bars[columns].reset_index(drop=True)
