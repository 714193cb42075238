"""Regenerate the README's dashboard screenshots: ``make screenshots`` (or
``python -m tests.dashboard.screenshots [--lake PATH] [--out docs/screenshots]``).

Builds the demo lake when the given one has no recommendation run yet (the ``rebalancer demo``
steps, default sizes), serves the API and the dashboard on it on free loopback ports (the demo's
own :func:`~rebalancer.demo.demo_servers`), opens every page in headless Chromium (Debian's,
through playwright) 1440 px wide and tall enough for its charts, waits for its content and
charts, and saves ``<out>/<page>.png``.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from rebalancer.config import load_settings
from rebalancer.demo import DemoOptions, ServeOptions, demo_servers, run_demo
from rebalancer.lake import Lake, LocalLake
from rebalancer.usecases import reports

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--hide-scrollbars"]  # fmt: skip
WIDTH = 1440  # the summary strip's six metrics fit unclipped
#: page file name -> (URL path, text to wait for, plotly charts to wait for, height in px)
PAGES = {
    "book": ("", "Accounts needing attention", 2, 1400),
    "account": ("account?account_id={account}", "Holdings vs target", 1, 1500),
    "market": ("market", "Price history", 1, 1250),
    "runs": ("runs", "Audit: hard-rule violations", 0, 720),
    "model": ("model", "Feature importance", 3, 1900),
    "backtests": ("backtests", "Policies on", 2, 1700),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def busiest_account(lake: Lake) -> str:
    """The account with the most trades in the latest run (the Account page's example)."""
    run = reports.latest_run(lake)
    trades = reports.run_trades(lake, run.run_id)
    if trades.empty:
        raise SystemExit("the latest run has no trades: nothing to show on the Account page")
    return str(trades["account_id"].value_counts().index[0])


def ensure_demo_lake(lake: Lake, console: Console) -> None:
    """Run the demo's steps unless the lake already holds a run, a model and backtests."""
    ready = (
        reports.has_tables(lake, "recommendations")
        and reports.model_status(lake).ready
        and reports.backtest_runs(lake).ready
    )
    if ready:
        console.print(f"using the demo lake at {lake.root}")
        return
    console.print(f"building the demo lake at {lake.root} (the `rebalancer demo` steps)")
    run_demo(
        lake,
        options=DemoOptions(),
        settings=load_settings(lake=lake.root),
        console=console,
        progress=lambda: Progress(console=console, transient=True),
    )


def capture(base_url: str, account: str, out: Path, console: Console) -> list[Path]:
    """Open every page, wait for its text and charts, save a viewport screenshot."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 800})
            page.set_default_timeout(90_000)
            for name, (path, text, charts, height) in PAGES.items():
                page.set_viewport_size({"width": WIDTH, "height": height})
                page.goto(f"{base_url}/{path.format(account=account)}")
                expect(page.get_by_text(text, exact=False).first).to_be_visible()
                if charts:
                    expect(page.locator(".js-plotly-plot")).to_have_count(charts)
                expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)  # run finished
                page.wait_for_timeout(1_500)  # plotly's transitions settle
                target = out / f"{name}.png"
                page.screenshot(path=str(target))
                saved.append(target)
                console.print(f"{target}  ({target.stat().st_size // 1024} KiB)")
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", default="lake", help="Demo lake (built when empty).")
    parser.add_argument("--out", default="docs/screenshots", help="Where the PNGs go.")
    args = parser.parse_args(argv)
    console = Console()
    if not Path(CHROMIUM).exists():
        console.print(f"{CHROMIUM} not found: install Debian's chromium (.ci/run does)")
        return 2
    lake = LocalLake(Path(args.lake).resolve())
    try:
        ensure_demo_lake(lake, console)
        account = busiest_account(lake)
        options = ServeOptions(api_port=_free_port(), dashboard_port=_free_port())
        os.environ["STREAMLIT_CLIENT_TOOLBAR_MODE"] = "viewer"  # no "Deploy" button
        settings = load_settings(lake=lake.root)
        with demo_servers(lake, settings=settings, options=options) as servers:
            capture(servers.dashboard_url, account, Path(args.out), console)
    finally:
        lake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
