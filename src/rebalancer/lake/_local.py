"""LocalLake: Parquet files in a directory, queried with DuckDB through Athena SQL."""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from rebalancer.config import memory_size
from rebalancer.errors import ConfigError, QueryError
from rebalancer.lake._base import (
    DEFAULT_QUERY_TIMEOUT_SECONDS,
    LakeBase,
    empty_frame,
    superseded_objects,
    validate_object_name,
)
from rebalancer.lake._manifest import LocalBlobs, book_snapshot
from rebalancer.lake._params import sql_literal
from rebalancer.lake._schema import TableSchema, duckdb_type, get_schema, load_schemas
from rebalancer.lake._sql import athena_to_duckdb, view_to_duckdb
from rebalancer.lake._views import view_definitions

if TYPE_CHECKING:
    import duckdb

_TMP_SUFFIX = ".tmp"
_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist", re.IGNORECASE)
_MISSING_FUNCTION = re.compile(
    r"(?:Scalar|Aggregate|Table) Function with name (\S+) does not exist"
)
# DuckDB expands these in every path it reads: a lake at ``lake[1]`` would read ``lake1``.
_GLOB_CHARS = "*?[]{}"


class LocalLake(LakeBase):
    """A lake in a local directory: ``<root>/<table>/dt=YYYY-MM-DD/<name>.parquet``.

    Writes are atomic (temp file + rename) and idempotent (same key, same object). Queries are
    Athena SQL transpiled to DuckDB and run on views named like the Glue tables, in a DuckDB
    that may read only the lake directory (external access off, configuration locked), so a
    query cannot reach the host's files, as on Athena.

    Parameters
    ----------
    root
        Directory of the lake; created on first write. A path holding a glob character
        (``*?[]{}``) or naming a file is refused.
    compression
        Parquet codec (zstd by default).
    query_timeout_seconds
        A query running longer is interrupted (:class:`QueryError`); ``None``: no limit.
    memory_limit
        Memory a query may hold before DuckDB spills to its temp directory, e.g. ``"2GB"``
        (:func:`memory_limit_text`); ``None``: DuckDB's default, 80% of the machine's RAM.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        compression: str = "zstd",
        query_timeout_seconds: float | None = DEFAULT_QUERY_TIMEOUT_SECONDS,
        memory_limit: str | None = None,
    ) -> None:
        self._memory_limit = None if memory_limit is None else memory_limit_text(memory_limit)
        self._root = Path(root).expanduser().resolve()
        glob_chars = sorted({ch for ch in str(self._root) if ch in _GLOB_CHARS})
        if glob_chars:
            raise ConfigError(
                f"lake path {self._root} contains {''.join(glob_chars)!r}: DuckDB reads those "
                "as a glob pattern (it would read other directories); rename or move the lake"
            )
        if self._root.exists() and not self._root.is_dir():
            raise ConfigError(f"lake path {self._root} is a file, not a directory")
        if query_timeout_seconds is not None and not query_timeout_seconds > 0:
            raise ConfigError(f"query timeout must be positive, got {query_timeout_seconds}")
        self._timeout = query_timeout_seconds
        self._compression = compression
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self.blobs = LocalBlobs(self._root)
        # Table view SQL last created on ``_con``, and whether the analyst views exist there.
        # DuckDB expands a view's glob at every query, so a view only needs re-creating when
        # its SQL changes (a first object, a compaction's superseded list).
        self._view_sql: dict[str, str] = {}
        self._analyst_views: list[str] | None = None

    @property
    def root(self) -> str:
        """The lake directory, absolute."""
        return str(self._root)

    def __repr__(self) -> str:
        return f"LocalLake({self.root!r})"

    # ------------------------------------------------------------------ paths
    def _table_dir(self, table: str) -> Path:
        return self._root / get_schema(table).name

    def object_path(self, table: str, name: str, dt: str | None = None) -> Path:
        """The file a (table, dt, name) object lives at."""
        base = self._table_dir(table)
        if dt is not None:
            base = base / f"dt={dt}"
        return base / f"{validate_object_name(name)}.parquet"

    # ------------------------------------------------------------------ write
    def _put(self, schema: TableSchema, rows: pa.Table, *, name: str, dt: str | None) -> str:
        path = self.object_path(schema.name, name, dt)
        self._write_atomic(rows, path)
        return str(path)

    def write_arrow(self, table: str, rows: pa.Table, *, name: str, dt: str | None) -> str:
        """Write an already-validated Arrow table at one key (used by compaction)."""
        schema = get_schema(table)
        if rows.schema != schema.arrow_schema():
            rows = rows.cast(schema.arrow_schema())
        return self._put(schema, rows, name=name, dt=dt)

    def _write_atomic(self, rows: pa.Table, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{_TMP_SUFFIX}")
        try:
            pq.write_table(rows, tmp, compression=self._compression)
            tmp.replace(path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    # ------------------------------------------------------------------ read
    def _list_keys(self, schema: TableSchema, dt: str | None) -> list[str]:
        """Committed Parquet files (temp files, dot-named, excluded)."""
        base = self._root / schema.name
        pattern = (
            f"dt={dt}/*.parquet"
            if dt
            else ("dt=*/*.parquet" if schema.partitioned else "*.parquet")
        )
        return [str(p) for p in base.glob(pattern) if not p.name.startswith(".")]

    def read_objects(self, table: str, keys: list[str]) -> pd.DataFrame:
        """Read exactly these files (data columns, schema types)."""
        schema = get_schema(table)
        if not keys:
            return empty_frame(schema, schema.column_names)
        return (
            ds.dataset(keys, format="parquet", schema=schema.arrow_schema()).to_table().to_pandas()
        )

    def delete_objects(self, keys: list[str]) -> None:
        """Remove objects; missing ones are ignored (deletes are idempotent)."""
        for key in keys:
            path = Path(key)
            if self._root not in path.resolve().parents:
                raise QueryError(f"refusing to delete {key}: outside the lake {self.root}")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _read_keys(
        self, schema: TableSchema, files: list[str], columns: list[str] | None
    ) -> pd.DataFrame:
        wanted = [
            c
            for c in (columns or [*schema.column_names, "dt"])
            if c in schema.column_names or (c == "dt" and schema.partitioned)
        ]
        partitioning = (
            ds.partitioning(pa.schema([("dt", pa.string())]), flavor="hive")
            if schema.partitioned
            else None
        )
        dataset = ds.dataset(
            files,
            format="parquet",
            partitioning=partitioning,
            partition_base_dir=str(self._root / schema.name),
        )
        frame = dataset.to_table(columns=wanted).to_pandas()
        return frame

    # ------------------------------------------------------------------ SQL
    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = sandboxed_duckdb(str(self._root) + os.sep, memory_limit=self._memory_limit)
        return self._con

    def _table_view_sql(self, schema: TableSchema, keys: list[str] | None = None) -> str:
        """A table's view: a glob over its files, or ``keys`` in that order if given."""
        base = self._root / schema.name
        every = self.list_objects(schema.name, include_superseded=True)
        if not every:
            return _no_rows_sql(schema, "false")
        hidden = superseded_objects(every)
        if keys is None and not every[0].startswith(f"{base}{os.sep}"):  # a published book
            keys = every
        source = sql_literal(str(base / ("dt=*/*.parquet" if schema.partitioned else "*.parquet")))
        if keys is not None or hidden:  # slots superseded by a compacted object: list the rest
            listed = keys if keys is not None else [k for k in every if k not in hidden]
            source = "[" + ", ".join(sql_literal(k) for k in listed) + "]"
        options = (
            ", hive_partitioning = true, hive_types = {'dt': VARCHAR}"
            if schema.partitioned
            else ", hive_partitioning = false"
        )
        return f"SELECT * FROM read_parquet({source}{options})"

    def _unreadable_view_sql(self, schema: TableSchema, error: Exception) -> str:
        """The view of a table whose objects DuckDB cannot bind.

        DuckDB takes a view's columns from its first object, so one corrupt object there
        would fail every query, on every table. Instead the view lists a readable object
        first: queries that touch the corrupt one fail naming it (as for any later object),
        the rest run. With no readable object, queries on this table alone fail, naming it.
        """
        keys = self.list_objects(schema.name)
        readable = next((k for k in keys if _parquet_readable(k)), None)
        if readable is not None:
            return self._table_view_sql(schema, [readable, *(k for k in keys if k != readable)])
        bad = next(iter(keys), "?")
        reason = _first_line(error).split("Error: ", 1)[-1]
        message = f"table {schema.name}: cannot read object {bad} ({reason})"
        return _no_rows_sql(schema, f"error({sql_literal(message)}) IS NULL")

    def _refresh_views(self, con: duckdb.DuckDBPyConnection, *, force: bool = False) -> list[str]:
        for schema in load_schemas().values():
            sql = self._table_view_sql(schema)
            if force or self._view_sql.get(schema.name) != sql:
                try:
                    con.execute(f"CREATE OR REPLACE VIEW {_ident(schema.name)} AS {sql}")
                except _duckdb().Error as exc:  # a corrupt first object
                    fallback = self._unreadable_view_sql(schema, exc)
                    con.execute(f"CREATE OR REPLACE VIEW {_ident(schema.name)} AS {fallback}")
                    self._view_sql.pop(schema.name, None)  # retried until the object is fixed
                    continue
                self._view_sql[schema.name] = sql
        if self._analyst_views is not None and not force:
            return self._analyst_views
        pending = dict(view_definitions())
        created: list[str] = []
        last_error: Exception | None = None
        while pending:
            progressed = False
            for name, body in list(pending.items()):
                try:
                    con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS {view_to_duckdb(body)}")
                except _duckdb().CatalogException as exc:  # depends on a view not created yet
                    last_error = exc
                    continue
                created.append(name)
                del pending[name]
                progressed = True
            if not progressed:
                raise QueryError(
                    f"cannot create view(s) {sorted(pending)}: {_first_line(last_error)}"
                )
        self._analyst_views = created
        return created

    def sync_views(self) -> list[str]:
        """(Re)create the table views and the analyst views; returns the analyst view names."""
        with self._lock:
            return self._refresh_views(self._connection(), force=True)

    def _query(self, sql: str) -> pd.DataFrame:
        """Run bound Athena SQL on DuckDB over this lake's files."""
        return self.query_duckdb(athena_to_duckdb(sql))

    def query_duckdb(self, duck_sql: str) -> pd.DataFrame:
        """Run DuckDB SQL (already transpiled and checked) on the lake's views.

        A query running past the timeout is interrupted from a timer thread.
        """
        with self._lock, book_snapshot(self.blobs):  # one book version for every view
            con = self._connection()
            self._refresh_views(con)
            guard = _Deadline(con, self._timeout)
            try:
                return con.execute(duck_sql).df()
            except _duckdb().InterruptException:
                if guard.fired:
                    raise QueryError(
                        f"query exceeded {self._timeout:g} s (REBALANCER_QUERY_TIMEOUT_SECONDS)"
                    ) from None
                raise
            except _duckdb().Error as exc:
                raise QueryError(_describe_duckdb_error(exc)) from None
            finally:
                guard.cancel()

    def explain(self, sql: str, *, analyze: bool = False) -> str:
        """DuckDB's plan for an Athena query (for pruning checks and tuning)."""
        verb = "EXPLAIN ANALYZE" if analyze else "EXPLAIN"
        frame = self.query_duckdb(f"{verb} {athena_to_duckdb(sql)}")
        return "\n".join(str(v) for v in frame.iloc[:, -1])

    def close(self) -> None:
        """Close the DuckDB connection."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
                self._view_sql, self._analyst_views = {}, None


class _Deadline:
    """Interrupts a DuckDB connection's running query after ``seconds`` (``None``: never).

    ``cancel`` runs when the query ends; the flag and the lock make sure a timer that fires
    just as the query finishes never interrupts the next one.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, seconds: float | None) -> None:
        self.fired = False
        self._con = con
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire) if seconds is not None else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if not self._done:
                self.fired = True
                self._con.interrupt()

    def cancel(self) -> None:
        with self._lock:
            self._done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()  # no thread left holding the connection at interpreter exit


#: Threads each DuckDB connection of this process uses (``None``: DuckDB's default, one per
#: core). A shard worker sets its share of the cores (rebalancer.usecases._batch), so two
#: workers on two cores do not each run a query on both.
DUCKDB_THREADS: int | None = None


#: Where a memory-limited query spills (DuckDB's default is ``.tmp`` in the working directory).
SPILL_DIRECTORY = Path(tempfile.gettempdir()) / "rebalancer-duckdb"


def memory_limit_text(value: str) -> str:
    """``value`` as a DuckDB memory limit (``512MB``, ``2 GiB``, ...), or :class:`ConfigError`."""
    try:
        return memory_size(value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def sandboxed_duckdb(
    directory: str | None = None,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with Athena's semantics that reads ``directory`` and nothing else
    (``None``: no file at all, only tables registered on it), its configuration locked.
    ``threads``: its thread count (``None``: :data:`DUCKDB_THREADS`). ``memory_limit``: what a
    query may hold before it spills to :data:`SPILL_DIRECTORY` (``None``: DuckDB's default)."""
    import duckdb  # here, not at import: the Lambdas (AwsLake) ship without DuckDB

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET integer_division = true")  # 7/2 is 3, -7/2 is -3: Trino's rule
    con.execute("SET enable_progress_bar = false")  # it would print into query output
    threads = DUCKDB_THREADS if threads is None else threads
    if threads is not None:
        con.execute(f"SET threads = {max(1, int(threads))}")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = {sql_literal(memory_limit_text(memory_limit))}")
        con.execute(f"SET temp_directory = {sql_literal(str(SPILL_DIRECTORY))}")
    # Read the lake and nothing else (DuckDB adds its temp directory itself), then lock the
    # configuration so no query can undo it. Views and registered tables are not settings:
    # they are still (re)created after the lock.
    if directory is not None:
        con.execute(f"SET allowed_directories = [{sql_literal(directory)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET python_enable_replacements = false")  # no Python variable as a table
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def query_tables(tables: Mapping[str, pa.Table], duck_sql: str) -> pd.DataFrame:
    """Run DuckDB SQL (already transpiled and checked) over in-memory ``tables``, each
    registered under its lake table name, in a :func:`sandboxed_duckdb` that reads no file.

    One thread: these are one shard's or one household's tables, and a single thread sums
    in one fixed order, so a query gives the same bits on every run and in every process
    (with two, a window ``sum`` over 120,000 sleeves differed in its last bits from run to
    run), for less CPU (no partial results to merge)."""
    frame: pd.DataFrame = _on_tables(tables, lambda con: con.execute(duck_sql).df())
    return frame


def query_tables_arrow(tables: Mapping[str, pa.Table], duck_sql: str) -> pa.Table:
    """:func:`query_tables` as the Arrow table DuckDB gives, without the pandas conversion
    (a batch shard's features go from it straight to their typed columns)."""
    table: pa.Table = _on_tables(tables, lambda con: con.sql(duck_sql).to_arrow_table())
    return table


def _on_tables(
    tables: Mapping[str, pa.Table], run: Callable[[duckdb.DuckDBPyConnection], object]
) -> Any:
    """``run`` on this thread's one-thread :func:`sandboxed_duckdb` with ``tables``
    registered for the call only, in a transaction rolled back after it: a later call sees
    neither the tables nor anything a statement created."""
    con = _tables_connection()
    try:
        for name, rows in tables.items():
            con.register(name, rows)
        con.begin()
        return run(con)
    except _duckdb().Error as exc:
        raise QueryError(_describe_duckdb_error(exc)) from None
    finally:
        with contextlib.suppress(Exception):  # no transaction open: nothing to undo
            con.rollback()
        for name in tables:
            with contextlib.suppress(Exception):  # never registered: nothing to undo
                con.unregister(name)


#: Per thread id, the sandboxed DuckDB that in-memory queries run on (:func:`_on_tables`).
_TABLES_DUCKDB: dict[int, duckdb.DuckDBPyConnection] = {}
_TABLES_DUCKDB_LOCK = threading.Lock()


def _tables_connection() -> duckdb.DuckDBPyConnection:
    """This thread's one-thread :func:`sandboxed_duckdb` for in-memory tables, made once:
    setting one up costs ~0.05 s, as much as a daily run's shard features query. Closed and
    dropped at exit (DuckDB's bindings report a connection still alive then as a leak)."""
    me = threading.get_ident()
    con = _TABLES_DUCKDB.get(me)
    if con is None:
        con = sandboxed_duckdb(threads=1)
        with _TABLES_DUCKDB_LOCK:
            if not _TABLES_DUCKDB:
                atexit.register(_close_tables_connections)
            _TABLES_DUCKDB[me] = con
    return con


def _close_tables_connections() -> None:
    with _TABLES_DUCKDB_LOCK:
        connections = list(_TABLES_DUCKDB.values())
        _TABLES_DUCKDB.clear()
    for con in connections:
        with contextlib.suppress(Exception):
            con.close()


def _parquet_readable(key: str) -> bool:
    try:
        pq.read_schema(key)
    except Exception:  # any failure means DuckDB cannot bind it either
        return False
    return True


def _no_rows_sql(schema: TableSchema, where: str) -> str:
    """A view body with the table's columns and types and no rows (``where`` is false or
    raises)."""
    cols = [f"CAST(NULL AS {duckdb_type(c.type)}) AS {_ident(c.name)}" for c in schema.columns]
    cols += [f"CAST(NULL AS VARCHAR) AS {_ident(p.name)}" for p in schema.partition_keys]
    return f"SELECT {', '.join(cols)} WHERE {where}"


def _duckdb() -> ModuleType:
    import duckdb

    return duckdb


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc else "unknown error"


def _describe_duckdb_error(exc: duckdb.Error) -> str:
    message = _first_line(exc)
    if match := _MISSING_TABLE.search(message):
        return f"unknown table {match[1]}"
    if match := _MISSING_FUNCTION.search(message):
        return f"unsupported function {match[1]}"
    return message
