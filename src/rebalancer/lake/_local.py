"""LocalLake: Parquet files in a directory, queried with DuckDB through Athena SQL."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from rebalancer.errors import QueryError
from rebalancer.lake._base import (
    DEFAULT_OBJECT_NAME,
    empty_frame,
    keys_in_range,
    split_by_partition,
    superseded_objects,
    validate_object_name,
)
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


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LocalLake:
    """A lake in a local directory: ``<root>/<table>/dt=YYYY-MM-DD/<name>.parquet``.

    Writes are atomic (temp file + rename) and idempotent (same key, same object). Queries are
    Athena SQL transpiled to DuckDB and run on views named like the Glue tables.

    Parameters
    ----------
    root
        Directory of the lake; created on first write.
    compression
        Parquet codec (zstd by default).
    """

    def __init__(self, root: str | os.PathLike[str], *, compression: str = "zstd") -> None:
        self._root = Path(root).expanduser().resolve()
        self._compression = compression
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
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
    def write(self, table: str, df: pd.DataFrame, *, name: str = DEFAULT_OBJECT_NAME) -> list[str]:
        """Validate, then write one object per ``dt`` atomically; returns the paths written."""
        schema = get_schema(table)
        validate_object_name(name)
        validated = schema.validate(df)
        written: list[str] = []
        for dt, rows in split_by_partition(schema, validated):
            path = self.object_path(table, name, dt)
            self._write_atomic(rows, path)
            written.append(str(path))
        return written

    def write_arrow(self, table: str, rows: pa.Table, *, name: str, dt: str | None) -> str:
        """Write an already-validated Arrow table at one key (used by compaction)."""
        schema = get_schema(table)
        if rows.schema != schema.arrow_schema():
            rows = rows.cast(schema.arrow_schema())
        path = self.object_path(table, name, dt)
        self._write_atomic(rows, path)
        return str(path)

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
    def list_objects(
        self, table: str, *, dt: str | None = None, include_superseded: bool = False
    ) -> list[str]:
        """Committed Parquet files of a table (temp files and superseded slots excluded)."""
        base = self._table_dir(table)
        pattern = (
            f"dt={dt}/*.parquet"
            if dt
            else ("dt=*/*.parquet" if get_schema(table).partitioned else "*.parquet")
        )
        keys = sorted(str(p) for p in base.glob(pattern) if not p.name.startswith("."))
        if include_superseded:
            return keys
        hidden = superseded_objects(keys)
        return [k for k in keys if k not in hidden] if hidden else keys

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

    def read(
        self,
        table: str,
        *,
        start: str | None = None,
        end: str | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Read a table into pandas, reading only partitions in ``[start, end]``."""
        schema = get_schema(table)
        files = self.list_objects(table)
        if schema.partitioned and (start or end):
            files = keys_in_range(files, start, end)
        if not files:
            return empty_frame(schema, columns)
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
            partition_base_dir=str(self._table_dir(table)),
        )
        frame = dataset.to_table(columns=wanted).to_pandas()
        return frame

    # ------------------------------------------------------------------ SQL
    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            import duckdb  # here, not at import: the Lambdas (AwsLake) ship without DuckDB

            con = duckdb.connect(":memory:")
            con.execute("SET TimeZone = 'UTC'")
            self._con = con
        return self._con

    def _table_view_sql(self, schema: TableSchema) -> str:
        base = self._root / schema.name
        every = self.list_objects(schema.name, include_superseded=True)
        hidden = superseded_objects(every)
        if every:
            glob = str(base / ("dt=*/*.parquet" if schema.partitioned else "*.parquet"))
            source = _sql_string(glob)
            if hidden:  # slots superseded by a compacted object: list the visible files
                source = "[" + ", ".join(_sql_string(k) for k in every if k not in hidden) + "]"
            options = (
                ", hive_partitioning = true, hive_types = {'dt': VARCHAR}"
                if schema.partitioned
                else ", hive_partitioning = false"
            )
            return f"SELECT * FROM read_parquet({source}{options})"
        cols = [f"CAST(NULL AS {duckdb_type(c.type)}) AS {_ident(c.name)}" for c in schema.columns]
        cols += [f"CAST(NULL AS VARCHAR) AS {_ident(p.name)}" for p in schema.partition_keys]
        return f"SELECT {', '.join(cols)} WHERE false"

    def _refresh_views(self, con: duckdb.DuckDBPyConnection, *, force: bool = False) -> list[str]:
        for schema in load_schemas().values():
            sql = self._table_view_sql(schema)
            if force or self._view_sql.get(schema.name) != sql:
                con.execute(f"CREATE OR REPLACE VIEW {_ident(schema.name)} AS {sql}")
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

    def query(self, sql: str) -> pd.DataFrame:
        """Run Athena SQL on DuckDB over this lake's files."""
        duck_sql = athena_to_duckdb(sql)
        return self.query_duckdb(duck_sql)

    def query_duckdb(self, duck_sql: str) -> pd.DataFrame:
        """Run DuckDB SQL (already transpiled) on the lake's views."""
        with self._lock:
            con = self._connection()
            self._refresh_views(con)
            try:
                return con.execute(duck_sql).df()
            except _duckdb().Error as exc:
                raise QueryError(_describe_duckdb_error(exc)) from None

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
