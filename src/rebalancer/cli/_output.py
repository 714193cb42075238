"""Where the CLI prints: data on stdout, progress and errors on stderr.

Rich reads ``[...]`` as markup, so nothing a user or the data supplied is ever printed as markup:
table cells, headers and titles are :class:`~rich.text.Text`, and messages that mix our markup
with data escape the data (:func:`rich.markup.escape`). JSON and CSV keep every value exactly
(a float's shortest round-tripping repr, timestamps to the nanosecond).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import sys
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

__all__ = [
    "OutputFormat",
    "console",
    "err_console",
    "escape",
    "json_dumps",
    "jsonable",
    "print_frame",
    "progress_bar",
]


class OutputFormat(StrEnum):
    """How ``query`` prints its result."""

    table = "table"
    csv = "csv"
    json = "json"


def progress_bar() -> Progress:
    """A rich progress bar on stderr (stdout stays clean for data)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


def _is_missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA (a scalar test: a list cell is never missing)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def jsonable(value: Any) -> Any:
    """A cell as a JSON value that reads back as the same value.

    Floats keep their shortest repr (``json`` writes ``repr``), so 137.1711673268204 and
    0.1 + 0.2 survive; NaN and missing values are null (JSON has no NaN); timestamps and dates
    are ISO 8601 with every fractional digit; lists and structs (DuckDB LIST, STRUCT, MAP) nest.
    """
    if _is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        number = float(value)
        return number if Decimal(repr(number)) == value else str(value)
    if isinstance(value, pd.Timestamp | datetime | date | time):
        return value.isoformat()
    if isinstance(value, pd.Timedelta | timedelta):
        return pd.Timedelta(value).isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, str):
        return value
    return str(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = [str(c) for c in frame.columns]
    return [
        {c: jsonable(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _nested(value: Any) -> bool:
    return isinstance(value, np.ndarray | list | tuple | Mapping)


def _cell(value: Any) -> str:
    """A table or CSV cell: lists and structs as JSON, missing values empty."""
    if _nested(value):
        return json.dumps(jsonable(value), ensure_ascii=False)
    if _is_missing(value):
        return ""
    return str(value)


def _flatten_nested(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding lists or structs as JSON text (CSV would print numpy's repr)."""
    out = frame
    for column in frame.columns:
        if frame[column].dtype == object and frame[column].map(_nested).any():
            if out is frame:
                out = frame.copy()
            out[column] = frame[column].map(lambda v: _cell(v) if _nested(v) else v)
    return out


def print_frame(frame: pd.DataFrame, fmt: OutputFormat, *, title: str | None = None) -> None:
    """Print a DataFrame as a table, CSV or JSON records (values exact in CSV and JSON)."""
    if fmt is OutputFormat.csv:
        sys.stdout.write(_flatten_nested(frame).to_csv(index=False))
    elif fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(_records(frame), ensure_ascii=False, allow_nan=False) + "\n")
    else:
        table = Table(title=Text(title) if title is not None else None, show_lines=False)
        for column in frame.columns:
            table.add_column(Text(str(column)), overflow="fold")
        for row in frame.itertuples(index=False, name=None):
            table.add_row(*[Text(_cell(v)) for v in row])
        console.print(table)
        console.print(f"[dim]{len(frame)} row(s)[/]")


def _json_default(value: object) -> str:
    return str(value)


json_dumps = functools.partial(json.dumps, default=_json_default)
