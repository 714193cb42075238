"""Backfill: load a date range of bars into ``market_prices``, one object per (day, interval)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from rebalancer.errors import MarketDataError
from rebalancer.lake import Lake
from rebalancer.market._history import SOURCE as HISTORY_SOURCE
from rebalancer.market._history import history_bars

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BackfillResult:
    """What a backfill wrote."""

    source: str
    interval: str
    rows: int
    objects: int
    first_day: str | None
    last_day: str | None


def backfill_object_name(source: str, interval: str) -> str:
    """Deterministic object name per (source, interval): a re-run replaces, never duplicates."""
    return f"backfill-{source}-{interval}"


def write_daily_objects(
    lake: Lake,
    bars: pd.DataFrame,
    *,
    name: str,
    ingested_at: pd.Timestamp | None = None,
    progress: Progress | None = None,
) -> tuple[int, list[str]]:
    """Write ``bars`` one day at a time (bounded memory, visible progress); returns rows, keys."""
    stamp = ingested_at if ingested_at is not None else pd.Timestamp.now(tz="UTC")
    frame = bars.assign(ingested_at=stamp)
    days = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True)).strftime("%Y-%m-%d")
    groups = frame.groupby(days.to_numpy(), sort=True)
    total = groups.ngroups
    keys: list[str] = []
    for done, (_, day_rows) in enumerate(groups, start=1):
        keys.extend(lake.write("market_prices", day_rows, name=name))
        if progress:
            progress(done, total)
    return len(frame), keys


def backfill(
    lake: Lake,
    *,
    source: str = HISTORY_SOURCE,
    start: date | str | None = None,
    end: date | str | None = None,
    symbols: Sequence[str] | None = None,
    interval: str = "1d",
    progress: Progress | None = None,
) -> BackfillResult:
    """Load bars from ``source`` for ``[start, end]`` into the lake."""
    if source != HISTORY_SOURCE:
        raise MarketDataError(f"unknown backfill source {source!r} (available: history)")
    if interval != "1d":
        raise MarketDataError("the bundled history has daily bars only: use --interval 1d")
    if start and end and pd.Timestamp(start) > pd.Timestamp(end):
        raise MarketDataError(f"--start {start} is after --end {end}")
    bars = history_bars(symbols, start, end)
    if bars.empty:
        raise MarketDataError(
            f"no history between {start or 'the beginning'} and {end or 'the end'}"
        )
    rows, keys = write_daily_objects(
        lake, bars, name=backfill_object_name(source, interval), progress=progress
    )
    days = pd.to_datetime(bars["ts"]).dt.strftime("%Y-%m-%d")
    return BackfillResult(source, interval, rows, len(keys), days.min(), days.max())
