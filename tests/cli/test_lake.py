"""`rebalancer query` as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
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


# --- values print exactly, and as text ------------------------------------------------------

EXACT_SQL = (
    "SELECT 137.1711673268204::DOUBLE AS a, 0.1::DOUBLE + 0.2::DOUBLE AS b, "
    "1e300::DOUBLE AS c, 5e-324::DOUBLE AS d, -0.0::DOUBLE AS z, 9007199254740993 AS big, "
    "TIMESTAMP '2024-01-02 03:04:05.123456' AS t, 'x' AS s, NULL AS n"
)


def test_query_json_round_trips_every_value(filled: LocalLake) -> None:
    result = run(["query", EXACT_SQL, "-f", "json"], filled.root)
    assert result.returncode == 0, result.stderr
    (record,) = json.loads(result.stdout)
    assert record["a"] == 137.1711673268204  # pandas' to_json printed 137.1711673268
    assert record["b"] == 0.1 + 0.2 and record["b"] != 0.3
    assert record["c"] == 1e300 and record["d"] == 5e-324
    assert record["big"] == 9007199254740993  # beyond 2**53: still exact, an integer
    assert record["t"] == "2024-01-02T03:04:05.123456"  # not cut to seconds
    assert pd.Timestamp(record["t"]) == pd.Timestamp("2024-01-02 03:04:05.123456")
    assert (record["s"], record["n"]) == ("x", None)


def test_query_json_of_a_lake_table_round_trips(lake: LocalLake) -> None:
    frame = sample_frame("market_prices", 50)
    frame["close"] = np.random.default_rng(5).lognormal(4.0, 1.0, 50)  # 15-17 digits each
    frame["ts"] += pd.to_timedelta(np.arange(50) * 1001, unit="us")
    lake.write("market_prices", frame)
    filled = lake
    expected = filled.query("SELECT symbol, ts, close FROM market_prices ORDER BY ts, symbol")
    result = run(
        ["query", "SELECT symbol, ts, close FROM market_prices ORDER BY ts, symbol", "-f", "json"],
        filled.root,
    )
    assert result.returncode == 0, result.stderr
    got = pd.DataFrame(json.loads(result.stdout))
    assert got["close"].tolist() == expected["close"].tolist()  # bit for bit, not approx
    assert pd.to_datetime(got["ts"], format="ISO8601").tolist() == expected["ts"].tolist()


def test_query_csv_and_table_keep_full_precision(filled: LocalLake) -> None:
    csv = run(["query", EXACT_SQL, "-f", "csv"], filled.root)
    assert csv.returncode == 0, csv.stderr
    row = pd.read_csv(io.StringIO(csv.stdout)).iloc[0]  # pandas reads floats round-trip
    assert row["a"] == 137.1711673268204 and row["b"] == 0.1 + 0.2 and row["d"] == 5e-324
    assert row["t"] == "2024-01-02 03:04:05.123456"
    table = run(["query", EXACT_SQL], filled.root)
    assert table.returncode == 0, table.stderr
    assert "137.1711673268204" in table.stdout and "0.30000000000000004" in table.stdout


def test_list_and_struct_columns_print_in_every_format(filled: LocalLake) -> None:
    sql = (
        "SELECT ARRAY[1, 2] AS a, ARRAY['x,y', NULL] AS s, ARRAY[0.1::DOUBLE + 0.2::DOUBLE] AS f, "
        "CAST(ROW(1, 'q') AS ROW(k INTEGER, v VARCHAR)) AS r"
    )
    table = run(["query", sql], filled.root)
    assert table.returncode == 0, table.stderr  # was: ValueError, exit 70
    assert "[1, 2]" in table.stdout and '["x,y", null]' in table.stdout
    assert '{"k": 1, "v": "q"}' in table.stdout and "1 row(s)" in table.stdout
    as_json = run(["query", sql, "-f", "json"], filled.root)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {"a": [1, 2], "s": ["x,y", None], "f": [0.1 + 0.2], "r": {"k": 1, "v": "q"}}
    ]
    csv = run(["query", sql, "-f", "csv"], filled.root)
    assert csv.returncode == 0, csv.stderr
    row = pd.read_csv(io.StringIO(csv.stdout)).iloc[0]
    assert json.loads(row["a"]) == [1, 2] and json.loads(row["s"]) == ["x,y", None]


@pytest.mark.parametrize(
    "text", ["[/bold]", "[/]", "[bold]x", "[link=https://evil.example]y[/link]"]
)
def test_square_brackets_in_data_print_as_text(filled: LocalLake, text: str) -> None:
    quoted = text.replace("'", "''")
    result = run(["query", f"SELECT '{quoted}' AS \"{quoted}\", 1 AS n"], filled.root)
    assert result.returncode == 0, result.stderr  # was: MarkupError traceback
    assert result.stdout.count(text) == 2  # the header and the cell, verbatim
    assert "\x1b]8;" not in result.stdout  # no terminal hyperlink


def test_square_brackets_in_an_error_message_print_as_text(filled: LocalLake) -> None:
    result = run(["query", 'SELECT * FROM "[/bold]"'], filled.root)
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "[/bold]" in line and "Traceback" not in line


def test_views_list_prints_names_as_text(filled: LocalLake) -> None:
    from rebalancer.lake import view_definitions

    result = run(["views", "list"], filled.root)
    assert result.returncode == 0, result.stderr
    for name in view_definitions():
        assert name in result.stdout
