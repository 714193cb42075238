"""End to end in a real browser: ``rebalancer dashboard`` on a free loopback port, every page
opened in headless Chromium (Debian's, through playwright), content and charts checked, one
approval clicked and found in the lake; a screenshot of each page."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rebalancer.usecases import reports
from tests.cli.conftest import env_for

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
#: Where screenshots go (default: the test's temporary directory).
SHOTS_ENV = "DASHBOARD_SCREENSHOTS"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dashboard_url(lake_copy, tmp_path: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """``rebalancer dashboard`` as a process on the lake copy; stopped (its group) afterwards."""
    port = _free_port()
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rebalancer.cli", "--lake", str(lake_copy.root), "dashboard",
         "--port", str(port)],
        env={**env_for(lake_copy.root), "HOME": str(tmp_path)},
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "streamlit.log").read_text()[-2000:])
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=".ci/run installs Debian's chromium")
def test_every_page_in_chromium(dashboard_url: str, lake_copy, dash_lake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # the first page load imports pandas, plotly, duckdb
    _, result = dash_lake
    shots = Path(os.environ.get(SHOTS_ENV) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    account_id = str(result.rows["account_id"].iloc[0])
    traded = result.rows["account_id"].nunique()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)

            def visit(path: str, text: str) -> None:
                page.goto(f"{dashboard_url}/{path}")
                expect(page.get_by_text(text, exact=False).first).to_be_visible()

            def shot(name: str) -> None:
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

            visit("", "Accounts needing attention")
            expect(page.get_by_test_id("stMetricValue").nth(2)).to_have_text(str(traded))
            expect(page.locator(".js-plotly-plot")).to_have_count(2)
            expect(page.get_by_text(f"{traded} accounts", exact=True)).to_be_visible()
            shot("book")

            visit(f"account?account_id={account_id}", "Holdings vs target")
            expect(page.locator(".js-plotly-plot")).to_have_count(1)
            shot("account")
            if reports.decisions_available():
                page.get_by_label("Note").fill("looks right")
                page.get_by_role("button", name="Approve").click()
                expect(page.get_by_text("Approved run")).to_be_visible()
                stored = lake_copy.read("decisions")
                assert set(stored["account_id"]) == {account_id}
                assert set(stored["note"]) == {f"run={result.run_id} approve: looks right"}

            visit("market", "Price history")
            expect(page.locator(".js-plotly-plot")).to_have_count(1)
            shot("market")
            visit("runs", f"No violations in run {result.run_id}")
            shot("runs")
            visit("model", "Decisions recorded")
            shot("model")
            visit("backtests", "Backtests")
            if not reports.backtest_runs(lake_copy).ready:
                expect(page.get_by_text("No backtests to show")).to_be_visible()
            shot("backtests")
        finally:
            browser.close()
