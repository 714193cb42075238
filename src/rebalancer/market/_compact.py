"""Compaction: a day's 288 ``slot-HHMM`` objects become one sorted ``compacted`` object.

Why it is safe without atomic multi-object operations (S3 has none)
-------------------------------------------------------------------
The reader rule (:func:`rebalancer.lake._base.superseded_objects`, applied by
``Lake.list_objects``, ``Lake.read`` and the DuckDB views): *in a partition that holds
``compacted.parquet``, the ``slot-*.parquet`` objects are superseded and not read.*
Compaction then takes three steps, each a single-object operation:

1. read the partition's slot objects (and a previous ``compacted`` object, if any);
2. write ``compacted.parquet`` holding every one of those rows, deduplicated on
   ``(symbol, ts, interval)`` (latest ``ingested_at`` wins) and sorted by
   ``(symbol, interval, ts)`` - one atomic PUT (LocalLake: temp file + rename);
3. delete the slot objects it read, in batches.

Killed before step 2 completes: no ``compacted`` object, readers see the slots as before (a
LocalLake temp file may remain; its dot-name is never read). Killed during step 3: readers see
``compacted`` only, because the remaining slots are superseded. Re-running merges
``compacted`` with whatever slots remain (the dedup makes that a no-op for rows already in it)
and finishes the deletes. So readers never see a row twice or miss one.

What the rule costs: a slot object written for a day *after* that day was compacted (a very
late retry) is hidden until compaction runs again for that day, which picks it up. The daily
schedule compacts yesterday, long after the last retry of yesterday's slots.

Athena reading the Glue table directly does not apply the rule: between steps 2 and 3 (seconds,
or until the re-run if killed) an Athena query on the raw table would count those rows twice.
The README shows an Athena view with the same rule (a ``"$path"`` filter) that closes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from rebalancer.errors import ConfigError
from rebalancer.lake import Lake
from rebalancer.lake._base import COMPACTED_OBJECT_NAME, SLOT_OBJECT_PREFIX
from rebalancer.lake._vanish import read_listed

TABLE = "market_prices"
KEY_COLUMNS = ["symbol", "ts", "interval"]
SORT_COLUMNS = ["symbol", "interval", "ts"]
DELETE_BATCH = 50

Hook = Callable[[str], None]


@dataclass(frozen=True)
class CompactResult:
    """What one compaction did."""

    day: str
    slot_objects: int
    rows: int
    duplicates_dropped: int
    compacted_key: str | None
    deleted: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _name(key: str) -> str:
    return PurePosixPath(key).name


def parse_day(value: date | str) -> str:
    """An ISO day (``YYYY-MM-DD``); :class:`ConfigError` otherwise."""
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ConfigError(f"--date must be a day like 2024-03-05, got {value!r}") from None


def compact_day(lake: Lake, day: date | str, *, hook: Hook | None = None) -> CompactResult:
    """Merge one day's slot objects into ``compacted.parquet`` (idempotent, kill-safe).

    ``hook(stage)`` is called after each step (``"read"``, ``"written"``, ``"deleted"`` per
    batch): tests use it to kill the process at exact points.
    """
    dt = parse_day(day)
    slots: list[str] = []
    previous: list[str] = []

    def pick(keys: list[str]) -> list[str]:
        # read_listed calls this again after a re-list (another compaction deleted a slot)
        slots[:] = [k for k in keys if _name(k).startswith(SLOT_OBJECT_PREFIX)]
        previous[:] = [k for k in keys if _name(k) == f"{COMPACTED_OBJECT_NAME}.parquet"]
        return previous + slots if slots else []

    frame = read_listed(lake, TABLE, pick, dt=dt)
    if not slots:
        return CompactResult(dt, 0, 0, 0, previous[0] if previous else None, 0)
    if hook:
        hook("read")
    before = len(frame)
    frame = frame.sort_values("ingested_at", kind="stable").drop_duplicates(
        KEY_COLUMNS, keep="last"
    )
    frame = frame.sort_values(SORT_COLUMNS, kind="stable").reset_index(drop=True)
    written = lake.write(TABLE, frame, name=COMPACTED_OBJECT_NAME)
    if hook:
        hook("written")
    deleted = 0
    for i in range(0, len(slots), DELETE_BATCH):
        batch = slots[i : i + DELETE_BATCH]
        lake.delete_objects(batch)
        deleted += len(batch)
        if hook:
            hook("deleted")
    return CompactResult(
        day=dt,
        slot_objects=len(slots),
        rows=len(frame),
        duplicates_dropped=before - len(frame),
        compacted_key=written[0] if written else None,
        deleted=deleted,
    )


def default_compaction_day(now: object | None = None) -> str:
    """Yesterday (UTC) relative to ``now``: the day the daily schedule compacts."""
    stamp = pd.Timestamp(now) if now is not None else pd.Timestamp.now("UTC")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return (stamp.normalize() - pd.Timedelta(days=1)).date().isoformat()
