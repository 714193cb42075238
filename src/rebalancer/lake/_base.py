"""The Lake protocol: the one seam between the platform and where its tables live."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Protocol, cast, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa

from rebalancer.lake._manifest import BlobStore, book_objects
from rebalancer.lake._params import bind_params
from rebalancer.lake._schema import TableSchema, get_schema, partition_values

DEFAULT_OBJECT_NAME = "part-00000"
DEFAULT_QUERY_TIMEOUT_SECONDS = 300.0


@runtime_checkable
class Lake(Protocol):
    """Tables stored as Parquet at deterministic Hive-style keys, queried with Athena SQL."""

    @property
    def root(self) -> str:
        """Where the lake lives: a directory or ``s3://bucket/prefix``."""
        ...

    def write(self, table: str, df: pd.DataFrame, *, name: str = DEFAULT_OBJECT_NAME) -> list[str]:
        """Validate ``df`` against the table schema, then write one object per ``dt``.

        Keys are ``<root>/<table>/dt=YYYY-MM-DD/<name>.parquet`` (partitioned tables) or
        ``<root>/<table>/<name>.parquet``; writing the same key again replaces it, so retries
        never duplicate rows. Returns the keys written. Nothing is written if validation fails.
        """
        ...

    def read(
        self,
        table: str,
        *,
        start: str | None = None,
        end: str | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Read a table, pruned to partitions ``start <= dt <= end`` (ISO dates) if given."""
        ...

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> pd.DataFrame:
        """Run one read-only Athena SQL statement and return its result.

        Values go in ``params``, never pasted into ``sql``: each ``:name`` placeholder becomes
        the literal of ``params["name"]`` (:func:`rebalancer.lake.sql_literal`), e.g.
        ``query("SELECT * FROM accounts WHERE account_id IN :ids", {"ids": ["a", "b"]})``.
        """
        ...

    def list_objects(
        self, table: str, *, dt: str | None = None, include_superseded: bool = False
    ) -> list[str]:
        """Keys of the table's Parquet objects (one partition if ``dt`` is given), sorted.

        Objects superseded by a compacted object (:func:`superseded_objects`) are left out
        unless ``include_superseded``: that is the reader rule compaction relies on.
        """
        ...

    def read_objects(self, table: str, keys: list[str]) -> pd.DataFrame:
        """Read exactly these objects of ``table`` (data columns only, no ``dt``)."""
        ...

    def delete_objects(self, keys: list[str]) -> None:
        """Delete the given objects (keys as returned by :meth:`list_objects`)."""
        ...

    def sync_views(self) -> list[str]:
        """Create or replace the analyst views of ``sql/views``; returns their names."""
        ...


class LakeBase(ABC):
    """What both backends share, written once: the write loop, the compaction reader rule,
    the partition-range read and parameter binding.

    A backend says how one object is put, how a table's keys are listed, how listed keys are
    read and how bound Athena SQL runs.
    """

    #: Raw objects at lake-relative keys: the book manifest and its versions.
    blobs: BlobStore

    def write(self, table: str, df: pd.DataFrame, *, name: str = DEFAULT_OBJECT_NAME) -> list[str]:
        """Validate, then write one object per ``dt``; returns the keys written."""
        schema = get_schema(table)
        validate_object_name(name)
        validated = schema.validate(df)
        keys = [
            self._put(schema, rows, name=name, dt=dt)
            for dt, rows in split_by_partition(schema, validated)
        ]
        if table == "market_prices" and keys:
            # The single-account path's latest-prices object follows every price write.
            from rebalancer.market._latest import refresh_latest_prices

            if "dt" not in validated.column_names:
                dts = pa.array(partition_values(schema, validated), pa.string())
                validated = validated.append_column("dt", dts)
            refresh_latest_prices(cast(Lake, self), validated, keys)
        return keys

    def list_objects(
        self, table: str, *, dt: str | None = None, include_superseded: bool = False
    ) -> list[str]:
        """Keys of the table's objects (one partition if ``dt``), sorted; superseded slots
        left out unless ``include_superseded`` (:func:`superseded_objects`). A table the
        book manifest names lists its published version's objects instead."""
        published = book_objects(self.blobs, table)
        if published is not None:
            return [] if dt else published
        keys = sorted(self._list_keys(get_schema(table), dt))
        if include_superseded:
            return keys
        hidden = superseded_objects(keys)
        return [k for k in keys if k not in hidden] if hidden else keys

    def read(
        self,
        table: str,
        *,
        start: str | None = None,
        end: str | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Read a table, reading only the partitions in ``[start, end]`` (ISO dates)."""
        schema = get_schema(table)
        keys = self.list_objects(table)
        if schema.partitioned and (start or end):
            keys = keys_in_range(keys, start, end)
        if not keys:
            return empty_frame(schema, columns)
        return self._read_keys(schema, keys, columns)

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> pd.DataFrame:
        """Run one read-only Athena statement, ``:name`` placeholders bound from ``params``."""
        return self._query(bind_params(sql, params))

    @abstractmethod
    def _put(self, schema: TableSchema, rows: pa.Table, *, name: str, dt: str | None) -> str:
        """Write validated rows at the (table, dt, name) key, replacing it; return the key."""

    @abstractmethod
    def _list_keys(self, schema: TableSchema, dt: str | None) -> list[str]:
        """Every committed object key of a table (one partition if ``dt``), any order."""

    @abstractmethod
    def _read_keys(
        self, schema: TableSchema, keys: list[str], columns: list[str] | None
    ) -> pd.DataFrame:
        """Read listed keys (non-empty), ``dt`` from the key for partitioned tables."""

    @abstractmethod
    def _query(self, sql: str) -> pd.DataFrame:
        """Run one bound Athena statement."""


def split_by_partition(schema: TableSchema, table: pa.Table) -> list[tuple[str | None, pa.Table]]:
    """Split a validated table into ``(dt, rows)`` groups; ``[(None, table)]`` if unpartitioned.

    Sorts once and slices contiguous runs, so a year of bars splits in one pass.
    """
    if not schema.partitioned:
        return [(None, table)]
    if table.num_rows == 0:
        return []
    dts = partition_values(schema, table)
    order = np.argsort(dts, kind="stable")
    if not np.all(order[1:] > order[:-1]):
        table = table.take(pa.array(order))
        dts = dts[order]
    starts = np.concatenate([[0], np.flatnonzero(dts[1:] != dts[:-1]) + 1])
    ends = np.concatenate([starts[1:], [len(dts)]])
    return [(str(dts[s]), table.slice(s, e - s)) for s, e in zip(starts, ends, strict=True)]


COMPACTED_OBJECT_NAME = "compacted"
SLOT_OBJECT_PREFIX = "slot-"


def superseded_objects(keys: list[str]) -> set[str]:
    """Keys hidden by the compaction reader rule.

    In a partition directory that holds ``compacted.parquet``, every ``slot-*.parquet`` is
    superseded: the compacted object already holds its rows. Compaction writes the compacted
    object first and deletes the slot objects after, so a reader applying this rule sees every
    row exactly once at every step, even if compaction dies in between (see
    :mod:`rebalancer.market._compact`).
    """
    compacted_dirs = {
        key.rsplit("/", 1)[0]
        for key in keys
        if key.rsplit("/", 1)[-1] == f"{COMPACTED_OBJECT_NAME}.parquet"
    }
    if not compacted_dirs:
        return set()
    return {
        key
        for key in keys
        if key.rsplit("/", 1)[0] in compacted_dirs
        and key.rsplit("/", 1)[-1].startswith(SLOT_OBJECT_PREFIX)
    }


def partition_of(key: str) -> str:
    """The ``dt`` of an object key (a local path or an S3 URI); ``""`` if unpartitioned."""
    parent = key.rsplit("/", 2)[-2] if key.count("/") >= 1 else ""
    return parent.removeprefix("dt=") if parent.startswith("dt=") else ""


def keys_in_range(keys: list[str], start: str | None, end: str | None) -> list[str]:
    """The keys whose partition lies in ``[start, end]`` (ISO dates, either bound optional)."""
    return [
        k
        for k in keys
        if (start is None or partition_of(k) >= start) and (end is None or partition_of(k) <= end)
    ]


def empty_frame(schema: TableSchema, columns: list[str] | None = None) -> pd.DataFrame:
    """A zero-row frame with the table's columns and types (``dt`` as string if partitioned)."""
    frame = schema.arrow_schema().empty_table().to_pandas()
    if schema.partitioned:
        frame["dt"] = pd.Series([], dtype="string")
    return frame[columns] if columns else frame


def validate_object_name(name: str) -> str:
    """Object names become file names: keep them to a safe alphabet."""
    if not name or not all(ch.isalnum() or ch in "-_." for ch in name) or name.startswith("."):
        from rebalancer.errors import ConfigError

        raise ConfigError(f"invalid object name {name!r}: use letters, digits, '-', '_' and '.'")
    return name
