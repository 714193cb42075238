"""Market-data verbs: ``backfill``, ``ingest``, ``compact`` and ``securities seed | list``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rebalancer.cli._app import app, iso_date, open_lake, settings
from rebalancer.cli._output import (
    OutputFormat,
    console,
    err_console,
    escape,
    json_dumps,
    print_frame,
    progress_bar,
)

securities_app = typer.Typer(help="The securities universe table.", no_args_is_help=True)


@app.command()
def backfill(
    source: Annotated[
        str,
        typer.Option(
            help="auto (the bundled real history, then seeded synthetic bars for the symbols it "
            "lacks, ending where the history ends), history, synthetic or yfinance."
        ),
    ] = "auto",
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")] = None,
    symbols: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated universe symbols (default: the source's / active universe)."
        ),
    ] = None,
    interval: Annotated[str, typer.Option(help="Bar interval: 1d or 5m.")] = "1d",
    exclude_history: Annotated[
        bool,
        typer.Option(help="Skip symbols the bundled real history covers (synthetic fill-in)."),
    ] = False,
) -> None:
    """Load a range of historical bars into market_prices (one object per day and interval).

    With no options every universe symbol gets daily bars, so `generate` can run next.
    """
    from rich.progress import TaskID

    from rebalancer.market import AUTO_SOURCE, backfill_universe
    from rebalancer.market import backfill as run_backfill

    lake = open_lake()
    symbol_list = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    first, last = iso_date(start, "--start"), iso_date(end, "--end")
    with progress_bar() as bar:
        tasks: dict[str, TaskID] = {}

        def report(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(f"backfill {label}", total=None)
            bar.update(tasks[label], completed=done, total=total)

        if source == AUTO_SOURCE:
            results = backfill_universe(
                lake,
                start=first,
                end=last,
                symbols=symbol_list,
                interval=interval,
                progress=report,
                settings=settings(),
                exclude_history=exclude_history,
            )
        else:
            results = [
                run_backfill(
                    lake,
                    source=source,
                    start=first,
                    end=last,
                    symbols=symbol_list,
                    interval=interval,
                    progress=lambda done, total: report(f"{source} {interval}", done, total),
                    settings=settings(),
                    exclude_history=exclude_history,
                )
            ]
    for result in results:
        console.print(
            f"wrote {result.rows:,} {result.interval} bars from {result.source} in "
            f"{result.objects:,} object(s), {result.first_day} .. {result.last_day}",
            markup=False,
        )
        if result.failed:
            failed = ", ".join(f"{k} ({v})" for k, v in list(result.failed.items())[:10])
            err_console.print(
                f"[yellow]failed:[/] {escape(failed)}", highlight=False, soft_wrap=True
            )


@app.command()
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
                err_console.print(f"[bold red]slot failed:[/] {escape(str(exc))}", highlight=False)
                continue
            if as_json:
                sys.stdout.write(json_dumps(summary.to_dict()) + "\n")
                sys.stdout.flush()
            else:
                console.print(summary_line(summary), markup=False, highlight=False, soft_wrap=True)
    finally:
        flag.restore()
    if flag.event.is_set():
        err_console.print("stopped after the current slot")


@app.command()
def compact(
    day: Annotated[
        str | None, typer.Option("--date", help="Day to compact, YYYY-MM-DD (default: yesterday).")
    ] = None,
) -> None:
    """Merge a day's 5-minute slot objects into one sorted file (safe to interrupt, re-run)."""
    from rebalancer.market import compact_day, default_compaction_day

    result = compact_day(open_lake(), day or default_compaction_day())
    if result.slot_objects == 0:
        console.print(f"{result.day}: no slot objects to compact", markup=False)
        return
    console.print(
        f"{result.day}: merged {result.slot_objects} slot object(s) into {result.compacted_key} "
        f"({result.rows:,} rows, {result.duplicates_dropped} duplicate(s) dropped)",
        markup=False,
    )


@securities_app.command("seed")
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
def securities_list(
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Print the securities table (seeding it first if it is empty)."""
    from rebalancer.market import load_securities

    print_frame(load_securities(open_lake(), settings()), fmt, title="securities")


app.add_typer(securities_app, name="securities")
