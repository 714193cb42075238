"""Backfill: load a date range of bars into ``market_prices``, one object per (day, interval)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from rebalancer.config import Settings
from rebalancer.errors import MarketDataError
from rebalancer.lake import Lake
from rebalancer.market._history import SOURCE as HISTORY_SOURCE
from rebalancer.market._history import history_bars
from rebalancer.market._provider import MarketDataProvider, check_interval, utc
from rebalancer.market._universe import asset_class_map, load_securities
from rebalancer.market._validate import validate_bars

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
    failed: dict[str, str] = field(default_factory=dict)


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
    ts = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None)
    days = ts.to_numpy(dtype="datetime64[D]")
    if days.size and (days == days[0]).all():  # one day (live slots, 5m backfill): no grouping
        keys = lake.write("market_prices", frame, name=name)
        if progress:
            progress(1, 1)
        return len(frame), keys
    groups = frame.groupby(days, sort=True)
    total = groups.ngroups
    keys = []
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
    provider: MarketDataProvider | None = None,
    securities: pd.DataFrame | None = None,
    settings: Settings | None = None,
    exclude_history: bool = False,
    now: pd.Timestamp | None = None,
) -> BackfillResult:
    """Load bars from ``source`` for ``[start, end]`` (inclusive days) into the lake.

    ``history`` writes the bundled closes as they are. Any other source (``synthetic``,
    ``yfinance``, or an injected ``provider``) goes through the same validation as live
    ingestion, one chunk of days at a time (bounded memory): bad rows land in
    ``ingest_rejects``, good ones in one object per (day, source, interval).
    """
    if source != HISTORY_SOURCE or provider is not None:
        return _backfill_from_provider(
            lake,
            source=source,
            start=start,
            end=end,
            symbols=symbols,
            interval=interval,
            progress=progress,
            provider=provider,
            securities=securities,
            settings=settings,
            exclude_history=exclude_history,
            now=now,
        )
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


DEFAULT_START = {"1d": "2019-01-01", "5m": None}
CHUNK_DAYS = {"1d": 92, "5m": 1}
DEFAULT_5M_DAYS = 5


def _backfill_from_provider(
    lake: Lake,
    *,
    source: str,
    start: date | str | None,
    end: date | str | None,
    symbols: Sequence[str] | None,
    interval: str,
    progress: Progress | None,
    provider: MarketDataProvider | None,
    securities: pd.DataFrame | None,
    settings: Settings | None,
    exclude_history: bool,
    now: pd.Timestamp | None,
) -> BackfillResult:
    from rebalancer.market._factory import get_provider

    check_interval(interval)
    clock = utc(now) if now is not None else pd.Timestamp.now("UTC")
    today = clock.normalize().tz_localize(None)
    last = pd.Timestamp(end) if end else today
    if start:
        first = pd.Timestamp(start)
    elif DEFAULT_START[interval]:
        first = pd.Timestamp(DEFAULT_START[interval])
    else:
        first = last - pd.Timedelta(days=DEFAULT_5M_DAYS)
    if first > last:
        raise MarketDataError(f"--start {first:%Y-%m-%d} is after --end {last:%Y-%m-%d}")
    universe = securities if securities is not None else load_securities(lake, settings)
    chosen = _backfill_symbols(universe, symbols, exclude_history)
    feed = provider or get_provider(source, settings=settings, securities=universe)
    classes = asset_class_map(universe)
    stamp = clock
    name = backfill_object_name(feed.name, interval)
    step = pd.Timedelta(days=CHUNK_DAYS[interval])
    starts = list(pd.date_range(first, last, freq=step))
    carry: dict[str, float] = {}
    failed: dict[str, str] = {}
    rows = objects = 0
    days_written: list[str] = []
    for done, chunk_start in enumerate(starts, start=1):
        chunk_end = min(chunk_start + step, last + pd.Timedelta(days=1))
        window = (utc(chunk_start), utc(chunk_end))
        try:
            result = feed.fetch(chosen, window[0], window[1], interval, now=clock)
        except MarketDataError as exc:
            failed.update({s: str(exc) for s in chosen})
            if progress:
                progress(done, len(starts))
            continue
        failed.update(result.failed)
        checked = validate_bars(
            result.bars,
            source=feed.name,
            rejected_at=stamp,
            asset_classes=classes,
            window=window,
            previous_close=carry,
        )
        if not checked.rejects.empty:
            lake.write(
                "ingest_rejects",
                checked.rejects,
                name=f"backfill-{feed.name}-{interval}-{chunk_start:%Y%m%d}",
            )
        good = checked.good
        if not good.empty:
            n, keys = write_daily_objects(lake, good, name=name, ingested_at=stamp)
            rows += n
            objects += len(keys)
            days_written += [str(good["ts"].min())[:10], str(good["ts"].max())[:10]]
            ordered = good.sort_values("ts", kind="stable")
            carry.update(ordered.groupby("symbol", sort=False)["close"].last().to_dict())
        if progress:
            progress(done, len(starts))
    if rows == 0 and failed:
        reason = sorted(set(failed.values()))[0]
        raise MarketDataError(f"{feed.name} returned no usable bars: {reason}")
    return BackfillResult(
        feed.name,
        interval,
        rows,
        objects,
        min(days_written) if days_written else None,
        max(days_written) if days_written else None,
        failed=dict(sorted(failed.items())),
    )


def _backfill_symbols(
    universe: pd.DataFrame, symbols: Sequence[str] | None, exclude_history: bool
) -> list[str]:
    if symbols:
        return list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    active = universe[universe["active"].astype(bool) & (universe["asset_class"] != "cash")]
    chosen = list(active["symbol"])
    if exclude_history:
        from rebalancer.market._history import history_symbols

        covered = set(history_symbols())
        chosen = [s for s in chosen if s not in covered]
    if not chosen:
        raise MarketDataError("no active symbols to backfill")
    return chosen
