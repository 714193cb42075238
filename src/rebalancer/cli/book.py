"""Book verbs: ``generate`` (a synthetic client book from the lake's daily prices)."""

from __future__ import annotations

from typing import Annotated

import typer

from rebalancer.cli._app import app, iso_date, open_lake
from rebalancer.cli._output import console, progress_bar


@app.command()
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
    from rebalancer.book import DEFAULT_MODELS, check_size, generate_book
    from rebalancer.book import write_book as run_write_book
    from rebalancer.market import load_price_panel

    check_size(accounts, chunk_size, seed)
    snapshot = iso_date(as_of, "--as-of")
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
