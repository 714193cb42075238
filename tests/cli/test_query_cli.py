"""`rebalancer query` and `backfill` as a user runs them: a real process, real exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.lake import LocalLake
from tests.conftest import sample_frame

CLI = [sys.executable, "-m", "rebalancer.cli"]


def run(args: list[str], lake: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCER_")}
    env["REBALANCER_LAKE"] = str(lake)
    env["COLUMNS"] = "200"
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def filled(lake: LocalLake) -> LocalLake:
    frame = sample_frame("market_prices", 12)
    frame["symbol"] = ["AAPL", "MSFT", "AGG"] * 4
    lake.write("market_prices", frame)
    return lake


def test_query_csv(filled: LocalLake) -> None:
    result = run(
        [
            "query",
            "SELECT symbol, count(*) AS n FROM market_prices GROUP BY 1 ORDER BY 1",
            "--format",
            "csv",
        ],
        filled.root,
    )
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert frame.to_dict("list") == {"symbol": ["AAPL", "AGG", "MSFT"], "n": [4, 4, 4]}


def test_query_json(filled: LocalLake) -> None:
    result = run(
        [
            "query",
            "SELECT symbol, max(ts) AS last FROM market_prices GROUP BY 1 ORDER BY 1",
            "-f",
            "json",
        ],
        filled.root,
    )
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["symbol"] for r in records] == ["AAPL", "AGG", "MSFT"]
    assert all(r["last"].startswith("2024-03-0") for r in records)


def test_query_table(filled: LocalLake) -> None:
    result = run(
        ["query", "SELECT symbol, count(*) AS n FROM market_prices GROUP BY 1"], filled.root
    )
    assert result.returncode == 0, result.stderr
    assert "AAPL" in result.stdout and "3 row(s)" in result.stdout


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM nope", "unknown table nope"),
        ("SELEC 1", "syntax error"),
        ("SELECT frobnicate(1)", "unsupported function frobnicate"),
        ("DELETE FROM holdings", "only SELECT"),
    ],
)
def test_bad_query_exits_non_zero_with_one_line(filled: LocalLake, sql: str, message: str) -> None:
    result = run(["query", sql], filled.root)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_format_option(filled: LocalLake) -> None:
    result = run(["query", "SELECT 1", "--format", "xml"], filled.root)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_backfill_history_then_query(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    result = run(
        [
            "backfill",
            "--source",
            "history",
            "--start",
            "2022-12-01",
            "--end",
            "2022-12-09",
            "--symbols",
            "AAPL,MSFT",
        ],
        lake_dir,
    )
    assert result.returncode == 0, result.stderr
    from rebalancer.market import history_closes

    closes = history_closes().loc["2022-12-01":"2022-12-09", ["AAPL", "MSFT"]]
    assert f"wrote {closes.count().sum()} 1d bars" in result.stdout
    lake = LocalLake(lake_dir)
    got = lake.query(
        """SELECT symbol, ts, close, source, "interval" FROM market_prices ORDER BY symbol, ts"""
    )
    expected = closes.stack().sort_index(level=[1, 0])
    assert got["close"].tolist() == pytest.approx(expected.tolist())
    assert set(got["source"]) == {"history"} and set(got["interval"]) == {"1d"}
    assert len(lake.list_objects("market_prices")) == len(closes)  # one object per day


def test_backfill_is_idempotent(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    args = ["backfill", "--start", "2022-11-01", "--end", "2022-11-30", "--symbols", "KO"]
    assert run(args, lake_dir).returncode == 0
    assert run(args, lake_dir).returncode == 0
    got = LocalLake(lake_dir).query(
        "SELECT count(*) AS n, count(DISTINCT ts) AS d FROM market_prices"
    )
    assert got["n"].iloc[0] == got["d"].iloc[0] > 15


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2022-13-01"], "--start must be a date"),
        (["--symbols", "NOPE"], "no bundled history for NOPE"),
        (["--start", "2022-12-01", "--end", "2022-01-01"], "after --end"),
        (["--start", "2030-01-01"], "no history between"),
    ],
)
def test_backfill_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(["backfill", *args], tmp_path / "lake")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").rglob("*.parquet"))


def test_local_backend_refuses_s3_lake(tmp_path: Path) -> None:
    result = run(["query", "SELECT 1"], "s3://bucket/lake")
    assert result.returncode == 2
    assert "REBALANCER_BACKEND=aws" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "--format"], "requires an argument"),
        (["no-such-verb"], "No such command 'no-such-verb'"),
        (["query", "SELECT 1", "--format", "xml"], "'xml' is not one of"),
        (["backfill", "--start"], "requires an argument"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(args, tmp_path / "lake")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_query_from_file(filled: LocalLake, tmp_path: Path) -> None:
    sql_file = tmp_path / "q.sql"
    sql_file.write_text(
        "-- a leading comment is fine in a file\nSELECT count(*) AS n FROM market_prices\n"
    )
    result = run(["query", "--file", str(sql_file), "-f", "csv"], filled.root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["n", "12"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.sql", "no such file"),
        (
            lambda p: (p / "bin.sql").write_bytes(b"\xff\xfe\x00SELECT") and p / "bin.sql",
            "not UTF-8",
        ),
        (
            lambda p: (p / "big.sql").write_text("--" + "x" * 1_100_000) and p / "big.sql",
            "larger than",
        ),
    ],
)
def test_query_file_bad_input(filled: LocalLake, tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    result = run(["query", "--file", str(make(tmp_path))], filled.root)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def test_query_needs_sql_or_file(filled: LocalLake, tmp_path: Path) -> None:
    both = run(["query", "SELECT 1", "--file", str(tmp_path / "x.sql")], filled.root)
    assert both.returncode == 2 and "not both or neither" in both.stderr
