"""`rebalancer demo` end to end on a small book: every table it promises is filled."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from rebalancer.config import Settings
from rebalancer.demo import DemoOptions, run_demo
from rebalancer.lake import LocalLake


def test_demo_fills_the_lake_end_to_end(lake: LocalLake) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120)
    options = DemoOptions(start="2021-09-01", slots=2, accounts=150, seed=3)
    run_demo(
        lake,
        options=options,
        settings=Settings(lake=lake.root),
        console=console,
        progress=lambda: Progress(console=console, disable=True),
    )
    counts = lake.query(
        """SELECT (SELECT count(*) FROM securities) AS securities,
                  (SELECT count(DISTINCT symbol) FROM market_prices WHERE "interval" = '1d') AS daily_symbols,
                  (SELECT count(*) FROM market_prices WHERE "interval" = '5m') AS intraday,
                  (SELECT count(*) FROM accounts) AS accounts,
                  (SELECT count(*) FROM holdings) AS holdings,
                  (SELECT count(*) FROM recommendations) AS trades"""
    ).iloc[0]
    securities = int(counts["securities"])
    assert securities >= 40
    # every non-cash security has daily prices: real history or the synthetic fill
    assert int(counts["daily_symbols"]) == securities - 1
    assert int(counts["intraday"]) > 0
    assert int(counts["accounts"]) == 150
    assert int(counts["holdings"]) > 150
    assert int(counts["trades"]) > 0
    # the intraday slots were compacted: one object for the day, no slot objects left
    day = lake.list_objects("market_prices", dt=options.end)
    assert any(k.endswith("compacted.parquet") for k in day)
    assert not any("/slot-" in k for k in day)
    text = out.getvalue()
    assert "8. recommend trades for every account" in text and "Traceback" not in text
    assert "no violations" in text
