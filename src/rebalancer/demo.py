"""``rebalancer demo``: the whole system, offline, on the local lake, step by step."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import Progress

from rebalancer.lake import Lake
from rebalancer.market import backfill

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


def run_demo(
    lake: Lake,
    *,
    start: str,
    console: Console,
    progress: Callable[[], Progress],
) -> None:
    """Backfill real history, sync the views and answer a sample analyst query."""
    console.rule("1. backfill market_prices from the bundled real history")
    with progress() as bar:
        task = bar.add_task("history 1d", total=None)
        result = backfill(
            lake,
            source="history",
            start=start,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(f"{result.rows:,} daily bars, {result.first_day} .. {result.last_day}")

    console.rule("2. analyst views")
    console.print(", ".join(lake.sync_views()))

    console.rule("3. Athena SQL on the lake")
    console.print(SAMPLE_QUERY, style="dim", highlight=False)
    console.print(lake.query(SAMPLE_QUERY).to_string(index=False))
    console.print(f"\nlake: {lake.root}")
