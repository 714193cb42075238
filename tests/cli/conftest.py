"""Shared CLI fixtures: run the command as a user does (a real process) or in-process
(``CliRunner``), and a small hand-written book for ``recommend``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from rebalancer.lake import LocalLake
from tests.engine.books import SECURITIES, account, holdings, lots, model

CLI = [sys.executable, "-m", "rebalancer.cli"]
AS_OF = "2024-12-31T16:00:00"


def env_for(lake: str | Path) -> dict[str, str]:
    """The caller's environment without REBALANCER_*, pointed at ``lake``, 200 columns wide."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCER_")}
    env["REBALANCER_LAKE"] = str(lake)
    env["COLUMNS"] = "200"
    return env


def run(args: list[str], lake: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m rebalancer.cli ARGS`` in a child process on ``lake``."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env_for(lake), timeout=120
    )


def invoke(lake: str | Path, *args: str) -> tuple[int, str, str]:
    """``rebalancer --lake LAKE ARGS`` in this process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, ["--lake", str(lake), *args])
    return result.exit_code, result.stdout, result.stderr


def price_bars(symbol: str, closes: list[tuple[str, str, float]]) -> pd.DataFrame:
    """market_prices rows of one symbol from (ts, interval, close) triples."""
    return pd.DataFrame(
        {
            "symbol": symbol,
            "ts": pd.to_datetime([ts for ts, _, _ in closes], format="ISO8601"),
            "interval": [iv for _, iv, _ in closes],
            "open": [c for _, _, c in closes],
            "high": [c for _, _, c in closes],
            "low": [c for _, _, c in closes],
            "close": [c for _, _, c in closes],
            "volume": 1000,
            "source": "synthetic",
            "ingested_at": pd.Timestamp("2025-01-01"),
        }
    )


@pytest.fixture
def book_lake(lake: LocalLake) -> LocalLake:
    """Three accounts (one invalid), prices as 5m and daily bars around the as-of time."""
    lake.write("securities", SECURITIES)
    lake.write(
        "market_prices",
        pd.concat(
            [
                # VTI: the 15:50 bar closed at 15:55 (100); the 16:00 bar is still open (999).
                price_bars(
                    "VTI",
                    [
                        ("2024-12-31 15:50", "5m", 100.0),
                        ("2024-12-31 16:00", "5m", 999.0),
                        ("2024-12-30", "1d", 90.0),
                    ],
                ),
                # BND: only a daily bar of 12-30 (closed 12-31 00:00) and one of 12-31 (still open).
                price_bars("BND", [("2024-12-30", "1d", 100.0), ("2024-12-31", "1d", 555.0)]),
            ]
        ),
    )
    accts = pd.DataFrame(
        [
            account("A1", account_type="taxable"),
            account("A2", household_id="H2", pending_cash_flow=10_000.0),
            account("A3", household_id="H3"),
        ]
    )
    lake.write("accounts", accts)
    lake.write("model_portfolios", model())
    lake.write(
        "holdings",
        pd.concat(
            [
                holdings("A1", VTI=750, BND=250),
                holdings("A2", VTI=650, BND=350),
                holdings("A3", VTI=-3),
            ]
        ),
    )
    lake.write(
        "tax_lots",
        lots(
            [
                ("A1", "VTI", "A1-VTI-1", 750, 80.0, "2020-01-02"),
                ("A1", "BND", "A1-BND-1", 250, 110.0, "2023-05-01"),
            ]
        ),
    )
    lake.write("restrictions", pd.DataFrame({"account_id": ["A2"], "symbol": ["VXUS"],
                                             "restriction": ["restricted"], "reason": ["client"]}))  # fmt: skip
    lake.write("transactions", pd.DataFrame({
        "transaction_id": ["T1"], "account_id": ["A9"], "household_id": ["H9"], "symbol": ["VTI"],
        "side": ["BUY"], "quantity": [1.0], "price": [100.0],
        "trade_date": [pd.Timestamp("2024-12-20").date()], "realized_gain": [None]}))  # fmt: skip
    return lake
