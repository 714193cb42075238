"""``rebalancer demo``: the whole system, offline, on the local lake, step by step.

Each step calls the same core functions as the CLI verbs and the Lambdas, so the demo is a
smoke test of the real paths: seed the universe, backfill real daily history, fill the symbols
it lacks with the synthetic provider, ingest a few live 5-minute slots and compact them,
publish the analyst views, generate a client book, recommend trades and query the results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from rich.console import Console
from rich.progress import Progress

from rebalancer.config import Settings
from rebalancer.lake import Lake

SAMPLE_QUERY = """
SELECT symbol,
       count(*)                      AS bars,
       min(ts)                       AS first_bar,
       max(ts)                       AS last_bar,
       round(approx_percentile(close, 0.5), 2) AS median_close
FROM market_prices
WHERE "interval" = '1d'
GROUP BY symbol
ORDER BY symbol
""".strip()

INTRADAY_QUERY = """
SELECT symbol, format_datetime(ts, 'yyyy-MM-dd HH:mm') AS bar, close, volume
FROM latest_prices
WHERE "interval" = '5m'
ORDER BY symbol
LIMIT 8
""".strip()

BOOK_QUERY = """
SELECT a.account_type, count(*) AS accounts, round(sum(a.cash), 0) AS cash
FROM accounts a
GROUP BY 1
ORDER BY 2 DESC
""".strip()

TRADES_QUERY = """
SELECT reason, side, count(*) AS trades, round(sum(value), 0) AS value,
       round(sum(est_tax), 0) AS est_tax
FROM recommendations
GROUP BY 1, 2
ORDER BY value DESC
""".strip()


@dataclass(frozen=True)
class DemoOptions:
    """Knobs of the demo (defaults keep it under a minute or two on 2 cores)."""

    start: str = "2019-01-01"
    end: str = "2022-12-28"  # the bundled history's last day
    slots: int = 3
    accounts: int = 2_000
    seed: int = 7


def run_demo(
    lake: Lake,
    *,
    options: DemoOptions,
    settings: Settings,
    console: Console,
    progress: Callable[[], Progress],
) -> None:
    """Run every step, printing what each did."""
    from rebalancer.market import (
        backfill,
        compact_day,
        get_provider,
        ingest_slot,
        load_securities,
        seed_securities,
    )

    console.rule("1. securities universe")
    seeded = seed_securities(lake, settings)
    securities = load_securities(lake, settings)
    console.print(
        f"{len(securities)} securities ({'seeded now' if seeded else 'already seeded'}): "
        + ", ".join(f"{k} {v}" for k, v in securities["asset_class"].value_counts().items())
    )

    console.rule("2. backfill market_prices from the bundled real history (skfolio)")
    with progress() as bar:
        task = bar.add_task("history 1d", total=None)
        result = backfill(
            lake,
            source="history",
            start=options.start,
            end=options.end,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(f"{result.rows:,} real daily bars, {result.first_day} .. {result.last_day}")

    console.rule("3. synthetic daily bars for the symbols the history lacks (ETFs, bonds, crypto)")
    with progress() as bar:
        task = bar.add_task("synthetic 1d", total=None)
        synthetic = backfill(
            lake,
            source="synthetic",
            start=options.start,
            end=options.end,
            interval="1d",
            exclude_history=True,
            securities=securities,
            settings=settings,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"{synthetic.rows:,} synthetic daily bars, {synthetic.first_day} .. {synthetic.last_day}"
    )

    console.rule(f"4. live ingestion: {options.slots} five-minute slots, then compaction")
    provider = get_provider("synthetic", settings=settings, securities=securities)
    first_event = pd.Timestamp(f"{options.end} 15:00", tz="UTC")
    for i in range(options.slots):
        event_time = first_event + pd.Timedelta(minutes=5 * i)
        summary = ingest_slot(lake, provider, event_time, securities=securities, settings=settings)
        console.print(
            f"slot {summary.slot}: {summary.rows_written} rows written, "
            f"{summary.rejected} rejected, {len(summary.failed_symbols)} failed"
        )
    compacted = compact_day(lake, options.end)
    console.print(
        f"compacted {compacted.slot_objects} slot objects of {compacted.day} into one "
        f"({compacted.rows} rows)"
    )

    console.rule("5. analyst views")
    console.print(", ".join(lake.sync_views()))

    console.rule("6. Athena SQL on the lake")
    for sql in (SAMPLE_QUERY, INTRADAY_QUERY):
        console.print(sql, style="dim", highlight=False)
        console.print(lake.query(sql).to_string(index=False))
        console.print()

    console.rule(f"7. synthetic client book: {options.accounts:,} accounts, seed {options.seed}")
    from rebalancer.book import DEFAULT_MODELS, generate_book, write_book
    from rebalancer.market import load_price_panel

    prices = load_price_panel(lake, DEFAULT_MODELS.symbols)
    chunks = generate_book(options.accounts, seed=options.seed, prices=prices)
    book = write_book(lake, chunks, total_accounts=options.accounts)
    console.print(
        f"{book.accounts:,} accounts as of {book.as_of}: "
        + ", ".join(f"{table} {count:,}" for table, count in book.rows.items())
    )
    console.print(lake.query(BOOK_QUERY).to_string(index=False))

    console.rule("8. recommend trades for every account")
    from rebalancer.usecases import run_recommendations

    run = run_recommendations(lake)
    totals = run.summary()
    console.print(
        f"run {totals['run_id']} as of {totals['as_of']}: {totals['accounts']:,} accounts, "
        f"{totals['accounts_traded']:,} traded, {totals['trades']:,} trades, "
        f"{totals['rejected']:,} rejected, turnover {totals['turnover_pct']:.2f}%"
    )
    console.print(TRADES_QUERY, style="dim", highlight=False)
    console.print(lake.query(TRADES_QUERY).to_string(index=False))

    console.rule(
        "9. audit: trades that break a hard rule (sql/queries/recommendation_violations.sql)"
    )
    from rebalancer.resources import sql_dir

    violations = lake.query((sql_dir() / "queries" / "recommendation_violations.sql").read_text())
    violations = violations[violations["run_id"] == run.run_id]  # earlier runs saw other books
    if violations.empty:
        console.print(
            "no violations: every trade respects holdings, restrictions, wash sales, cash and drift"
        )
    else:
        console.print(violations.groupby("violation").size().to_string())

    console.print(f"\nlake: {lake.root}")
    console.print(
        'next: `.venv/bin/rebalancer query "SELECT symbol, count(*) FROM market_prices GROUP BY 1"`'
    )
