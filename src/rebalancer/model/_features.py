"""Holding features: one SQL text (``sql/features/holding_features.sql``), every path.

Training, batch scoring and one-household scoring all run the same Athena SQL through
:meth:`Lake.query`, so the same text runs on Athena and on the embedded engine and there is no
second feature implementation in Python. A book that is not the lake's (a batch shard, a
simulated date, a posted portfolio) is already in memory: the same SQL runs over its frames,
registered as the lake's tables (:class:`FrameTables`), with no file written or read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from rebalancer.book._tables import BookTables
from rebalancer.errors import ConfigError
from rebalancer.lake import (
    Lake,
    LocalLake,
    TableSchema,
    athena_to_duckdb,
    bind_params,
    get_schema,
    partition_values,
)
from rebalancer.resources import sql_dir

#: Identifying columns of a feature row (not features).
KEY_COLUMNS = ("account_id", "household_id", "advisor_id", "symbol")
#: Trading sessions of history the features need (the 126-session momentum, plus slack).
LOOKBACK_DAYS = 200
FEATURES_SQL_NAME = "features/holding_features.sql"


@cache
def features_sql() -> str:
    """The features query text (Athena dialect)."""
    return (sql_dir() / FEATURES_SQL_NAME).read_text(encoding="utf-8")


def feature_params(
    as_of: pd.Timestamp, *, household: str = "", min_trade_value: float = 10.0
) -> dict[str, object]:
    """The query's parameters for one as-of time (see the SQL file's header)."""
    when = pd.Timestamp(as_of)
    if when.tzinfo is not None:
        when = when.tz_convert("UTC").tz_localize(None)
    cutoff = when - pd.Timedelta(days=1)
    start = (when - timedelta(days=LOOKBACK_DAYS)).date().isoformat()
    return {
        "cutoff": cutoff.to_pydatetime(),
        "as_of_date": when.date(),
        "start_dt": start,
        "household": household,
        "min_trade_value": float(min_trade_value),
    }


class FrameTables:
    """Athena SQL over in-memory tables: each registered under its lake table name in a
    sandboxed DuckDB that reads no file (:func:`rebalancer.lake._local.query_tables`), after
    the same transpilation and read-only check as :meth:`Lake.query`. Frames are validated
    against the tables' schemas first, so every column has the type the lake stores and the
    query gives what it gives on a lake holding the same rows."""

    def __init__(self, frames: Mapping[str, pd.DataFrame]) -> None:
        self._tables = {name: _lake_rows(name, frame) for name, frame in frames.items()}

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> pd.DataFrame:
        """Run an Athena query (``:name`` placeholders bound from ``params``)."""
        from rebalancer.lake._local import query_tables

        return query_tables(self._tables, _transpiled(bind_params(sql, params)))

    def query_arrow(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        """:meth:`query` as DuckDB's Arrow table (no pandas conversion)."""
        from rebalancer.lake._local import query_tables_arrow

        return query_tables_arrow(self._tables, _transpiled(bind_params(sql, params)))


#: Transpiled queries handed over by another process (:func:`remember_features_sql`).
_GIVEN: dict[str, str] = {}


@lru_cache(maxsize=8)
def _transpiled(bound_sql: str) -> str:
    """:func:`athena_to_duckdb` of a bound query, remembered: parsing the features query
    costs 0.1-0.4 s, and every shard of a run binds the same parameters."""
    return _GIVEN.get(bound_sql) or athena_to_duckdb(bound_sql)


def features_duckdb_sql(as_of: pd.Timestamp, *, min_trade_value: float = 10.0) -> str:
    """The features query of a whole book at ``as_of`` as DuckDB runs it (what
    :func:`book_features` runs), transpiled once: a run's planner hands it to its shard
    workers (:func:`remember_features_sql`), which then need not parse it (~0.3 s each)."""
    return _transpiled(_whole_book_sql(as_of, min_trade_value))


def remember_features_sql(
    as_of: pd.Timestamp, duck_sql: str, *, min_trade_value: float = 10.0
) -> None:
    """Use ``duck_sql`` (:func:`features_duckdb_sql` of the same arguments, from another
    process) for this process's features query at ``as_of``."""
    _GIVEN[_whole_book_sql(as_of, min_trade_value)] = duck_sql


def _whole_book_sql(as_of: pd.Timestamp, min_trade_value: float) -> str:
    """The features query bound for every account at ``as_of`` (the text a batch binds)."""
    params = feature_params(as_of, household="", min_trade_value=min_trade_value)
    return bind_params(features_sql(), params)


def _lake_rows(name: str, frame: pd.DataFrame) -> pa.Table:
    """``frame`` as the lake stores and reads it: the schema's Arrow types, plus the ``dt``
    partition column (a string, as the lake's views give it) for a partitioned table."""
    schema = get_schema(name)
    rows = schema.validate(_dates_as_datetime64(schema, frame))
    if schema.partitioned:
        rows = rows.append_column("dt", pa.array(partition_values(schema, rows), pa.string()))
    return rows


def _dates_as_datetime64(schema: TableSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``date`` columns of Python dates as datetime64: the same values,
    which validation then checks in numpy instead of one Python call per row (0.2 s for a
    shard's 220k tax lots). A column Arrow cannot read as dates is left for validation to
    name its first bad row."""
    dates = [
        c.name
        for c in schema.columns
        if c.type == "date" and c.name in frame.columns and frame[c.name].dtype == object
    ]
    converted = {}
    for name in dates:
        try:
            days = pa.array(frame[name], type=pa.date32(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            continue
        converted[name] = pd.Series(days.to_numpy(zero_copy_only=False), index=frame.index)
    return frame.assign(**converted) if converted else frame


def holding_features(
    lake: Lake | FrameTables,
    as_of: pd.Timestamp,
    *,
    household: str | None = None,
    min_trade_value: float = 10.0,
) -> pd.DataFrame:
    """Feature rows of every sleeve in the lake's book (or one household) at ``as_of``."""
    if household == "":
        raise ConfigError("household must be a household id, or None for the whole book")
    params = feature_params(as_of, household=household or "", min_trade_value=min_trade_value)
    if isinstance(lake, FrameTables):  # the same frame, without DuckDB's pandas conversion
        typed = _typed_arrow(lake.query_arrow(features_sql(), params=params))
        if typed is not None:
            return typed
    return _typed(lake.query(features_sql(), params=params))


def feature_names(frame: pd.DataFrame) -> list[str]:
    """The feature columns of a features frame, in the query's order."""
    return [c for c in frame.columns if c not in KEY_COLUMNS]


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Keys as strings, features as float64 (NULL -> NaN: XGBoost's missing value).

    Built column by column into one new frame (assigning into a copy re-consolidated the
    blocks at every column); a key column the engine already gives as strings is kept."""
    columns: dict[str, object] = {}
    for column in frame.columns:
        values = frame[column]
        if column in KEY_COLUMNS:
            columns[column] = _key_column(values)
        elif values.dtype.kind in "fiu":
            columns[column] = values.to_numpy(np.float64)
        else:
            columns[column] = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    return pd.DataFrame(columns, columns=frame.columns, index=pd.RangeIndex(len(frame)))


def _key_column(values: pd.Series) -> object:
    """A key column as strings (None where missing); one the engine gives as strings is kept."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.reset_index(drop=True)
    known = values.notna().to_numpy()  # vectorised: a per-value map cost 0.5 s per 100k sleeves
    return np.where(known, values.astype(str).to_numpy(object), None)


def _typed_arrow(table: pa.Table) -> pd.DataFrame | None:
    """:func:`_typed` of the query's Arrow result: the same frame (keys as pandas strings,
    features as float64, NULL as NaN) for a third of the cost of DuckDB's pandas conversion
    and then :func:`_typed` (0.15 s on a 120,000-sleeve shard). ``None`` if a feature column
    is not a float or an integer (a DECIMAL, say): its conversion is left to DuckDB."""
    columns: dict[str, object] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if name in KEY_COLUMNS:
            columns[name] = _key_column(column.to_pandas())
        elif pa.types.is_floating(kind) and column.null_count == 0:
            columns[name] = column.to_numpy().astype(np.float64, copy=False)
        elif pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_null(kind):
            columns[name] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            return None
    return pd.DataFrame(columns, columns=table.column_names, index=pd.RangeIndex(table.num_rows))


def price_bars(panel: pd.DataFrame) -> pd.DataFrame:
    """``market_prices`` rows (daily bars) from a daily close panel (index dates, columns
    symbols): how a scratch lake gets the prices a simulated or posted book is valued at."""
    long = (
        panel.rename_axis("day")
        .reset_index()
        .melt(id_vars="day", var_name="symbol", value_name="close")
    )
    long = long.dropna(subset=["close"])
    close = long["close"].to_numpy(float)
    return pd.DataFrame(
        {
            "symbol": long["symbol"].astype(str).to_numpy(),
            "ts": pd.to_datetime(long["day"]).to_numpy(),
            "interval": "1d",
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": np.zeros(len(long), dtype=np.int64),
            "source": "history",
            "ingested_at": pd.Timestamp("1970-01-01"),
        }
    )


class ScratchLake:
    """A temporary :class:`LocalLake` that holds a book the lake does not (one simulated date,
    a posted portfolio) plus the daily bars it is valued at; the features SQL runs on it."""

    def __init__(self, bars: pd.DataFrame, directory: str | Path | None = None) -> None:
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="features-")
        root = Path(directory) if directory else Path(self._tmp.name)  # type: ignore[union-attr]
        self.lake = LocalLake(root / "lake", query_timeout_seconds=None)
        if len(bars):
            self.lake.write("market_prices", bars, name="bars")

    def features(
        self, book: BookTables, as_of: pd.Timestamp, *, min_trade_value: float = 10.0
    ) -> pd.DataFrame:
        """The book's features at ``as_of`` (the book replaces whatever this lake held)."""
        for name, frame in book.frames().items():
            self.lake.write(name, frame, name="book")
        return holding_features(self.lake, as_of, min_trade_value=min_trade_value)

    def close(self) -> None:
        """Close the engine and remove the directory."""
        self.lake.close()
        if self._tmp is not None:
            self._tmp.cleanup()


@contextmanager
def scratch_lake(bars: pd.DataFrame) -> Iterator[ScratchLake]:
    """A :class:`ScratchLake`, removed on exit."""
    scratch = ScratchLake(bars)
    try:
        yield scratch
    finally:
        scratch.close()


def book_features(
    book: BookTables,
    bars: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    min_trade_value: float = 10.0,
) -> pd.DataFrame:
    """Features of a book that is not in the lake: the same SQL over its frames and ``bars``
    (``market_prices`` rows) in memory (:class:`FrameTables`)."""
    tables = FrameTables({**book.frames(), "market_prices": bars})
    return holding_features(tables, as_of, min_trade_value=min_trade_value)


def features_for_decisions(lake: Lake, decisions: pd.DataFrame) -> pd.DataFrame:
    """``decision_features`` rows for decisions recorded against the lake's book (imported or
    dashboard decisions): the features query at each decision's as_of over the book the lake
    holds, kept for the decided (account, symbol) pairs. A pair the book does not have gets
    no row (and stays out of the training set)."""
    from rebalancer.lake import get_schema

    columns = get_schema("decision_features").column_names
    if decisions.empty or not lake.list_objects("accounts"):
        return pd.DataFrame(columns=columns)
    parts = []
    for as_of, group in decisions.groupby("as_of", sort=True):
        rows = holding_features(lake, pd.Timestamp(as_of))
        wanted = group[["account_id", "symbol"]].astype(str).drop_duplicates()
        rows = rows.merge(wanted, on=["account_id", "symbol"], how="inner")
        parts.append(rows.assign(as_of=pd.Timestamp(as_of))[columns])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
