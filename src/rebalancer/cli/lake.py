"""Lake verbs: ``query`` (Athena SQL on either backend) and ``views sync | list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rebalancer.cli._app import app, open_lake
from rebalancer.cli._output import OutputFormat, console, escape, print_frame
from rebalancer.errors import ConfigError

MAX_SQL_FILE_BYTES = 1_000_000

views_app = typer.Typer(help="Analyst views (sql/views/*.sql).", no_args_is_help=True)
app.add_typer(views_app, name="views")


@app.command()
def query(
    sql: Annotated[
        str | None,
        typer.Argument(
            help="One Athena SQL SELECT statement (start with `--` if it begins with a comment)."
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-F", help="Read the statement from a .sql file instead."),
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Run Athena SQL on the lake and print the result."""
    if (sql is None) == (file is None):
        raise ConfigError("give the SQL either as an argument or with --file, not both or neither")
    if file is not None:
        if not file.is_file():
            raise ConfigError(f"--file {file}: no such file")
        if file.stat().st_size > MAX_SQL_FILE_BYTES:
            raise ConfigError(f"--file {file}: larger than {MAX_SQL_FILE_BYTES:,} bytes")
        try:
            sql = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"--file {file}: not UTF-8 text") from None
    assert sql is not None
    print_frame(open_lake().query(sql), fmt)


@views_app.command("sync")
def views_sync() -> None:
    """Create or replace every analyst view on the configured backend."""
    names = open_lake().sync_views()
    console.print(f"synced {len(names)} view(s): {', '.join(names)}", markup=False)


@views_app.command("list")
def views_list() -> None:
    """List the analyst views and their first comment line."""
    from rebalancer.lake import view_definitions

    for name, body in view_definitions().items():
        doc = next((ln[2:].strip() for ln in body.splitlines() if ln.startswith("--")), "")
        console.print(f"[bold]{escape(name)}[/]  {escape(doc)}")
