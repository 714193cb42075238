"""Household shards: the book's physical unit smaller than a table.

A sharded book version stores each household-keyed table (``clients``, ``accounts``,
``holdings``, ``tax_lots``, ``restrictions``, ``transactions``) as one object per shard,
``_book/versions/<v>/<table>/shard=NNNN/part-00000.parquet``, where

    shard = first 32 bits of md5(utf8(household key)), big-endian, mod S

and the household key is ``household_id`` (an account without one is a household of its own,
keyed by its ``account_id``). The same expression in Athena (Trino) SQL, which the local lake
runs on DuckDB through its transpiler (:func:`shard_sql`)::

    from_base(substr(to_hex(md5(to_utf8(household_id))), 1, 8), 16) % S

A household never straddles shards; rows within a shard are sorted by household key (then by
their order in the book), in row groups of :data:`ROW_GROUP_ROWS` rows, so a reader can skip to
one household by Parquet statistics. Every (table, shard) object exists, empty or not, so the
keys are a function of the version and the shard alone.

S follows the book size (:func:`shards_for`): a book of fewer than
:data:`MIN_SHARDED_ACCOUNTS` accounts stays unsharded (it fits in memory whole, and its
layout is the chunked one), a larger one gets ``ceil(accounts / ACCOUNTS_PER_SHARD)`` shards.
S is recorded in the book manifest (``shards``; 0 = unsharded); the manifest also lists every
shard object, so whole-table reads, the DuckDB views and Athena's symlink lists read a sharded
book unchanged.

An account index, ``_book/versions/<v>/_account_index/shard=NNNN/part-00000.parquet``
(``account_id, household_id, shard``, placed by the same hash of the *account* id), takes a
single-account read to its household's shard with two object reads and no SQL.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rebalancer.errors import ConfigError, NotFoundError
from rebalancer.lake import get_schema
from rebalancer.lake._manifest import (
    BlobStore,
    BookManifest,
    LocalBlobs,
    book_snapshot,
    current_manifest,
    version_prefix,
)

if TYPE_CHECKING:
    from rebalancer.book._tables import BookTables
    from rebalancer.lake import Lake

#: Target accounts per shard (about 4 MB of Parquet and 60 MB in memory per shard).
ACCOUNTS_PER_SHARD = 10_000
#: Books smaller than this stay unsharded.
MIN_SHARDED_ACCOUNTS = 2 * ACCOUNTS_PER_SHARD
#: Four digits in ``shard=NNNN``.
MAX_SHARDS = 9_999
#: Rows per Parquet row group in a shard object (the unit a reader skips by statistics).
ROW_GROUP_ROWS = 2_048
#: Household-keyed tables, written one object per shard.
SHARDED_TABLES: tuple[str, ...] = (
    "clients",
    "accounts",
    "holdings",
    "tax_lots",
    "restrictions",
    "transactions",
)
#: Per-shard tables a batch or a household read needs (``clients`` is not read by the engine).
ENGINE_SHARD_TABLES: tuple[str, ...] = SHARDED_TABLES[1:]
ACCOUNT_INDEX = "_account_index"
SHARD_OBJECT = "part-00000"
HASH_NAME = "md5-32"


# ---------------------------------------------------------------------------- the hash
def shards_for(n_accounts: int) -> int:
    """The documented rule: 0 (unsharded) below :data:`MIN_SHARDED_ACCOUNTS` accounts, else
    ``ceil(n_accounts / ACCOUNTS_PER_SHARD)`` capped at :data:`MAX_SHARDS`."""
    if n_accounts < MIN_SHARDED_ACCOUNTS:
        return 0
    return min(MAX_SHARDS, math.ceil(n_accounts / ACCOUNTS_PER_SHARD))


def check_shards(shards: int) -> int:
    """A shard count a book may have (1 .. :data:`MAX_SHARDS`)."""
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise ConfigError(f"shards must be between 1 and {MAX_SHARDS}, got {shards!r}")
    return shards


def stable_hash(key: str) -> int:
    """The first 32 bits of md5(utf8(key)) as an unsigned big-endian integer."""
    return int.from_bytes(hashlib.md5(key.encode("utf-8"), usedforsecurity=False).digest()[:4])


def shard_of(key: str, shards: int) -> int:
    """The shard of one household (or account, for the account index) key."""
    return stable_hash(key) % shards


def shards_of(keys: Iterable[str], shards: int) -> np.ndarray:
    """:func:`shard_of` for many keys (int32 array)."""
    return np.fromiter((stable_hash(k) % shards for k in keys), dtype=np.int32)


def shard_sql(column: str, shards: int) -> str:
    """The shard expression in Athena SQL (runs locally through the DuckDB transpiler).

    ``column`` is a column name or expression of the query, never a value: values go through
    ``Lake.query(params=...)``, e.g. ``shard_sql(':household', 16)``.
    """
    return f"from_base(substr(to_hex(md5(to_utf8({column}))), 1, 8), 16) % {int(shards)}"


# ---------------------------------------------------------------------------- keys
def shard_name(shard: int) -> str:
    """The Hive-style directory of one shard."""
    return f"shard={shard:04d}"


def shard_key(version: str, table: str, shard: int) -> str:
    """Lake-relative key of ``table``'s object in ``shard`` of book ``version``."""
    return f"{version_prefix(version)}{table}/{shard_name(shard)}/{SHARD_OBJECT}.parquet"


def household_keys(frame: pd.DataFrame, household_of: dict[str, str] | None = None) -> pd.Series:
    """Each row's household key: its ``household_id``, else its account's household (from
    ``household_of``), else its ``account_id``."""
    key = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    if "household_id" in frame.columns:
        hh = frame["household_id"]
        key = hh.astype(object).where(hh.notna(), None)
    if "account_id" in frame.columns:
        account = frame["account_id"].astype(object)
        if household_of is not None:
            key = key.where(key.notna(), account.map(household_of))
        key = key.where(key.notna(), account)
    return key.astype(str)


def account_households(accounts: pd.DataFrame) -> dict[str, str]:
    """``{account_id: household key}`` of an accounts frame."""
    ids = accounts["account_id"].astype(str)
    return dict(zip(ids, household_keys(accounts), strict=True))


@dataclass(frozen=True)
class Placed:
    """Rows of one table with their household key and shard (for the sharded writer)."""

    rows: pa.Table
    key: np.ndarray
    shard: np.ndarray


def place(table: str, frame: pd.DataFrame, shards: int, household_of: dict[str, str]) -> Placed:
    """Validate ``frame`` against its schema and give every row its key and shard."""
    rows = get_schema(table).validate(frame)
    key = household_keys(frame.reset_index(drop=True), household_of).to_numpy(dtype=object)
    return Placed(rows, key, shards_of(key, shards))


def index_rows(accounts: pd.DataFrame, shards: int) -> Placed:
    """The account index rows of an accounts frame, placed by the hash of the account id."""
    ids = accounts["account_id"].astype(str).to_numpy(dtype=object)
    household = shards_of(household_keys(accounts), shards)
    rows = pa.table(
        {
            "account_id": pa.array(ids, type=pa.string()),
            "household_id": pa.array(
                accounts["household_id"].astype(object).where(accounts["household_id"].notna()),
                type=pa.string(),
            ),
            "shard": pa.array(household, type=pa.int32()),
        }
    )
    return Placed(rows, ids, shards_of(ids, shards))


# ---------------------------------------------------------------------------- reading
def parquet_bytes(rows: pa.Table) -> bytes:
    """A shard object's bytes: zstd, small row groups (statistics per group)."""
    sink = pa.BufferOutputStream()
    pq.write_table(rows, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    return bytes(sink.getvalue().to_pybytes())


def _read_object(
    blobs: BlobStore,
    key: str,
    table: str,
    filters: list[tuple[str, str, object]] | None = None,
    *,
    cache: bool = True,
) -> pd.DataFrame:
    """One object read (one GET on S3), only the row groups whose Parquet statistics can hold
    the ``filters`` rows, then those rows exactly: what ``pq.read_table(filters=...)`` gives.

    The object's footer is parsed once per process (:func:`_footer`) unless ``cache`` is off
    (a batch reads each shard once); a local object is read in place (only the chosen row
    groups' bytes), an S3 object whole (its one GET).
    """
    rows = _read_rows(blobs, key, get_schema(table).arrow_schema(), filters, cache=cache)
    # A household's few rows convert in half the time without the thread pool.
    return rows.to_pandas(use_threads=not filters)


#: Columns a shard read filters on (their row-group statistics are kept; a filter on another
#: column reads every row group and filters rows).
_FILTER_COLUMNS = frozenset({"account_id", "household_id"})
#: Parsed footers of shard objects, by URI, least recently used first: ``(validator, footer)``
#: (see :func:`_footer`). Only the single-household path fills it; a batch reads each shard once.
_footers: _FooterCache
#: Footers kept per process, the least recently used dropped first: at most this many, and
#: at most :data:`MAX_FOOTER_BYTES` of them as serialized (parsed, a footer takes about 7x its
#: serialized size: a 1M book's 600 shard objects have 10 MiB of footers, 73 MiB parsed, so a
#: warm API process keeps them all; a 10M book's would take 730 MiB, so a third are kept).
MAX_FOOTERS = 8_192
MAX_FOOTER_BYTES = 32 * 2**20


@dataclass(frozen=True)
class _Footer:
    """A Parquet footer and, per column, the row groups' min and max (``None``: no stats)."""

    metadata: pq.FileMetaData
    schema: pa.Schema
    tail: bytes
    ranges: dict[str, list[tuple[Any, Any] | None]]

    @classmethod
    def parse(cls, metadata: pq.FileMetaData, tail: bytes) -> _Footer:
        ranges: dict[str, list[tuple[Any, Any] | None]] = {}
        names = metadata.schema.names
        keyed = [c for c, name in enumerate(names) if name in _FILTER_COLUMNS]
        for g in range(metadata.num_row_groups):
            group = metadata.row_group(g)
            for c in keyed:  # statistics of the columns reads filter on
                column = group.column(c)
                stats = column.statistics
                ok = stats is not None and stats.has_min_max
                ranges.setdefault(column.path_in_schema, []).append(
                    (stats.min, stats.max) if ok else None
                )
        return cls(metadata, metadata.schema.to_arrow_schema(), tail, ranges)

    def row_groups(self, filters: list[tuple[str, str, object]] | None) -> list[int]:
        """Row groups whose statistics do not rule out every filter (all of them: AND)."""
        groups = range(self.metadata.num_row_groups)
        if not filters:
            return list(groups)
        out = []
        for g in groups:
            for column, op, value in filters:
                bounds = self.ranges.get(column, [None] * (g + 1))[g]
                if bounds is None:
                    continue
                low, high = bounds
                values: list[Any] = list(value) if op == "in" else [value]  # type: ignore[call-overload]
                if not any(low <= v <= high for v in values):
                    break
            else:
                out.append(g)
        return out


def _tail(data: bytes) -> bytes:
    """The footer bytes of a Parquet object (its length, then ``PAR1``, close the file)."""
    size = int.from_bytes(data[-8:-4], "little")
    return data[-(size + 8) :]


def _footer(
    blobs: BlobStore, key: str, *, cache: bool = True
) -> tuple[str | pa.BufferReader, _Footer]:
    """``(source, footer)`` of one object (a local path, or the fetched bytes), its footer
    parsed once per process (kept in :data:`_footers` when ``cache``).

    A local file is keyed by its (inode, size, mtime); an S3 object is fetched whole (its one
    GET, as before) and its cached footer reused only when the fetched bytes end in the same
    footer: a replaced object is never read with a stale footer.
    """
    uri = blobs.uri(key)
    source: str | pa.BufferReader
    if isinstance(blobs, LocalBlobs):
        try:
            stat = Path(uri).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(uri) from None
        source, tail = uri, b""
        validator: object = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    else:
        data = blobs.get(key)
        if data is None:
            raise FileNotFoundError(uri)
        source, tail = pa.BufferReader(data), _tail(data)
        validator = tail
    hit = _footers.get(uri)
    if hit is not None and hit[0] == validator:
        _footers.move_to_end(uri)
        return source, hit[1]
    footer = _Footer.parse(pq.read_metadata(source), tail)
    if isinstance(source, pa.BufferReader):
        source.seek(0)
    if cache:
        _footers.keep(uri, validator, footer)
    return source, footer


class _FooterCache(OrderedDict[str, tuple[object, "_Footer"]]):
    """Parsed footers by URI, least recently used first, with their serialized bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def keep(self, uri: str, validator: object, footer: _Footer) -> None:
        """Cache a parsed footer, then drop the least recently used past either bound."""
        old = self.pop(uri, None)
        if old is not None:
            self.bytes -= old[1].metadata.serialized_size
        self[uri] = (validator, footer)
        self.bytes += footer.metadata.serialized_size
        while len(self) > 1 and (len(self) > MAX_FOOTERS or self.bytes > MAX_FOOTER_BYTES):
            _, (_, dropped) = self.popitem(last=False)
            self.bytes -= dropped.metadata.serialized_size


_footers = _FooterCache()


def _read_rows(
    blobs: BlobStore,
    key: str,
    schema: pa.Schema | None,
    filters: list[tuple[str, str, object]] | None = None,
    columns: list[str] | None = None,
    *,
    cache: bool = True,
) -> pa.Table:
    """The rows of one object that pass ``filters`` (``=`` / ``in`` on columns) as ``schema``
    (``None``: the object's own); row groups are skipped by statistics and the rest filtered
    row by row: exactly the rows and order ``pq.read_table(filters=...)`` gives."""
    source, footer = _footer(blobs, key, cache=cache)
    schema = footer.schema if schema is None else schema
    if not footer.schema.equals(schema) or any(op not in ("=", "in") for _, op, _ in filters or []):
        # another layout (an older object): the dataset reader reconciles it
        return pq.read_table(source, filters=filters, schema=schema, columns=columns)
    groups = footer.row_groups(filters)
    if not groups:
        empty = schema.empty_table()
        return empty if columns is None else empty.select(columns)
    wanted = columns
    if columns is not None and filters:
        wanted = columns + [c for c, _, _ in filters if c not in columns]
    # A filtered read takes a group or two: no read coalescing, no threads (each costs more
    # than it saves there); a whole object keeps both.
    file = pq.ParquetFile(source, metadata=footer.metadata, pre_buffer=not filters)
    rows = file.read_row_groups(groups, columns=wanted, use_threads=not filters)
    if filters:
        mask = None
        for column, op, value in filters:
            values = list(value) if op == "in" else [value]  # type: ignore[call-overload]
            kind = rows.schema.field(column).type
            test = pc.is_in(rows[column], value_set=pa.array(values, type=kind))
            mask = test if mask is None else pc.and_(mask, test)
        rows = rows.filter(mask)
    return rows if columns is None else rows.select(columns)


def sharded_manifest(lake: Lake) -> BookManifest | None:
    """The current book manifest if the book is sharded (``None`` otherwise)."""
    blobs = getattr(lake, "blobs", None)
    if blobs is None:
        return None
    manifest = current_manifest(blobs)
    return manifest if manifest is not None and manifest.shards > 0 else None


def read_shard(lake: Lake, shard: int, manifest: BookManifest | None = None) -> BookTables:
    """One shard of a sharded book as a :class:`BookTables` (with the whole model and
    securities tables): what a batch worker rebalances."""
    from rebalancer.book._tables import BookTables

    with book_snapshot(lake.blobs) as pinned:  # type: ignore[attr-defined]
        book = manifest or pinned
        if book is None or book.shards <= 0:
            raise ConfigError("the published book is not sharded")
        if not 0 <= shard < book.shards:
            raise ConfigError(f"shard must be between 0 and {book.shards - 1}, got {shard}")
        blobs: BlobStore = lake.blobs  # type: ignore[attr-defined]
        frames = {
            t: _read_object(blobs, shard_key(book.version, t, shard), t, cache=False)
            for t in ENGINE_SHARD_TABLES
        }
        return BookTables.from_typed_frames(
            **frames,
            model_portfolios=lake.read("model_portfolios"),
            securities=lake.read("securities"),
        )


def read_household(lake: Lake, account_id: str) -> BookTables:
    """The household of ``account_id`` read from its shard objects alone: the account index
    object, then one object per table (Parquet statistics skip to the household), the model
    portfolios and securities; no SQL. An unsharded book reads through
    :meth:`BookTables.from_lake`. Raises :class:`NotFoundError` for an unknown account."""
    from rebalancer.book._tables import BookTables, empty_table

    blobs: BlobStore | None = getattr(lake, "blobs", None)
    if blobs is None:
        return BookTables.from_lake(lake, household_of=account_id)
    with book_snapshot(blobs) as manifest:
        if manifest is None or manifest.shards <= 0:
            return BookTables.from_lake(lake, household_of=account_id)
        s = manifest.shards
        index = _read_object_index(blobs, manifest, account_id)
        if index.num_rows == 0:
            raise NotFoundError(f"account {account_id} not found in the accounts table")
        household = index.column("household_id")[0].as_py()
        shard = int(index.column("shard")[0].as_py())
        if not 0 <= shard < s:
            raise NotFoundError(f"account {account_id}: corrupt account index (shard {shard})")

        def obj(table: str, filters: list[tuple[str, str, object]]) -> pd.DataFrame:
            return _read_object(blobs, shard_key(manifest.version, table, shard), table, filters)

        if pd.isna(household):
            accounts = obj("accounts", [("account_id", "=", account_id)])
        else:
            accounts = obj("accounts", [("household_id", "=", str(household))])
        ids = sorted(accounts["account_id"].astype(str).unique())
        if not ids:
            raise NotFoundError(f"account {account_id} not found in the accounts table")
        by_account = {t: obj(t, [("account_id", "in", ids)]) for t in ENGINE_SHARD_TABLES[1:4]}
        transactions = (
            empty_table("transactions")
            if pd.isna(household)
            else obj("transactions", [("household_id", "=", str(household))])
        )
        wanted = frozenset(str(m) for m in accounts["model_id"].tolist() if isinstance(m, str))
        return BookTables.from_typed_frames(
            accounts=accounts,
            model_portfolios=_book_models(lake, blobs, manifest.version, wanted),
            transactions=transactions,
            securities=_shared_table(lake, blobs, "securities", None).copy(),
            **by_account,
        ).one_household()


#: Seconds a warm process reuses the securities table it read (it changes with the universe,
#: rarely; the book's model portfolios are cached per book version, which never changes).
SHARED_CACHE_SECONDS = 60.0
_shared: dict[tuple[str, str, str | None], tuple[float, pd.DataFrame]] = {}


def _shared_table(lake: Lake, blobs: BlobStore, table: str, version: str | None) -> pd.DataFrame:
    """A small table every household read needs, read once per warm process: ``version``-keyed
    (immutable) for a book table, else for :data:`SHARED_CACHE_SECONDS`."""
    key = (blobs.uri(""), table, version)
    hit = _shared.get(key)
    if hit is not None and (
        version is not None or time.monotonic() - hit[0] < SHARED_CACHE_SECONDS
    ):
        return hit[1]
    frame = lake.read(table)
    if len(_shared) > 64:  # versions come and go: keep the cache small
        _shared.clear()
    _shared[key] = (time.monotonic(), frame)
    return frame


#: The model rows of a set of model ids, per book version (immutable): the API asks for the
#: same few combinations on every call.
_models: dict[tuple[str, str, frozenset[str]], pd.DataFrame] = {}


def _book_models(
    lake: Lake, blobs: BlobStore, version: str, wanted: frozenset[str]
) -> pd.DataFrame:
    """The book's ``model_portfolios`` rows of ``wanted`` (a copy: the caller owns it)."""
    key = (blobs.uri(""), version, wanted)
    hit = _models.get(key)
    if hit is None:
        models = _shared_table(lake, blobs, "model_portfolios", version)
        hit = models[models["model_id"].astype(str).isin(wanted)]
        if len(_models) > 256:
            _models.clear()
        _models[key] = hit
    return hit.copy()


def _read_object_index(blobs: BlobStore, manifest: BookManifest, account_id: str) -> pa.Table:
    key = shard_key(manifest.version, ACCOUNT_INDEX, shard_of(account_id, manifest.shards))
    return _read_rows(blobs, key, None, [("account_id", "=", account_id)])


def shard_symbols(lake: Lake, shard: int, manifest: BookManifest) -> set[str]:
    """Symbols one shard holds (its ``holdings.symbol`` column alone)."""
    data = lake.blobs.get(shard_key(manifest.version, "holdings", shard))  # type: ignore[attr-defined]
    if data is None:
        raise FileNotFoundError(shard_key(manifest.version, "holdings", shard))
    column = pq.read_table(pa.BufferReader(data), columns=["symbol"])["symbol"]
    return {str(s) for s in pc.unique(column).to_pylist() if s is not None}
