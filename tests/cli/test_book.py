"""`rebalancer generate`: writes the book from the lake's prices; bad input is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rebalancer.book import DEFAULT_MODELS
from rebalancer.cli import app
from rebalancer.lake import LocalLake
from tests.book.conftest import make_panel

runner = CliRunner()


def _bars(panel: pd.DataFrame) -> pd.DataFrame:
    long = panel.stack().dropna().rename("close").reset_index()
    long.columns = ["day", "symbol", "close"]
    return pd.DataFrame(
        {
            "symbol": long["symbol"],
            "ts": pd.to_datetime(long["day"]) + pd.Timedelta(hours=21),
            "interval": "1d",
            "open": long["close"],
            "high": long["close"],
            "low": long["close"],
            "close": long["close"],
            "volume": pd.array([None] * len(long), dtype="Int64"),
            "source": "test",
            "ingested_at": pd.Timestamp("2023-01-01"),
        }
    )


@pytest.fixture(scope="module")
def priced_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with ~15 months of daily bars for every model symbol."""
    root = tmp_path_factory.mktemp("priced") / "lake"
    lake = LocalLake(root)
    lake.write("market_prices", _bars(make_panel("2021-09-01", "2022-12-28")))
    lake.close()
    return root


def _invoke(root: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--lake", str(root), "generate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_generate_writes_the_book(priced_lake: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCER_")}
    env["REBALANCER_LAKE"] = str(priced_lake)
    env["COLUMNS"] = "200"
    args = ["generate", "--accounts", "1200", "--seed", "4", "--chunk-size", "500"]
    result = subprocess.run(
        [sys.executable, "-m", "rebalancer.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 1,200 accounts as of 2022-12-28 in 3 chunk(s)" in result.stdout
    lake = LocalLake(priced_lake)
    counts = lake.query("SELECT account_type, count(*) AS n FROM accounts GROUP BY 1")
    assert counts["n"].sum() == 1200 and set(counts["account_type"]) == {"taxable", "ira", "roth"}
    assert len(lake.list_objects("holdings")) == 3
    models = lake.query("SELECT DISTINCT model_id FROM model_portfolios")
    assert set(models["model_id"]) == set(DEFAULT_MODELS.model_ids)
    as_of = lake.query("SELECT max(acquired) AS d FROM tax_lots")["d"].iloc[0]
    assert pd.Timestamp(as_of) < pd.Timestamp("2022-12-28")


def test_as_of_option_moves_the_snapshot(priced_lake: Path, tmp_path: Path) -> None:
    lake_dir = tmp_path / "copy"
    lake = LocalLake(lake_dir)
    lake.write("market_prices", LocalLake(priced_lake).read("market_prices").drop(columns="dt"))
    code, _, err = _invoke(lake_dir, "--accounts", "50", "--seed", "1", "--as-of", "2022-11-15")
    assert code == 0, err
    trades = lake.query("SELECT max(trade_date) AS d FROM transactions")["d"].iloc[0]
    assert pd.Timestamp(trades) <= pd.Timestamp("2022-11-15")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accounts", "0"], "--accounts must be positive"),
        (["--accounts", "-3"], "--accounts must be positive"),
        (["--accounts", "10000001"], "above the cap of 10,000,000"),
        (["--accounts", "10", "--chunk-size", "0"], "--chunk-size must be between"),
        (["--accounts", "10", "--chunk-size", "5000000"], "--chunk-size must be between"),
        (["--accounts", "10", "--seed", "-1"], "--seed must be a non-negative integer"),
        (["--accounts", "10", "--as-of", "2031-02-30"], "--as-of must be a date"),
        (["--accounts", "10", "--as-of", "2030-01-01"], "outside the price history"),
        (["--accounts", "10", "--as-of", "2021-12-01"], "needs 400"),
    ],
)
def test_bad_input_is_one_line(priced_lake: Path, args: list[str], message: str) -> None:
    before = sorted(p.name for p in priced_lake.iterdir())
    code, out, err = _invoke(priced_lake, *args)
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err + out
    assert sorted(p.name for p in priced_lake.iterdir()) == before  # nothing written


def test_missing_prices_name_the_symbols_and_the_backfill(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "partial")
    panel = make_panel("2021-09-01", "2022-12-28")
    lake.write("market_prices", _bars(panel.drop(columns=["BTC-USD", "TLT"])))
    code, _, err = _invoke(tmp_path / "partial", "--accounts", "10")
    assert code == 5
    assert "no daily prices for BTC-USD, TLT" in err
    assert "run `rebalancer backfill` first" in err  # with no options it fills every symbol
    assert len(err.strip().splitlines()) == 1
    assert not lake.list_objects("accounts")


def test_empty_lake_fails_cleanly(tmp_path: Path) -> None:
    code, _, err = _invoke(tmp_path / "empty", "--accounts", "10", "--seed", "-2")
    assert code == 2 and "--seed must be a non-negative integer" in err  # checked before I/O
    code, _, err = _invoke(tmp_path / "empty", "--accounts", "10")
    assert code == 5 and "no daily prices for AAPL, AGG" in err
    assert np.all([line.startswith("error:") for line in err.strip().splitlines()])
