"""Table schemas: loaded from ``schemas/*.json``, turned into pyarrow schemas and validators.

The JSON files are the one source of truth for a table's columns: the Parquet writers, the
DuckDB views and the Terraform Glue tables all derive from them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from rebalancer.errors import SchemaValidationError, UnknownTableError
from rebalancer.resources import schemas_dir

_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "double": pa.float64(),
    "float": pa.float32(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "smallint": pa.int16(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
}

_DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "float": "FLOAT",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
}


def arrow_type(athena_type: str) -> pa.DataType:
    """The pyarrow type a column of this Athena type is written as."""
    if match := _DECIMAL.fullmatch(athena_type):
        return pa.decimal128(int(match[1]), int(match[2]))
    try:
        return _ARROW_TYPES[athena_type]
    except KeyError:
        raise ValueError(f"unsupported Athena type {athena_type!r}") from None


def duckdb_type(athena_type: str) -> str:
    """The DuckDB type name for an Athena type."""
    if _DECIMAL.fullmatch(athena_type):
        return athena_type.upper()
    return _DUCKDB_TYPES[athena_type]


@dataclass(frozen=True)
class Column:
    """One column of a table schema."""

    name: str
    type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class TableSchema:
    """A lake table: data columns, optional ``dt`` partition and the column it derives from."""

    name: str
    description: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...]
    partition_source: str | None

    @property
    def column_names(self) -> list[str]:
        """Data column names, in file order (partition keys excluded)."""
        return [c.name for c in self.columns]

    @property
    def partitioned(self) -> bool:
        """True when the table is partitioned by ``dt``."""
        return bool(self.partition_keys)

    def arrow_schema(self) -> pa.Schema:
        """The pyarrow schema of the Parquet files (no partition columns)."""
        return pa.schema(
            [pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in self.columns]
        )

    def validate(self, df: pd.DataFrame) -> pa.Table:
        """Check ``df`` against the schema and return it as an Arrow table with exact types.

        A ``dt`` column, if present, must equal the UTC date of the partition source column;
        it is dropped (the partition lives in the key). Raises :class:`SchemaValidationError`
        naming the table, the column and the first bad row.
        """
        return _validate(self, df)


def _parse(data: dict[str, Any]) -> TableSchema:
    def cols(items: list[dict[str, Any]]) -> tuple[Column, ...]:
        return tuple(
            Column(
                name=item["name"],
                type=item["type"],
                nullable=bool(item.get("nullable", False)),
                description=item["description"],
            )
            for item in items
        )

    return TableSchema(
        name=data["name"],
        description=data["description"],
        columns=cols(data["columns"]),
        partition_keys=cols(data.get("partition_keys", [])),
        partition_source=data.get("partition_source"),
    )


@lru_cache(maxsize=1)
def load_schemas() -> dict[str, TableSchema]:
    """Every table schema, keyed by table name."""
    schemas: dict[str, TableSchema] = {}
    for path in sorted(schemas_dir().glob("*.json")):
        schema = _parse(json.loads(path.read_text()))
        if schema.name != path.stem:
            raise ValueError(f"{path}: name {schema.name!r} does not match the file name")
        schemas[schema.name] = schema
    return schemas


def table_names() -> list[str]:
    """Names of all lake tables."""
    return sorted(load_schemas())


def get_schema(table: str) -> TableSchema:
    """The schema of ``table``; :class:`UnknownTableError` if there is none."""
    try:
        return load_schemas()[table]
    except KeyError:
        known = ", ".join(table_names())
        raise UnknownTableError(f"unknown table {table!r} (known: {known})") from None


def _fail(table: str, column: str, row: int | None, problem: str) -> SchemaValidationError:
    where = f", first bad row {row}" if row is not None else ""
    return SchemaValidationError(f"{table}.{column}: {problem}{where}; nothing was written")


def _show(value: Any) -> str:
    """A value as the user wrote it (numpy scalars unwrapped), truncated."""
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _utc_naive(series: pd.Series) -> pd.Series:
    """Timestamps as naive UTC (Athena's ``timestamp`` has no zone)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series
    converted = pd.to_datetime(series, utc=True, errors="coerce")
    return converted.dt.tz_localize(None)


def _first_bad(original: pd.Series, converted: pd.Series) -> int | None:
    bad = converted.isna().to_numpy() & original.notna().to_numpy()
    positions = np.flatnonzero(bad)
    return int(positions[0]) if positions.size else None


def _coerce(table: str, col: Column, series: pd.Series) -> pa.Array:
    target = arrow_type(col.type)
    values: pd.Series | Any = series
    if pa.types.is_timestamp(target):
        values = _utc_naive(series)
        if (row := _first_bad(series, values)) is not None:
            raise _fail(table, col.name, row, f"not a timestamp ({_show(series.iloc[row])})")
    elif pa.types.is_date32(target):
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            # day resolution in numpy (NaT stays null): no Python date object per row
            values = _utc_naive(series).to_numpy().astype("datetime64[D]")
        elif series.map(lambda v: v is None or isinstance(v, date) or v != v).all():
            values = series.map(lambda v: v.date() if isinstance(v, datetime) else v)
        else:
            parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
            if (row := _first_bad(series, parsed)) is not None:
                raise _fail(table, col.name, row, f"not a date ({_show(series.iloc[row])})")
            values = parsed.dt.date
    elif pa.types.is_floating(target) or pa.types.is_integer(target):
        if pd.api.types.is_bool_dtype(series.dtype) or not (
            pd.api.types.is_numeric_dtype(series.dtype) or series.dtype == object
        ):
            raise _fail(table, col.name, None, f"expected {col.type}, got {series.dtype}")
        numeric = pd.to_numeric(series, errors="coerce")
        if (row := _first_bad(series, numeric)) is not None:
            raise _fail(table, col.name, row, f"expected {col.type}, got {_show(series.iloc[row])}")
        if pa.types.is_integer(target):
            finite = numeric.dropna()
            if not (finite == np.round(finite)).all():
                row = int(np.flatnonzero((numeric != np.round(numeric)).to_numpy())[0])
                raise _fail(
                    table, col.name, row, f"expected {col.type}, got {_show(series.iloc[row])}"
                )
            values = numeric.astype("Int64")
        else:
            values = numeric.astype("float64")
            if np.isinf(values.to_numpy()).any():
                row = int(np.flatnonzero(np.isinf(values.to_numpy()))[0])
                raise _fail(table, col.name, row, "infinite value")
    elif pa.types.is_boolean(target):
        mask = series.map(lambda v: v is None or isinstance(v, bool | np.bool_) or v != v)
        if not mask.all():
            row = int(np.flatnonzero(~mask.to_numpy())[0])
            raise _fail(table, col.name, row, f"expected boolean, got {_show(series.iloc[row])}")
    elif pa.types.is_string(target) and not isinstance(series.dtype, pd.StringDtype):
        # a StringDtype holds only str or missing: the per-row scan is for object columns
        mask = series.map(lambda v: v is None or isinstance(v, str) or v != v)
        if not mask.all():
            row = int(np.flatnonzero(~mask.to_numpy())[0])
            raise _fail(table, col.name, row, f"expected string, got {_show(series.iloc[row])}")
    try:
        return pa.array(values, type=target, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise _fail(table, col.name, None, f"cannot be stored as {col.type}: {exc}") from None


def _validate(schema: TableSchema, df: pd.DataFrame) -> pa.Table:
    table = schema.name
    if not isinstance(df, pd.DataFrame):
        raise SchemaValidationError(
            f"{table}: expected a pandas DataFrame, got {type(df).__name__}"
        )
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()][0]
        raise _fail(table, str(dup), None, "duplicate column")
    expected = schema.column_names
    allowed = set(expected) | {p.name for p in schema.partition_keys}
    missing = [c for c in expected if c not in df.columns]
    if missing:
        raise _fail(table, missing[0], None, f"missing column(s) {missing}")
    extra = [str(c) for c in df.columns if c not in allowed]
    if extra:
        raise _fail(table, extra[0], None, f"unexpected column(s) {extra}")
    frame = df.reset_index(drop=True)
    arrays = []
    for col in schema.columns:
        array = _coerce(table, col, frame[col.name])
        if not col.nullable and array.null_count:
            row = int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
            raise _fail(table, col.name, row, "null in a non-null column")
        arrays.append(array)
    result = pa.Table.from_arrays(arrays, schema=schema.arrow_schema())
    if schema.partitioned and "dt" in frame.columns:
        derived = partition_values(schema, result)
        given = frame["dt"].astype("string").to_numpy()
        mismatch = np.flatnonzero(given != derived)
        if mismatch.size:
            row = int(mismatch[0])
            raise _fail(
                table,
                "dt",
                row,
                f"partition value {given[row]!r} does not match "
                f"{schema.partition_source}={derived[row]!r}",
            )
    return result


def partition_values(schema: TableSchema, table: pa.Table) -> np.ndarray:
    """The ``dt`` value (``YYYY-MM-DD``, UTC) of every row of a validated table."""
    if not schema.partition_source:
        raise ValueError(f"table {schema.name} is not partitioned")
    ts = table.column(schema.partition_source).to_numpy(zero_copy_only=False)
    return np.datetime_as_string(ts.astype("datetime64[D]"), unit="D")
