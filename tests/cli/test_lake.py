"""`rebalancer query` as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.lake import LocalLake
from tests.cli.conftest import run
from tests.conftest import sample_frame


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
