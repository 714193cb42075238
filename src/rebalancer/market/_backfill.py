"""Backfill: load a date range of bars into ``market_prices``, one object per (day, interval)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from rebalancer.config import Settings
from rebalancer.errors import ConfigError, MarketDataError
from rebalancer.lake import Lake
from rebalancer.market._history import SOURCE as HISTORY_SOURCE
from rebalancer.market._history import history_bars, history_closes, history_symbols
from rebalancer.market._provider import MarketDataProvider, check_interval, utc
from rebalancer.market._universe import (
    asset_class_map,
    seed_securities,
    universe_of,
)
from rebalancer.market._validate import validate_bars

Progress = Callable[[int, int], None]
LabelledProgress = Callable[[str, int, int], None]

AUTO_SOURCE = "auto"
"""The CLI's default ``--source``: :func:`backfill_universe` (history, then synthetic)."""


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


#: Days per ``Lake.write`` call: the lake still writes one object per day, but validates each
#: call once, so batching days cuts a 33-year history backfill from ~60 s to ~20 s.
WRITE_BATCH_DAYS = 128


def write_daily_objects(
    lake: Lake,
    bars: pd.DataFrame,
    *,
    name: str,
    ingested_at: pd.Timestamp | None = None,
    progress: Progress | None = None,
) -> tuple[int, list[str]]:
    """Write ``bars`` as one object per day, :data:`WRITE_BATCH_DAYS` days per ``Lake.write``
    (bounded memory, visible progress in days); returns rows, keys."""
    stamp = ingested_at if ingested_at is not None else pd.Timestamp.now(tz="UTC")
    frame = bars.assign(ingested_at=stamp)
    ts = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None)
    days = ts.to_numpy(dtype="datetime64[D]")
    if days.size and (days == days[0]).all():  # one day (live slots, 5m backfill): no grouping
        keys = lake.write("market_prices", frame, name=name)
        if progress:
            progress(1, 1)
        return len(frame), keys
    order = np.argsort(days, kind="stable")
    if not np.all(order[1:] > order[:-1]):
        frame, days = frame.iloc[order], days[order]
    day_starts = np.concatenate([[0], np.flatnonzero(days[1:] != days[:-1]) + 1]).astype(int)
    total = len(day_starts) if days.size else 0
    keys = []
    for first in range(0, total, WRITE_BATCH_DAYS):
        after = first + WRITE_BATCH_DAYS
        lo, hi = day_starts[first], day_starts[after] if after < total else len(frame)
        keys.extend(lake.write("market_prices", frame.iloc[lo:hi], name=name))
        if progress:
            progress(min(after, total), total)
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
    wanted = normalize_symbols(symbols) if symbols is not None else None
    bars = history_bars(wanted, start, end)  # names symbols the history lacks first
    if wanted is not None:
        known_symbols(_universe(lake, securities, settings), wanted)
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
    universe = _universe(lake, securities, settings)
    chosen = _backfill_symbols(universe, symbols, exclude_history)
    if securities is None:
        seed_securities(lake, settings)  # live ingestion and the generator read the table
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
    if symbols is not None:
        return known_symbols(universe, normalize_symbols(symbols))
    active = universe[universe["active"].astype(bool) & (universe["asset_class"] != "cash")]
    chosen = list(active["symbol"])
    if exclude_history:
        covered = set(history_symbols())
        chosen = [s for s in chosen if s not in covered]
    if not chosen:
        raise MarketDataError("no active symbols to backfill")
    return chosen


def normalize_symbols(symbols: Sequence[str]) -> list[str]:
    """Stripped, upper-case, first occurrence kept; :class:`ConfigError` if none is left."""
    chosen = list(dict.fromkeys(str(s).strip().upper() for s in symbols if str(s).strip()))
    if not chosen:
        raise ConfigError("--symbols names no symbol")
    return chosen


def known_symbols(
    universe: pd.DataFrame, symbols: list[str], *, history_checked: bool = False
) -> list[str]:
    """``symbols`` if the securities universe lists every one; else a one-line ConfigError.

    Every source refuses a symbol the universe does not list: the synthetic source would make
    bars up for it, and bars from any source would sit in the lake with no asset class, calendar
    or live ingestion behind them. A new real symbol goes in ``REBALANCER_SYMBOLS_FILE`` first.
    ``history_checked``: the symbols were looked up in the bundled history too (the default
    backfill), and the message says so.
    """
    listed = set(universe["symbol"].astype(str))
    unknown = [s for s in symbols if s not in listed]
    if not unknown:
        return symbols
    shown = ", ".join(unknown[:10]) + (f" (+{len(unknown) - 10} more)" if len(unknown) > 10 else "")
    hint = (
        "add new symbols to REBALANCER_SYMBOLS_FILE, then run `rebalancer securities seed --force`"
    )
    if history_checked and not set(unknown) & set(history_symbols()):
        raise ConfigError(
            f"no bundled history for {shown}, and not in the securities universe ({hint})"
        )
    noun = "unknown symbol" if len(unknown) == 1 else "unknown symbols"
    raise ConfigError(f"{noun} {shown}: not in the securities universe ({hint})")


def _universe(
    lake: Lake, securities: pd.DataFrame | None, settings: Settings | None
) -> pd.DataFrame:
    """The universe to check symbols against, read without seeding (bad input writes nothing)."""
    return securities if securities is not None else universe_of(lake, settings)


# ------------------------------------------------------------------ the default backfill
#: The synthetic part of :func:`backfill_universe` covers this many years up to its last day
#: when no ``start`` is given (2018-12-28 .. 2022-12-28 with the bundled history).
SYNTHETIC_YEARS = 4


def history_first_day() -> str:
    """The first day of the bundled history (1990-01-02)."""
    return f"{history_closes().index.min():%Y-%m-%d}"


def history_last_day() -> str:
    """The last day of the bundled history (2022-12-28)."""
    return f"{history_closes().index.max():%Y-%m-%d}"


def backfill_universe(
    lake: Lake,
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    symbols: Sequence[str] | None = None,
    interval: str = "1d",
    progress: LabelledProgress | None = None,
    securities: pd.DataFrame | None = None,
    settings: Settings | None = None,
    exclude_history: bool = False,
    now: pd.Timestamp | None = None,
) -> list[BackfillResult]:
    """Daily bars for every active universe symbol: ``rebalancer backfill`` with no options.

    The bundled real history first (the symbols it covers), then the seeded synthetic series
    for the rest, so ``generate`` finds a price for every model symbol after one command.

    Dates: the history part covers ``[start, end]`` (default: all of it, 1990-01-02 ..
    2022-12-28). The synthetic part *ends where the history ends* (its last day,
    :func:`history_last_day`) unless ``end`` is given, and starts at ``start`` or
    :data:`SYNTHETIC_YEARS` before its end: both parts stop on the same day, so the newest
    close of every symbol is from that day and a book priced "as of the latest bar" finds them
    all (a synthetic fill running to today left history symbols unpriced).

    Returns the results that wrote something (history first). ``symbols`` must all be in the
    universe; only daily bars (the history has no 5-minute bars).
    """
    if interval != "1d":
        raise ConfigError(
            "the default backfill loads daily bars (the bundled history has no 5m bars): "
            "pass --source synthetic or --source yfinance for 5m"
        )
    if exclude_history:
        raise ConfigError(
            "--exclude-history goes with --source synthetic or yfinance: the default backfill "
            "already fills only what the history lacks"
        )
    if start and end and pd.Timestamp(start) > pd.Timestamp(end):
        raise MarketDataError(f"--start {start} is after --end {end}")
    first_day, last_day = history_first_day(), history_last_day()
    if (start and pd.Timestamp(start) > pd.Timestamp(last_day)) or (
        end and pd.Timestamp(end) < pd.Timestamp(first_day)
    ):
        raise MarketDataError(
            f"no history between {start or 'the beginning'} and {end or 'the end'} (the bundled "
            f"history covers {first_day} .. {last_day}): use --source synthetic for other days"
        )
    universe = _universe(lake, securities, settings)
    if symbols is not None:
        wanted = known_symbols(universe, normalize_symbols(symbols), history_checked=True)
    else:
        wanted = _backfill_symbols(universe, None, exclude_history=False)
    classes = asset_class_map(universe)
    covered = set(history_symbols())
    from_history = [s for s in wanted if s in covered]
    synthetic = [s for s in wanted if s not in covered and classes.get(s) != "cash"]

    def report(label: str) -> Progress | None:
        if progress is None:
            return None
        return lambda done, total: progress(label, done, total)

    results: list[BackfillResult] = []
    if from_history:
        results.append(
            backfill(
                lake,
                source=HISTORY_SOURCE,
                start=start,
                end=end,
                symbols=from_history,
                progress=report(f"{HISTORY_SOURCE} 1d"),
                securities=universe,
                settings=settings,
            )
        )
    if synthetic:
        last = pd.Timestamp(end) if end else pd.Timestamp(history_last_day())
        first = pd.Timestamp(start) if start else last - pd.DateOffset(years=SYNTHETIC_YEARS)
        results.append(
            backfill(
                lake,
                source="synthetic",
                start=first.date(),
                end=last.date(),
                symbols=synthetic,
                interval="1d",
                progress=report("synthetic 1d"),
                securities=universe,
                settings=settings,
                now=now,
            )
        )
    if securities is None:
        seed_securities(lake, settings)  # as a synthetic backfill does: generate reads it
    return results
