"""Live ingestion: one 5-minute slot from a provider, validated, written at a deterministic key.

Slots
-----
A slot is the 5-minute bar window ``[slot, slot + 5m)``, named by its start (UTC). An event at
time ``T`` (the EventBridge ``time``, or the clock) ingests the latest *complete* slot:
``slot = floor(T, 5m) - 5m``. At 14:35:07 that is slot 14:30, whose bars closed at 14:35; the
bar forming since 14:35 is not written. The slot's rows go to one object,
``market_prices/dt=YYYY-MM-DD/slot-HHMM.parquet``; a retry, a duplicate event or a second
writer puts the same key again, so each row is stored once. Rejected rows go to
``ingest_rejects/dt=<rejection day>/market_prices-YYYYMMDD-HHMM.parquet``.

Only symbols whose calendar is open in the slot are requested (XNYS 09:30-16:00
America/New_York on XNYS sessions - weekdays minus NYSE holidays -, crypto always, cash never):
a closed market is not a failure.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import Any

import pandas as pd

from rebalancer.config import Settings
from rebalancer.errors import ConfigError, MarketDataError
from rebalancer.lake import Lake
from rebalancer.lake._base import COMPACTED_OBJECT_NAME
from rebalancer.lake._vanish import read_listed
from rebalancer.market._calendar import is_xnys_session
from rebalancer.market._provider import MarketDataProvider, utc
from rebalancer.market._universe import asset_class_map, load_securities
from rebalancer.market._validate import validate_bars

SLOT = pd.Timedelta(minutes=5)
SLOT_PREFIX = "slot-"
_XNYS_OPEN = pd.Timedelta(hours=9, minutes=30)
_XNYS_CLOSE = pd.Timedelta(hours=16)


def slot_for(event_time: object) -> pd.Timestamp:
    """The slot an event at ``event_time`` ingests: ``floor(T, 5m) - 5m``, tz-aware UTC."""
    return utc(event_time).floor(SLOT) - SLOT


def slot_object_name(slot: pd.Timestamp) -> str:
    """``slot-HHMM``: the object name of a slot inside its ``dt`` partition."""
    return f"{SLOT_PREFIX}{utc(slot):%H%M}"


def rejects_object_name(table: str, slot: pd.Timestamp) -> str:
    """Deterministic name of a slot's rejects object (a retry overwrites it)."""
    return f"{table}-{utc(slot):%Y%m%d-%H%M}"


def open_calendars(slot: pd.Timestamp) -> set[str]:
    """Calendars trading during ``[slot, slot + 5m)``."""
    open_now = {"24/7"}
    local = utc(slot).tz_convert("America/New_York")
    minute = local - local.normalize()
    if _XNYS_OPEN <= minute < _XNYS_CLOSE and is_xnys_session(local.date()):
        open_now.add("XNYS")
    return open_now


@dataclass(frozen=True)
class IngestSummary:
    """What one slot ingestion did (the Lambda's return value)."""

    slot: str
    slot_end: str
    source: str
    requested: int
    rows_written: int
    rejected: int
    failed_symbols: dict[str, str] = field(default_factory=dict)
    missing_symbols: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def previous_closes(lake: Lake, slot: pd.Timestamp, *, lookback: int = 3) -> dict[str, float]:
    """Last close per symbol from the nearest of the previous ``lookback`` slots.

    A slot's rows live in its ``slot-HHMM`` object or, once its day is compacted, in the day's
    ``compacted`` object: both are read. A compaction running at the same time may delete a
    slot object between the listing and the read; :func:`read_listed` then re-lists and reads
    the compacted object instead, so a concurrent compaction never stops an ingest.
    """
    found: dict[str, float] = {}
    steps = [utc(slot) - step * SLOT for step in range(1, lookback + 1)]
    for dt in dict.fromkeys(f"{prev:%Y-%m-%d}" for prev in steps):
        wanted = [prev for prev in steps if f"{prev:%Y-%m-%d}" == dt]
        frame = _slot_bars(lake, dt, wanted)
        if frame.empty:
            continue
        for prev in wanted:  # nearest slot first: it decides a symbol's previous close
            rows = frame[(frame["ts"] >= prev) & (frame["ts"] < prev + SLOT)]
            last = rows.sort_values("ts", kind="stable").groupby("symbol", sort=False)["close"]
            for symbol, close in last.last().items():
                found.setdefault(str(symbol), float(close))
    return found


def _slot_bars(lake: Lake, dt: str, slots: list[pd.Timestamp]) -> pd.DataFrame:
    """The 5-minute bars of ``slots`` (all in partition ``dt``): slot objects plus compacted."""
    names = {f"{slot_object_name(s)}.parquet" for s in slots} | {f"{COMPACTED_OBJECT_NAME}.parquet"}

    def pick(keys: list[str]) -> list[str]:
        return [k for k in keys if k.rsplit("/", 1)[-1] in names]

    frame = read_listed(lake, "market_prices", pick, dt=dt)
    frame = frame[frame["interval"] == "5m"]
    ts = pd.to_datetime(frame["ts"], utc=True)
    first, end = min(slots), max(slots) + SLOT
    return frame.assign(ts=ts)[(ts >= first) & (ts < end)]


def ingest_slot(
    lake: Lake,
    provider: MarketDataProvider,
    event_time: object,
    *,
    securities: pd.DataFrame | None = None,
    settings: Settings | None = None,
    now: object | None = None,
    ingested_at: object | None = None,
) -> IngestSummary:
    """Fetch, validate and write the slot an event at ``event_time`` names.

    Raises :class:`MarketDataError` when the provider fails for every symbol requested (so a
    Lambda retries and its DLQ catches a persistent outage); a partial failure writes the good
    rows and reports the rest in :attr:`IngestSummary.failed_symbols`.
    """
    slot = slot_for(event_time)
    end = slot + SLOT
    stamp = utc(ingested_at) if ingested_at is not None else pd.Timestamp.now("UTC")
    clock = utc(now) if now is not None else max(end, pd.Timestamp.now("UTC"))
    universe = securities if securities is not None else load_securities(lake, settings)
    active = universe[universe["active"].astype(bool)]
    open_now = active[active["calendar"].isin(open_calendars(slot))]
    symbols = list(open_now["symbol"])
    base = {
        "slot": slot.isoformat(),
        "slot_end": end.isoformat(),
        "source": provider.name,
        "requested": len(symbols),
    }
    if not symbols:
        return IngestSummary(**base, rows_written=0, rejected=0)
    result = provider.fetch(symbols, slot, end, "5m", now=clock)
    if result.failed and len(result.failed) >= len(symbols):
        raise MarketDataError(
            f"{provider.name} failed for all {len(symbols)} symbol(s) in slot {slot:%Y-%m-%d %H:%M}"
        )
    checked = validate_bars(
        result.bars,
        source=provider.name,
        rejected_at=stamp,
        asset_classes=asset_class_map(universe),
        window=(slot, end),
        previous_close=previous_closes(lake, slot),
    )
    keys = _write_slot(lake, checked.good, checked.rejects, slot, stamp)
    present = set(checked.good["symbol"]) | set(checked.rejects["symbol"].dropna())
    missing = sorted(s for s in symbols if s not in present and s not in result.failed)
    return IngestSummary(
        **base,
        rows_written=len(checked.good),
        rejected=len(checked.rejects),
        failed_symbols=dict(sorted(result.failed.items())),
        missing_symbols=missing,
        keys=keys,
    )


def _write_slot(
    lake: Lake,
    good: pd.DataFrame,
    rejects: pd.DataFrame,
    slot: pd.Timestamp,
    stamp: pd.Timestamp,
) -> list[str]:
    keys: list[str] = []
    if not rejects.empty:
        keys += lake.write(
            "ingest_rejects", rejects, name=rejects_object_name("market_prices", slot)
        )
    if not good.empty:
        rows = good.assign(ingested_at=stamp.tz_localize(None))
        keys += lake.write("market_prices", rows, name=slot_object_name(slot))
    return keys


# ---------------------------------------------------------------------- scheduler
def parse_every(text: str) -> pd.Timedelta:
    """``5m``, ``30s``, ``1h`` -> a positive duration."""
    try:
        value = pd.Timedelta(text.strip())
    except (ValueError, TypeError):
        raise ConfigError(f"--every must be a duration like 5m or 30s, got {text!r}") from None
    if pd.isna(value) or value <= pd.Timedelta(0):
        raise ConfigError(f"--every must be positive, got {text!r}")
    return value


class StopFlag:
    """Set by the first SIGINT/SIGTERM: the loop finishes the current slot, then stops.

    A second signal restores the default behaviour (KeyboardInterrupt), which abandons the
    current slot: its writes are atomic per object, so nothing half-written stays behind.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.event.set()

    def install(self) -> StopFlag:
        """Take over SIGINT and SIGTERM (main thread only)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        """Give the signals back."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def schedule(
    *,
    every: pd.Timedelta,
    start: object | None = None,
    max_slots: int | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], pd.Timestamp] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[pd.Timestamp]:
    """Event times aligned to ``every`` boundaries, like EventBridge ``rate(...)``.

    The first event is ``start`` (default: now) at once; later ones are the next boundaries.
    With a ``start`` in the past the loop catches up without waiting, then keeps real time.
    Stops after ``max_slots`` events or when ``stop`` is set (checked while waiting).
    """
    now_fn = clock or (lambda: pd.Timestamp.now("UTC"))
    flag = stop or threading.Event()
    step = every
    current = utc(start) if start is not None else now_fn()
    count = 0
    while not flag.is_set() and (max_slots is None or count < max_slots):
        yield current
        count += 1
        if max_slots is not None and count >= max_slots:
            return
        current = (current.floor(step) if step <= pd.Timedelta(days=1) else current) + step
        while not flag.is_set():
            wait = (current - now_fn()).total_seconds()
            if wait <= 0:
                break
            sleep(min(wait, 0.2))


def summary_line(summary: IngestSummary) -> str:
    """One human line per slot for the CLI."""
    failed = f", failed {','.join(summary.failed_symbols)}" if summary.failed_symbols else ""
    return (
        f"slot {summary.slot[:16]} {summary.source}: {summary.rows_written} row(s) written, "
        f"{summary.rejected} rejected, {summary.requested} requested{failed}"
    )


def counts_by_reason(rejects: pd.DataFrame) -> Mapping[str, int]:
    """Reject counts per reason code (a row with two codes counts for both)."""
    if rejects.empty:
        return {}
    codes = rejects["reason"].str.split(",").explode()
    return {str(k): int(v) for k, v in codes.value_counts().sort_index().items()}
