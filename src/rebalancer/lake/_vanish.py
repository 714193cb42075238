"""Reading objects that a compaction may delete between their listing and their read.

S3 (and a local directory) has no snapshot of a prefix: a reader lists a partition, then reads
the keys, and a compaction running meanwhile may have deleted a ``slot-*`` object in between.
Its rows are then in the partition's compacted object (the compaction writes that first), so
the reader lists again and reads through the compaction rule
(:func:`rebalancer.lake._base.superseded_objects`) instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from rebalancer.lake._base import Lake

VANISHED_READ_ATTEMPTS = 5


def object_vanished(exc: BaseException) -> bool:
    """Whether ``exc`` says an object was gone when read (LocalLake: ``FileNotFoundError``;
    S3 through awswrangler/botocore: a 404 / ``NoSuchKey`` client error)."""
    if isinstance(exc, FileNotFoundError):
        return True
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) in {"404", "NoSuchKey", "NotFound"}


def read_listed(
    lake: Lake,
    table: str,
    pick: Callable[[list[str]], list[str]],
    *,
    dt: str | None = None,
    attempts: int = VANISHED_READ_ATTEMPTS,
) -> pd.DataFrame:
    """List ``table`` (every object, superseded ones included), read the keys ``pick`` chooses.

    A compaction may delete a listed slot object before it is read: its rows are then in the
    partition's compacted object, so the read is retried from a fresh listing (and ``pick``
    sees the compacted object). Any other error, or a vanish on every attempt, is raised.
    """
    for attempt in range(1, attempts + 1):
        keys = pick(lake.list_objects(table, dt=dt, include_superseded=True))
        try:
            return lake.read_objects(table, keys)
        except Exception as exc:
            if attempt == attempts or not object_vanished(exc):
                raise
    raise AssertionError("unreachable")  # pragma: no cover
