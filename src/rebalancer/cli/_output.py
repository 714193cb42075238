"""Where the CLI prints: data on stdout, progress and errors on stderr."""

from __future__ import annotations

import functools
import json
import sys
from enum import StrEnum

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


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


def print_frame(frame: pd.DataFrame, fmt: OutputFormat, *, title: str | None = None) -> None:
    """Print a DataFrame as a table, CSV or JSON records."""
    if fmt is OutputFormat.csv:
        sys.stdout.write(frame.to_csv(index=False))
    elif fmt is OutputFormat.json:
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", date_unit="s") + "\n")
    else:
        table = Table(title=title, show_lines=False)
        for column in frame.columns:
            table.add_column(str(column), overflow="fold")
        for row in frame.itertuples(index=False):
            table.add_row(*["" if pd.isna(v) else str(v) for v in row])
        console.print(table)
        console.print(f"[dim]{len(frame)} row(s)[/]")


def _json_default(value: object) -> str:
    return str(value)


json_dumps = functools.partial(json.dumps, default=_json_default)
