"""The latest prices as one small object: the single-account path prices a household without a
query.

``_prices/latest.parquet`` (lake-relative, beside the tables) holds the newest bar of every
``(symbol, interval)`` in ``market_prices`` (newest ``ts``, then newest ``ingested_at``: the
order :func:`~rebalancer.market._prices.load_prices` ranks by), with its ``dt``. Every write to
``market_prices`` refreshes it (:meth:`rebalancer.lake.LakeBase.write` calls
:func:`refresh_latest_prices`: ingest, backfill, compaction): the written bars are merged into
it, or, when the object is missing (a lake older than it), it is rebuilt with one query.

:func:`prices_from_latest` answers ``book_as_of`` and ``load_prices`` from it, exactly, or says
it cannot (``None``: the caller runs the queries):

* the default as-of is the earliest of the symbols' newest closes among bars of the last
  :data:`LOOKBACK_DAYS` days before the newest ``dt`` (``book_as_of``'s first window; a symbol
  without a bar there needs the wider windows: ``None``);
* the prices at ``as_of`` are each ``(symbol, interval)``'s newest bar when it closed by
  ``as_of``; when one closed later the price is an older bar the object does not hold: ``None``.

A warm process keeps the object for :data:`CACHE_SECONDS` (ingest refreshes every 5 minutes;
a refresh in the same process replaces the cached copy at once), so a warm API call reads it at
most once a minute. The object merges what is written: two writers refreshing at the same
instant may lose one's merge, and a write that replaces an object with *other* bars (ingest,
backfill and compaction never do: a re-written slot holds the same bars or newer
``ingested_at``) leaves its old bars in the object; ``refresh_latest_prices(lake)`` rebuilds it
from the table with one query (ingest runs one at a time).
"""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rebalancer.market._prices import LOOKBACK_DAYS
from rebalancer.market._provider import BAR_LENGTH

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rebalancer.lake import Lake
    from rebalancer.lake._manifest import BlobStore

LATEST_KEY = "_prices/latest.parquet"
#: Seconds a warm process reuses the object it read.
CACHE_SECONDS = 60.0
COLUMNS = ["symbol", "interval", "ts", "close", "ingested_at", "dt"]

_NEWEST_BARS = """
SELECT symbol, "interval", ts, close, ingested_at, dt FROM (
    SELECT symbol, "interval", ts, close, ingested_at, dt,
           row_number() OVER (PARTITION BY symbol, "interval"
                              ORDER BY ts DESC, ingested_at DESC) AS rn
    FROM market_prices
    WHERE ts IS NOT NULL AND close IS NOT NULL
) WHERE rn = 1
"""

_cache: dict[str, tuple[float, pd.DataFrame | None]] = {}
_lock = threading.Lock()


def _blobs(lake: Lake) -> BlobStore | None:
    return getattr(lake, "blobs", None)


def _newest(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per ``(symbol, interval)``: newest ``ts``, then newest ``ingested_at``."""
    frame = frame[COLUMNS].dropna(subset=["ts", "close"])
    frame = frame.assign(
        symbol=frame["symbol"].astype(str),
        interval=frame["interval"].astype(str),
        ts=pd.to_datetime(frame["ts"]).astype("datetime64[us]"),
        ingested_at=pd.to_datetime(frame["ingested_at"]).astype("datetime64[us]"),
        dt=frame["dt"].astype(str),
        close=frame["close"].astype(float),
    )
    frame = frame.sort_values(["symbol", "interval", "ts", "ingested_at"], kind="stable")
    return frame.drop_duplicates(["symbol", "interval"], keep="last").reset_index(drop=True)


def _with_close_times(frame: pd.DataFrame) -> pd.DataFrame:
    length = frame["interval"].map(BAR_LENGTH).fillna(timedelta(0))
    return frame.assign(closed=frame["ts"] + pd.to_timedelta(length))


def _remember(uri: str, frame: pd.DataFrame | None) -> None:
    with _lock:
        _cache[uri] = (time.monotonic(), None if frame is None else _with_close_times(frame))


def read_latest_prices(lake: Lake) -> pd.DataFrame | None:
    """The object's rows (plus ``closed``), cached per process; ``None`` when there is none."""
    blobs = _blobs(lake)
    if blobs is None:
        return None
    uri = blobs.uri(LATEST_KEY)
    with _lock:
        hit = _cache.get(uri)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    data = blobs.get(LATEST_KEY)
    frame = None if data is None else pq.read_table(io.BytesIO(data)).to_pandas()
    _remember(uri, frame)
    with _lock:
        return _cache[uri][1]


def refresh_latest_prices(
    lake: Lake, written: pa.Table | None = None, keys: list[str] | None = None
) -> int:
    """Merge ``written`` bars (validated ``market_prices`` rows with ``dt``, just put at
    ``keys``) into the object; without the object, start from them when they are the table's
    only objects, else rebuild it with one query (as when nothing is given). Returns its rows."""
    blobs = _blobs(lake)
    if blobs is None:
        return 0
    data = blobs.get(LATEST_KEY) if written is not None else None
    if written is not None and data is not None:
        current = pq.read_table(io.BytesIO(data)).to_pandas()
        frame = pd.concat([current, written.to_pandas()[COLUMNS]], ignore_index=True)
    elif (
        written is not None
        and keys is not None
        and set(lake.list_objects("market_prices", include_superseded=True)) <= set(keys)
    ):
        frame = written.to_pandas()
    else:
        frame = lake.query(_NEWEST_BARS)
    latest = _newest(frame)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(latest, preserve_index=False), sink, compression="zstd")
    blobs.put(LATEST_KEY, sink.getvalue().to_pybytes())
    _remember(blobs.uri(LATEST_KEY), latest)
    return len(latest)


def prices_from_latest(
    lake: Lake, symbols: Iterable[str], as_of: pd.Timestamp | None
) -> tuple[pd.Timestamp, pd.Series] | None:
    """``(as_of, prices)`` exactly as ``book_as_of`` + ``load_prices`` give them, from the
    latest-prices object alone; ``None`` when the object cannot answer (module docstring)."""
    latest = read_latest_prices(lake)
    if latest is None or latest.empty:
        return None
    wanted = {str(s) for s in symbols} - {"CASH"}
    if as_of is None:
        if not wanted:
            return None
        newest = pd.Timestamp(latest["dt"].max())
        start = (newest - timedelta(days=LOOKBACK_DAYS)).date().isoformat()
        recent = latest[latest["dt"] >= start]
        closes = recent.groupby("symbol")["closed"].max()
        if not wanted <= set(closes.index):
            return None
        as_of = pd.Timestamp(closes.loc[sorted(wanted)].min())
    start = (as_of - timedelta(days=LOOKBACK_DAYS)).strftime("%Y-%m-%d")
    in_window = latest[latest["dt"] >= start]
    if bool((in_window["closed"] > as_of).any()):
        return None  # an older bar is the price at as_of: only the query knows it
    bars = in_window.sort_values(["symbol", "closed", "interval"], ascending=[True, True, False])
    bars = bars.drop_duplicates("symbol", keep="last")
    prices = pd.Series(bars["close"].to_numpy(dtype=np.float64), index=bars["symbol"].to_numpy())
    return as_of, prices
