"""Publish a book whole or not at all.

A run takes the lake's book lock, writes every table under a fresh version
(``_book/versions/<version>/<table>/part-NNNNN.parquet``, or ``<table>/shard=NNNN/
part-00000.parquet`` for a sharded book, :mod:`rebalancer.book._shards`: keys are
deterministic within a version, so a retried write overwrites), then switches the book in
three steps (the manifest records the shard count):

1. the manifest is re-written with ``switching_to=<version>`` (readers still use the old one);
2. each table's Athena symlink list ``_book/athena/<table>/symlink.txt`` is rewritten, and
   for the household-keyed tables (:data:`SHARD_PARTITIONED`, the Glue tables with the
   ``shard`` partition) one list per shard ``_book/athena/<table>/shard=NNNN/symlink.txt``
   (an unsharded book lists all its objects under ``shard=0000``); lists of shards the new
   book does not have are deleted;
3. the manifest is replaced by the new one: that single atomic replace is the publish.

A run that dies before step 3 leaves the old book in place (its partial version is deleted by
the next publish). A second run while one holds the lock is refused with a one-line
:class:`ConflictError` naming the holder. Cleanup rule, run after every publish under the lock:
keep the current and the previous version (readers pinned to the previous one finish their
reads), delete every other version directory (superseded books and dead runs' leftovers) and,
once the legacy flat layout is two publishes old, its ``<table>/*.parquet`` objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rebalancer.book._shards import SHARDED_TABLES
from rebalancer.errors import ConfigError, ConflictError
from rebalancer.lake import get_schema
from rebalancer.lake._manifest import (
    LEGACY_VERSION,
    LOCK_KEY,
    MANIFEST_KEY,
    SYMLINK_NAME,
    SYMLINK_PREFIX,
    VERSIONS_PREFIX,
    BlobStore,
    BookManifest,
    PublishLock,
    lock_holder,
    new_version,
    read_manifest,
    version_prefix,
)

if TYPE_CHECKING:
    from rebalancer.lake import Lake

COMPRESSION = "zstd"

#: Book tables Glue partitions by ``shard`` (terraform/modules/data_lake: ``sharded_tables``):
#: the tables a sharded book writes one object per shard.
SHARD_PARTITIONED: tuple[str, ...] = SHARDED_TABLES
_SHARD_DIR = re.compile(r"/shard=(\d{4})/")


def shard_symlink_lists(table: str, uris: list[str]) -> dict[str, str]:
    """Lake-relative key -> content of one table's per-shard Athena symlink lists.

    Athena's ``shard`` partition projection reads ``_book/athena/<table>/shard=NNNN/``, so each
    shard's list names that shard's objects alone (a query filtering on ``shard`` reads one
    object); objects outside any shard (an unsharded book) are listed under ``shard=0000``.
    """
    lists: dict[str, list[str]] = {}
    for uri in sorted(uris):
        found = _SHARD_DIR.search(uri)
        shard = found[1] if found else "0000"
        lists.setdefault(f"{SYMLINK_PREFIX}/{table}/shard={shard}/{SYMLINK_NAME}", []).append(uri)
    return {key: "".join(f"{u}\n" for u in listed) for key, listed in lists.items()}


def blobs_of(lake: Lake) -> BlobStore:
    """The lake's raw object store (both lakes have one; a stand-in lake may not)."""
    blobs = getattr(lake, "blobs", None)
    if blobs is None:
        raise ConfigError(f"{lake!r} cannot publish a book: it has no object store")
    return blobs


def flat_objects(blobs: BlobStore, tables: list[str] | tuple[str, ...]) -> list[str]:
    """Objects of the legacy flat layout, ``<table>/<name>.parquet``, of these tables."""
    return [
        key
        for table in tables
        for key in blobs.list_keys(f"{table}/")
        if key.count("/") == 1 and key.endswith(".parquet")
    ]


@dataclass(frozen=True)
class Published:
    """What a publish switched: the new version, the one kept before it, objects removed."""

    version: str
    previous: str | None
    removed: int


class BookPublication:
    """One version being written; use as a context manager (it holds the lake's book lock).

    Leaving the block without :meth:`publish` (an error) deletes what was written and keeps
    the published book as it was.
    """

    def __init__(self, lake: Lake, *, now: datetime | None = None) -> None:
        self.blobs = blobs_of(lake)
        self.version = new_version(now)
        self.objects: dict[str, list[str]] = {}
        self.rows: dict[str, int] = {}
        self._lock: PublishLock | None = None
        self._published = False

    def __enter__(self) -> BookPublication:
        self._lock = self.blobs.lock(LOCK_KEY, lock_holder(self.version))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._published:
                self.blobs.delete(self.blobs.list_keys(version_prefix(self.version)))
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def write(self, table: str, frame: pd.DataFrame, name: str) -> str:
        """Validate ``frame`` against the table schema and put it at its versioned key."""
        schema = get_schema(table)
        if schema.partitioned:
            raise ConfigError(f"{table} is partitioned: a book holds unpartitioned tables only")
        return self.write_rows(table, schema.validate(frame), f"{name}.parquet")

    def write_rows(
        self, table: str, rows: pa.Table, name: str, *, row_group_size: int | None = None
    ) -> str:
        """Put validated rows at ``<version>/<table>/<name>`` (``name`` may hold a Hive
        directory, ``shard=0007/part-00000.parquet``) and list the object in the manifest."""
        key = f"{version_prefix(self.version)}{get_schema(table).name}/{name}"
        self.put_rows(key, rows, row_group_size=row_group_size)
        self.objects.setdefault(table, []).append(key)
        self.rows[table] = self.rows.get(table, 0) + rows.num_rows
        return self.blobs.uri(key)

    def put_rows(self, key: str, rows: pa.Table, *, row_group_size: int | None = None) -> None:
        """Put rows as Parquet at a lake-relative key of this version (not listed in the
        manifest: staging and index objects); refreshes the lock."""
        if self._lock is None:
            raise RuntimeError("BookPublication.write outside its `with` block")
        if not key.startswith(version_prefix(self.version)):
            raise ConfigError(f"{key} is outside book version {self.version}")
        sink = pa.BufferOutputStream()
        pq.write_table(rows, sink, compression=COMPRESSION, row_group_size=row_group_size)
        self.blobs.put(key, sink.getvalue().to_pybytes())
        self._lock.refresh()

    def publish(
        self, *, as_of: str | None, accounts: int, chunks: int, shards: int = 0
    ) -> Published:
        """Switch readers to this version (see the module docstring), then clean up."""
        if self._lock is None:
            raise RuntimeError("BookPublication.publish outside its `with` block")
        self._lock.refresh()
        written = {k for keys in self.objects.values() for k in keys}
        missing = written - set(self.blobs.list_keys(version_prefix(self.version)))
        if missing:
            raise ConflictError(
                f"{len(missing)} object(s) of book version {self.version} vanished before it "
                "was published; nothing was published"
            )
        old = read_manifest(self.blobs)
        tables = sorted(self.objects)
        if old is not None:
            previous: str | None = old.version
            self.blobs.put(MANIFEST_KEY, replace(old, switching_to=self.version).to_bytes())
        else:
            previous = LEGACY_VERSION if flat_objects(self.blobs, tables) else None
        stale: list[str] = []
        for table in tables:
            uris = [self.blobs.uri(key) for key in sorted(self.objects[table])]
            self.blobs.put(
                f"{SYMLINK_PREFIX}/{table}/{SYMLINK_NAME}", "".join(f"{u}\n" for u in uris).encode()
            )
            if table in SHARD_PARTITIONED:
                lists = shard_symlink_lists(table, uris)
                for key, listing in lists.items():
                    self.blobs.put(key, listing.encode())
                listed = self.blobs.list_keys(f"{SYMLINK_PREFIX}/{table}/")
                stale += [k for k in listed if "/shard=" in k and k not in lists]
        self.blobs.delete(stale)
        manifest = BookManifest(
            version=self.version,
            tables={t: sorted(self.objects[t]) for t in tables},
            rows={t: self.rows.get(t, 0) for t in tables},
            as_of=as_of,
            accounts=accounts,
            chunks=chunks,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            previous=previous,
            shards=shards,
        )
        self.blobs.put(MANIFEST_KEY, manifest.to_bytes())
        self._published = True
        return Published(self.version, previous, cleanup(self.blobs, manifest))


def cleanup(blobs: BlobStore, manifest: BookManifest) -> int:
    """Apply the cleanup rule (module docstring) for ``manifest``; returns objects deleted.

    Only safe under the book lock: every version not kept is then superseded or dead.
    """
    keep = {manifest.version, manifest.previous}
    doomed = [
        key for key in blobs.list_keys(f"{VERSIONS_PREFIX}/") if key.split("/")[2] not in keep
    ]
    if LEGACY_VERSION not in keep:
        doomed += flat_objects(blobs, sorted(manifest.tables))
    blobs.delete(doomed)
    # Dead runs' temp files and empty directories, which list_keys does not show.
    blobs.sweep(f"{VERSIONS_PREFIX}/", {v for v in keep if v is not None})
    return len(doomed)


def unpublish(lake: Lake, tables: tuple[str, ...]) -> int:
    """Delete the whole book (manifest, every version, symlinks, flat objects) under the
    lock; returns the objects deleted."""
    blobs = blobs_of(lake)
    lock = blobs.lock(LOCK_KEY, lock_holder("unpublish"))
    try:
        blobs.delete([MANIFEST_KEY])
        doomed = blobs.list_keys(f"{VERSIONS_PREFIX}/") + flat_objects(blobs, tables)
        doomed += [k for t in tables for k in blobs.list_keys(f"{SYMLINK_PREFIX}/{t}/")]
        blobs.delete(doomed)
        return len(doomed) + 1
    finally:
        lock.release()
