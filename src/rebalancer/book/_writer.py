"""Write a generated book to the lake as one published version (whole or not at all).

An unsharded book (fewer than :data:`~rebalancer.book._shards.MIN_SHARDED_ACCOUNTS` accounts,
or ``shards=0``) writes each chunk as one ``part-NNNNN`` object per table under the run's own
version. A sharded book (:mod:`rebalancer.book._shards`) writes one object per household table
and shard, ``<table>/shard=NNNN/part-00000.parquet``: each chunk's rows are first staged by
bucket (a run of consecutive shards, :data:`MERGE_ACCOUNTS` accounts or so) under the version's
``_staging/``, then each bucket is read back, split into its shards, sorted by household and
written, so memory follows a chunk or a bucket, never the book. The static tables
(``advisors``, ``model_portfolios``) stay ``part-NNNNN``. Either way the book becomes visible
only when the run switches the lake's book manifest (:mod:`rebalancer.book._publish`). A killed
or failing run leaves the published book intact (its staging goes with its version); a second
run while one is publishing is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rebalancer.book._generator import BOOK_TABLES, BookChunk
from rebalancer.book._publish import BookPublication, unpublish
from rebalancer.book._shards import (
    ACCOUNT_INDEX,
    ACCOUNTS_PER_SHARD,
    ROW_GROUP_ROWS,
    SHARD_OBJECT,
    SHARDED_TABLES,
    Placed,
    account_households,
    check_shards,
    index_rows,
    place,
    shard_name,
    shards_for,
)
from rebalancer.lake import Lake, get_schema
from rebalancer.lake._manifest import version_prefix

#: Accounts a merge bucket holds (the sharded writer's memory bound after generation).
MERGE_ACCOUNTS = 250_000
_KEY, _SHARD = "__household_key", "__shard"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BookSummary:
    """What :func:`write_book` published: rows per table, objects, accounts, the version (and
    the one kept before it), and the objects the cleanup rule removed."""

    accounts: int
    chunks: int
    as_of: date | None = None
    rows: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    removed: int = 0
    version: str | None = None
    previous: str | None = None
    shards: int = 0


def part_name(index: int) -> str:
    """Deterministic object name of chunk ``index``: a re-run replaces, never duplicates."""
    return f"part-{index:05d}"


def clear_book(lake: Lake, tables: Iterable[str] = BOOK_TABLES) -> int:
    """Delete the whole book (every version, the manifest, flat objects of ``tables``) under
    the book lock; returns how many objects were removed."""
    return unpublish(lake, tuple(tables))


def write_book(
    lake: Lake,
    chunks: Iterable[BookChunk],
    *,
    total_accounts: int | None = None,
    progress: Progress | None = None,
    shards: int | None = None,
) -> BookSummary:
    """Write each chunk as it is generated (bounded memory) under a new version, then publish.

    ``shards``: household shards of the book; ``None`` follows the size rule
    (:func:`~rebalancer.book._shards.shards_for` of ``total_accounts``; unsharded when the
    total is not given), 0 is unsharded. ``progress(done_accounts, total_accounts)`` is called
    after every chunk. Empty tables of a chunk (e.g. no restrictions) still get their object,
    so every table has the same parts (every shard, when sharded). Raises
    :class:`~rebalancer.errors.ConflictError` if another run is publishing a book.
    """
    if shards is None:
        shards = shards_for(total_accounts) if total_accounts else 0
    elif shards != 0:
        check_shards(shards)
    iterator = iter(chunks)
    first = next(iterator, None)  # generate the first chunk before taking the lock
    if first is None:
        return BookSummary(accounts=0, chunks=0)
    as_of = first.as_of
    rows: dict[str, int] = dict.fromkeys(BOOK_TABLES, 0)
    objects = accounts = n_chunks = 0
    with BookPublication(lake) as publication:
        stager = _Stager(publication, shards) if shards else None
        chunk: BookChunk | None = first
        del first
        while chunk is not None:
            households = account_households(chunk.tables["accounts"]) if stager else {}
            for table, frame in chunk.tables.items():
                if stager is not None and table in SHARDED_TABLES:
                    stager.stage(table, place(table, frame, shards, households), chunk.index)
                    if table == "accounts":
                        stager.stage(ACCOUNT_INDEX, index_rows(frame, shards), chunk.index)
                else:
                    publication.write(table, frame, part_name(chunk.index))
                    objects += 1
                rows[table] += len(frame)
            accounts += chunk.n_accounts
            n_chunks += 1
            if progress:
                progress(accounts, total_accounts or accounts)
            chunk = None  # free this chunk before the next one is generated
            chunk = next(iterator, None)
        if stager is not None:
            objects += stager.merge()
        published = publication.publish(
            as_of=as_of.isoformat(), accounts=accounts, chunks=n_chunks, shards=shards
        )
    return BookSummary(
        accounts=accounts,
        chunks=n_chunks,
        as_of=as_of,
        rows=rows,
        objects=objects,
        removed=published.removed,
        version=published.version,
        previous=published.previous,
        shards=shards,
    )


_INDEX_SCHEMA = pa.schema(
    [("account_id", pa.string()), ("household_id", pa.string()), ("shard", pa.int32())]
)


class _Stager:
    """Stages chunks' rows by bucket of shards, then writes one sorted object per shard."""

    def __init__(self, publication: BookPublication, shards: int) -> None:
        self.publication = publication
        self.shards = shards
        self.per_bucket = max(1, MERGE_ACCOUNTS // ACCOUNTS_PER_SHARD)
        self.buckets = -(-shards // self.per_bucket)
        self.prefix = f"{version_prefix(publication.version)}_staging/"

    def _bucket_prefix(self, table: str, bucket: int) -> str:
        return f"{self.prefix}{table}/bucket={bucket:04d}/"

    def stage(self, table: str, placed: Placed, chunk: int) -> None:
        """Put this chunk's rows of ``table``, one staging object per bucket they fall in."""
        bucket = placed.shard // self.per_bucket
        rows = placed.rows.append_column(_KEY, pa.array(placed.key, type=pa.string()))
        rows = rows.append_column(_SHARD, pa.array(placed.shard, type=pa.int32()))
        for b in np.unique(bucket):
            take = pa.array(np.flatnonzero(bucket == b), type=pa.int64())
            key = f"{self._bucket_prefix(table, int(b))}{part_name(chunk)}.parquet"
            self.publication.put_rows(key, rows.take(take))

    def merge(self) -> int:
        """Write every (table, shard) object from the staged buckets; returns objects written.

        Staged pieces are read in chunk order and sorted stably by household key, so a
        household's rows keep their book order; every shard gets an object, empty or not.
        """
        blobs = self.publication.blobs
        written = 0
        for table in (*SHARDED_TABLES, ACCOUNT_INDEX):
            schema = _INDEX_SCHEMA if table == ACCOUNT_INDEX else get_schema(table).arrow_schema()
            for b in range(self.buckets):
                staged = blobs.list_keys(self._bucket_prefix(table, b))
                pieces = [pq.read_table(pa.BufferReader(blobs.get(k) or b"")) for k in staged]
                rows = pa.concat_tables(pieces) if pieces else None
                del pieces
                first = b * self.per_bucket
                for shard in range(first, min(first + self.per_bucket, self.shards)):
                    part = _shard_rows(rows, shard, schema)
                    name = f"{shard_name(shard)}/{SHARD_OBJECT}.parquet"
                    if table == ACCOUNT_INDEX:
                        key = f"{version_prefix(self.publication.version)}{table}/{name}"
                        self.publication.put_rows(key, part, row_group_size=ROW_GROUP_ROWS)
                    else:
                        self.publication.write_rows(
                            table, part, name, row_group_size=ROW_GROUP_ROWS
                        )
                    written += 1
                del rows
                blobs.delete(staged)
        return written


def _shard_rows(rows: pa.Table | None, shard: int, schema: pa.Schema) -> pa.Table:
    """One shard's rows of a staged bucket, sorted by household key (stable), helper columns
    dropped; an empty table with the schema when the shard has none."""
    if rows is None:
        return schema.empty_table()
    mine = np.flatnonzero(rows.column(_SHARD).to_numpy() == shard)
    if mine.size == 0:
        return schema.empty_table()
    picked = rows.take(pa.array(mine, type=pa.int64()))
    keys = picked.column(_KEY).to_numpy(zero_copy_only=False).astype(str)
    order = np.argsort(keys, kind="stable")
    picked = picked.take(pa.array(order, type=pa.int64()))
    return picked.drop_columns([_KEY, _SHARD]).cast(schema)
