"""The ``rebalancer`` command: thin verbs over the core library.

Every verb reads its inputs, calls ``rebalancer.*`` and prints. Domain errors become one line on
stderr and a non-zero exit code; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import pandas as pd
import typer
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rebalancer import __version__
from rebalancer.config import Settings
from rebalancer.errors import RebalancerError
from rebalancer.lake import Lake, get_lake

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="rebalancer",
    help="Portfolio rebalancing on a Parquet data lake (local DuckDB or AWS Athena).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
views_app = typer.Typer(help="Analyst views (sql/views/*.sql).", no_args_is_help=True)
app.add_typer(views_app, name="views")
securities_app = typer.Typer(help="The securities universe table.", no_args_is_help=True)
app.add_typer(securities_app, name="securities")

console = Console()
err_console = Console(stderr=True)


class _State:
    lake: str | None = None
    backend: str | None = None
    debug: bool = False


state = _State()


MAX_SQL_FILE_BYTES = 1_000_000


class OutputFormat(StrEnum):
    """How ``query`` prints its result."""

    table = "table"
    csv = "csv"
    json = "json"


def settings() -> Settings:
    """Settings from the environment, with global command-line options on top."""
    overrides: dict[str, Any] = {}
    if state.lake:
        overrides["lake"] = state.lake
    if state.backend:
        overrides["backend"] = state.backend
    return Settings(**overrides)


def open_lake() -> Lake:
    """The lake the command line and environment point at."""
    return get_lake(settings())


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into one line on stderr and the error's exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except RebalancerError as exc:
            if state.debug:
                raise
            message = " ".join(str(exc).split())
            raise fail(message, exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if state.debug:
                raise
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise fail(
                f"{type(exc).__name__}: {message} (re-run with --debug for details)", 70
            ) from None

    return wrapper


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


@app.callback()
def main(
    lake: Annotated[
        str | None, typer.Option("--lake", help="Lake directory or s3:// URI (REBALANCER_LAKE).")
    ] = None,
    backend: Annotated[
        str | None, typer.Option("--backend", help="local or aws (REBALANCER_BACKEND).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Global options; each verb's --help says what it does."""
    state.lake, state.backend, state.debug = lake, backend, debug


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
@handle_errors
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
    from rebalancer.errors import ConfigError

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
@handle_errors
def views_sync() -> None:
    """Create or replace every analyst view on the configured backend."""
    names = open_lake().sync_views()
    console.print(f"synced {len(names)} view(s): {', '.join(names)}")


@views_app.command("list")
@handle_errors
def views_list() -> None:
    """List the analyst views and their first comment line."""
    from rebalancer.lake import view_definitions

    for name, body in view_definitions().items():
        doc = next((ln[2:].strip() for ln in body.splitlines() if ln.startswith("--")), "")
        console.print(f"[bold]{name}[/]  {doc}")


@app.command()
@handle_errors
def backfill(
    source: Annotated[
        str,
        typer.Option(help="history (bundled real daily closes), synthetic or yfinance."),
    ] = "history",
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")] = None,
    symbols: Annotated[
        str | None,
        typer.Option(help="Comma-separated symbols (default: the source's / active universe)."),
    ] = None,
    interval: Annotated[str, typer.Option(help="Bar interval: 1d or 5m.")] = "1d",
    exclude_history: Annotated[
        bool,
        typer.Option(help="Skip symbols the bundled real history covers (synthetic fill-in)."),
    ] = False,
) -> None:
    """Load a range of historical bars into market_prices (one object per day and interval)."""
    from rebalancer.market import backfill as run_backfill

    lake = open_lake()
    symbol_list = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    with progress_bar() as bar:
        task = bar.add_task(f"backfill {source} {interval}", total=None)
        result = run_backfill(
            lake,
            source=source,
            start=_iso_date(start, "--start"),
            end=_iso_date(end, "--end"),
            symbols=symbol_list,
            interval=interval,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            settings=settings(),
            exclude_history=exclude_history,
        )
    console.print(
        f"wrote {result.rows:,} {result.interval} bars from {result.source} in "
        f"{result.objects:,} object(s), {result.first_day} .. {result.last_day}"
    )
    if result.failed:
        failed = ", ".join(f"{k} ({v})" for k, v in list(result.failed.items())[:10])
        err_console.print(f"[yellow]failed:[/] {failed}", highlight=False, soft_wrap=True)


@app.command()
@handle_errors
def ingest(
    source: Annotated[
        str | None,
        typer.Option(help="yfinance or synthetic (default: REBALANCER_MARKET_SOURCE)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Ingest one slot and exit.")] = False,
    every: Annotated[
        str | None,
        typer.Option(help="Run on a schedule aligned to boundaries of this period, e.g. 5m."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="Event time (ISO 8601, UTC if no zone); with --every, catch up from it."),
    ] = None,
    max_slots: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many slots (with --every).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON summary per slot.")] = False,
) -> None:
    """Fetch, validate and write 5-minute slots into market_prices (Ctrl-C stops cleanly).

    An event at time T ingests the latest complete slot, floor(T, 5m) - 5m. The first Ctrl-C
    finishes the slot in progress and exits; a second one abandons it (writes are atomic).
    """
    from rebalancer.errors import ConfigError, MarketDataError
    from rebalancer.market import get_provider, ingest_slot, load_securities, parse_every
    from rebalancer.market._ingest import StopFlag, schedule, summary_line

    if once and every:
        raise ConfigError("use either --once or --every, not both")
    period = parse_every(every) if every else parse_every("5m")
    config = settings()
    lake = open_lake()
    securities = load_securities(lake, config)
    provider = get_provider(source, settings=config, securities=securities)
    flag = StopFlag().install()
    try:
        for event_time in schedule(
            every=period,
            start=at,
            max_slots=max_slots if every else 1,
            stop=flag.event,
        ):
            try:
                summary = ingest_slot(
                    lake, provider, event_time, securities=securities, settings=config
                )
            except MarketDataError as exc:
                if not every:
                    raise
                err_console.print(f"[bold red]slot failed:[/] {exc}", highlight=False)
                continue
            if as_json:
                sys.stdout.write(json_dumps(summary.to_dict()) + "\n")
                sys.stdout.flush()
            else:
                console.print(summary_line(summary), highlight=False, soft_wrap=True)
    finally:
        flag.restore()
    if flag.event.is_set():
        err_console.print("stopped after the current slot")


@app.command()
@handle_errors
def compact(
    day: Annotated[
        str | None, typer.Option("--date", help="Day to compact, YYYY-MM-DD (default: yesterday).")
    ] = None,
) -> None:
    """Merge a day's 5-minute slot objects into one sorted file (safe to interrupt, re-run)."""
    from rebalancer.market import compact_day, default_compaction_day

    result = compact_day(open_lake(), day or default_compaction_day())
    if result.slot_objects == 0:
        console.print(f"{result.day}: no slot objects to compact")
        return
    console.print(
        f"{result.day}: merged {result.slot_objects} slot object(s) into {result.compacted_key} "
        f"({result.rows:,} rows, {result.duplicates_dropped} duplicate(s) dropped)"
    )


@securities_app.command("seed")
@handle_errors
def securities_seed(
    force: Annotated[bool, typer.Option(help="Rewrite the table even if it has rows.")] = False,
) -> None:
    """Write the default universe plus REBALANCER_SYMBOLS_FILE to the securities table."""
    from rebalancer.market import seed_securities

    written = seed_securities(open_lake(), settings(), force=force)
    if written:
        console.print(f"seeded {written} securities")
    else:
        console.print("securities already seeded (use --force to rewrite)")


@securities_app.command("list")
@handle_errors
def securities_list(
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Print the securities table (seeding it first if it is empty)."""
    from rebalancer.market import load_securities

    print_frame(load_securities(open_lake(), settings()), fmt, title="securities")


@app.command()
@handle_errors
def demo(
    start: Annotated[str, typer.Option(help="First day of history to load.")] = "2019-01-01",
    accounts: Annotated[int, typer.Option(min=1, help="Accounts in the demo book.")] = 2_000,
    seed: Annotated[int, typer.Option(help="Seed of the demo book.")] = 7,
) -> None:
    """Run the whole system offline on the configured (local) lake."""
    from rebalancer.demo import DemoOptions, run_demo

    run_demo(
        open_lake(),
        options=DemoOptions(start=start, accounts=accounts, seed=seed),
        settings=settings(),
        console=console,
        progress=progress_bar,
    )


@app.command()
@handle_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to bind (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API with uvicorn (X-API-Key required; a key is generated if none is set)."""
    import secrets

    import uvicorn

    from rebalancer.api import create_app

    current = settings()
    if current.api_key is None:
        key = secrets.token_urlsafe(24)
        current = current.model_copy(update={"api_key": SecretStr(key)})
        err_console.print(f"REBALANCER_API_KEY not set; this run's key: [bold]{key}[/]")
    err_console.print(f"API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(create_app(current), host=host, port=port, log_level="info")


@app.command()
@handle_errors
def generate(
    accounts: Annotated[int, typer.Option("--accounts", help="Accounts in the book.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes.")] = 42,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Snapshot date YYYY-MM-DD (default: last price date)."),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Accounts per chunk and Parquet part.")
    ] = 50_000,
) -> None:
    """Generate a synthetic client book from the lake's daily prices and write it to the lake."""
    from rebalancer.book import DEFAULT_MODELS, check_size, generate_book, load_price_panel
    from rebalancer.book import write_book as run_write_book

    check_size(accounts, chunk_size, seed)
    snapshot = _iso_date(as_of, "--as-of")
    lake = open_lake()
    prices = load_price_panel(lake, DEFAULT_MODELS.symbols)
    chunks = generate_book(
        accounts, seed=seed, prices=prices, as_of=snapshot, chunk_size=chunk_size
    )
    with progress_bar() as bar:
        task = bar.add_task("generate book", total=accounts)
        summary = run_write_book(
            lake,
            chunks,
            total_accounts=accounts,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    rows = ", ".join(f"{table} {count:,}" for table, count in summary.rows.items())
    console.print(
        f"wrote {summary.accounts:,} accounts as of {summary.as_of} in {summary.chunks} "
        f"chunk(s): {rows}"
    )


@app.command()
@handle_errors
def recommend(
    all_accounts: Annotated[bool, typer.Option("--all", help="Every account of the book.")] = False,
    account: Annotated[str | None, typer.Option("--account", help="One account id.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Price time, UTC (default: the newest bar's close)."),
    ] = None,
    band: Annotated[str | None, typer.Option(help="absolute | relative | hybrid.")] = None,
    relative_band: Annotated[float | None, typer.Option(help="Fraction of target.")] = None,
    absolute_band: Annotated[float | None, typer.Option(help="Band (floor), points.")] = None,
    max_total_drift: Annotated[float | None, typer.Option(help="Total-drift trigger.")] = None,
    trigger: Annotated[
        str | None, typer.Option(help="threshold | calendar | calendar_threshold.")
    ] = None,
    calendar_days: Annotated[int | None, typer.Option(help="Calendar period, days.")] = None,
    rebalance_to: Annotated[str | None, typer.Option(help="target | band_edge | halfway.")] = None,
    cash_reserve: Annotated[float | None, typer.Option(help="Cash floor, fraction.")] = None,
    min_trade_value: Annotated[float | None, typer.Option(help="Smallest trade, USD.")] = None,
    fee: Annotated[float | None, typer.Option(help="Fee per trade, USD.")] = None,
    spread_bps: Annotated[float | None, typer.Option(help="Spread cost, bps.")] = None,
    drift_value_bps: Annotated[float | None, typer.Option(help="Benefit per $ fixed, bps.")] = None,
    lot_method: Annotated[str | None, typer.Option(help="tax_aware | hifo | fifo.")] = None,
    strict: Annotated[bool, typer.Option(help="Fail if any account is invalid.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do not write.")] = False,
) -> None:
    """Recommend trades and write them to the recommendations table (one object per run)."""
    from rebalancer.engine import Policy, tune_allocator
    from rebalancer.errors import ConfigError
    from rebalancer.recommend import run_recommendations

    if all_accounts == (account is not None):
        raise ConfigError("give exactly one of --all or --account ID")
    tune_allocator()  # the batch's large temporaries reuse heap pages (engine/_allocator.py)
    policy = Policy.from_options(
        band=band, relative_band=relative_band, absolute_band=absolute_band,
        max_total_drift=max_total_drift, trigger=trigger, calendar_days=calendar_days,
        rebalance_to=rebalance_to, cash_reserve=cash_reserve, min_trade_value=min_trade_value,
        fee_per_trade=fee, spread_bps=spread_bps, drift_value_bps=drift_value_bps,
        lot_method=lot_method,
    )  # fmt: skip
    with err_console.status("recommending..."):
        result = run_recommendations(
            open_lake(), as_of=as_of, account_id=account, policy=policy, write=not dry_run,
            strict=strict,
        )  # fmt: skip
    s = result.summary()
    console.print(
        f"run {s['run_id']} as of {s['as_of']}: {s['accounts']:,} account(s), "
        f"{s['accounts_traded']:,} traded, {s['trades']:,} trade(s), turnover "
        f"${s['turnover_usd']:,.2f} ({s['turnover_pct']:.2f}%)"
        + ("" if dry_run or not result.keys else f"; wrote {len(result.keys)} object(s)")
    )
    rejected = result.recommendation.rejected
    if len(rejected):
        err_console.print(f"[yellow]skipped {len(rejected):,} invalid account(s):[/]")
        for row in rejected.head(5).itertuples(index=False):
            err_console.print(f"  account {row.account_id}: {row.reason}", highlight=False)


def _iso_date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        from rebalancer.errors import ConfigError

        raise ConfigError(f"{flag} must be a date like 2024-01-31, got {value!r}") from None


def _json_default(value: object) -> str:
    return str(value)


json_dumps = functools.partial(json.dumps, default=_json_default)


def run() -> None:
    """Console entry point: usage errors too become one line (click prints a box by default)."""
    try:  # typer >= 0.20 vendors click
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover - older typer on plain click
        import click.exceptions as click_errors  # type: ignore[no-redef]

    try:
        result = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx is not None else "", err=True)
        sys.exit(2)
    except click_errors.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        message = " ".join(exc.format_message().split())
        err_console.print(f"[bold red]error:[/] {message}{hint}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        message = " ".join(exc.format_message().split())
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    run()
