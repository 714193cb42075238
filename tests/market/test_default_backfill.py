"""`rebalancer backfill` with no options: every universe symbol, history then synthetic, both
ending on the history's last day; and no source writes bars for a symbol the universe lacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from rebalancer.errors import ConfigError, MarketDataError
from rebalancer.lake import LocalLake
from rebalancer.market import (
    YFinanceProvider,
    backfill,
    backfill_universe,
    default_universe,
    history_symbols,
)
from rebalancer.market._backfill import history_last_day
from tests.market.yf_fixtures import replay

UNIVERSE = default_universe()
PRICED = set(UNIVERSE.loc[UNIVERSE["asset_class"] != "cash", "symbol"])
NOW = pd.Timestamp("2026-12-01", tz="UTC")  # years after the history ends


def parquet_files(root: str | Path) -> list[Path]:
    return sorted(Path(root).rglob("*.parquet")) if Path(root).exists() else []


def last_days(lake: LocalLake) -> pd.DataFrame:
    return lake.query(
        "SELECT source, min(ts) AS first_ts, max(ts) AS last_ts, count(DISTINCT symbol) AS n "
        "FROM market_prices GROUP BY source ORDER BY source"
    ).set_index("source")


# ----------------------------------------------------------------------- unknown symbols
BAD = [["NOPE"], ["../X"], ["AAPL", "NOPE"], ["[/bold]X"]]


@pytest.mark.parametrize("symbols", BAD)
@pytest.mark.parametrize("source", ["synthetic", "history", "yfinance", "auto"])
def test_unknown_symbols_are_refused_by_every_source(
    lake: LocalLake, source: str, symbols: list[str]
) -> None:
    unknown = [s for s in symbols if s != "AAPL"]
    kwargs: dict[str, object] = {"start": "2022-12-01", "end": "2022-12-09", "symbols": symbols}
    if source == "yfinance":  # a recorded download: no network, and it must never be called
        kwargs["provider"] = YFinanceProvider(download=replay("full_success"), sleep=lambda s: 0)
    run = backfill_universe if source == "auto" else backfill
    if source != "auto":
        kwargs["source"] = source
    with pytest.raises((ConfigError, MarketDataError)) as caught:
        run(lake, **kwargs)  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message
    for symbol in unknown:
        assert symbol.upper() in message  # named as normalised (upper case)
    assert parquet_files(lake.root) == []  # nothing written, not even the securities table


def test_unknown_symbol_messages(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    runner = CliRunner()
    result = runner.invoke(
        app, ["--lake", lake, "backfill", "--source", "synthetic", "--symbols", "NOPE,../X"]
    )
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert "unknown symbols NOPE, ../X: not in the securities universe" in err
    assert "REBALANCER_SYMBOLS_FILE" in err and "Traceback" not in err
    result = runner.invoke(app, ["--lake", lake, "backfill", "--symbols", "NOPE"])
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert "no bundled history for NOPE, and not in the securities universe" in err
    assert parquet_files(lake) == []


def test_lower_case_universe_symbols_are_accepted(lake: LocalLake) -> None:
    result = backfill(
        lake, source="synthetic", start="2022-12-01", end="2022-12-02", symbols=[" btc-usd "],
        now=NOW,
    )  # fmt: skip
    assert result.rows == 2
    assert set(lake.read("market_prices")["symbol"]) == {"BTC-USD"}


def test_a_symbol_from_the_symbols_file_is_known(
    lake: LocalLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rebalancer.config import Settings

    extra = tmp_path / "extra.csv"
    extra.write_text("symbol,name,asset_class,currency\nNVDA,NVIDIA,equity,USD\n")
    monkeypatch.setenv("REBALANCER_SYMBOLS_FILE", str(extra))
    result = backfill(
        lake, source="synthetic", start="2022-12-01", end="2022-12-02", symbols=["NVDA"],
        settings=Settings(), now=NOW,
    )  # fmt: skip
    assert result.rows == 2


# ----------------------------------------------------------------------- the default backfill
def test_default_backfill_covers_every_symbol_and_ends_with_the_history(lake: LocalLake) -> None:
    results = backfill_universe(lake, start="2022-06-01", now=NOW)
    assert [r.source for r in results] == ["history", "synthetic"]
    assert {r.last_day for r in results} == {history_last_day()} == {"2022-12-28"}
    days = last_days(lake)
    assert set(lake.read("market_prices")["symbol"]) == PRICED
    assert days.loc["history", "n"] == len(history_symbols())
    assert days.loc["synthetic", "n"] == len(PRICED) - len(history_symbols())
    assert days["last_ts"].nunique() == 1  # the newest close is the same day for every symbol
    assert set(lake.read("securities")["symbol"]) == set(UNIVERSE["symbol"])  # seeded


def test_default_backfill_end_and_symbols(lake: LocalLake) -> None:
    results = backfill_universe(
        lake, start="2021-06-01", end="2021-06-30", symbols=["ko", "BTC-USD", "CASH"], now=NOW
    )
    assert [(r.source, r.first_day, r.last_day) for r in results] == [
        ("history", "2021-06-01", "2021-06-30"),
        ("synthetic", "2021-06-01", "2021-06-30"),
    ]
    assert set(lake.read("market_prices")["symbol"]) == {"KO", "BTC-USD"}  # cash has no bars


def test_default_synthetic_part_spans_four_years_up_to_the_history_end(lake: LocalLake) -> None:
    (synthetic,) = backfill_universe(lake, symbols=["AGG"], now=NOW)
    assert (synthetic.first_day, synthetic.last_day) == ("2018-12-28", "2022-12-28")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"interval": "5m"}, ConfigError, "daily bars"),
        ({"exclude_history": True}, ConfigError, "--exclude-history goes with"),
        ({"start": "2024-01-01"}, MarketDataError, "no history between 2024-01-01"),
        ({"start": "2022-02-01", "end": "2022-01-01"}, MarketDataError, "after --end"),
        ({"symbols": [" "]}, ConfigError, "names no symbol"),
    ],
)
def test_default_backfill_bad_input_writes_nothing(
    lake: LocalLake, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        backfill_universe(lake, now=NOW, **kwargs)  # type: ignore[arg-type]
    assert parquet_files(lake.root) == []


@pytest.mark.slow
def test_backfill_then_generate_then_recommend(tmp_path: Path) -> None:
    """A newcomer's first steps, as processes: every account priced, nobody rejected."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCER_")}
    env.update(REBALANCER_LAKE=str(tmp_path / "lake"), COLUMNS="200")
    cli = [sys.executable, "-m", "rebalancer.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*cli, *args], capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        return done

    out = run("backfill").stdout
    assert "from history" in out and "from synthetic" in out
    assert out.count(".. 2022-12-28") == 2
    out = run("generate", "--accounts", "200").stdout
    assert "200 accounts as of 2022-12-28" in " ".join(out.split())
    done = run("recommend", "--all", "--dry-run")
    assert "200 account(s)" in done.stdout
    assert "skipped" not in done.stderr and "invalid" not in done.stderr
    run("recommend", "--all", "--dry-run", "--strict")
