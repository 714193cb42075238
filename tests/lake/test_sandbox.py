"""The local engine reads the lake and nothing else, as Athena would.

Two layers, each tested: the parse refuses what Athena does not have (writes, table functions,
settings) with a one-line reason; under it, DuckDB itself runs with external access off, the
lake as its only allowed directory, and its configuration locked.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rebalancer.errors import QueryError
from rebalancer.lake import LocalLake
from tests.conftest import sample_frame


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files beside the lake that no query may read: a text file, a CSV, a Parquet file."""
    where = tmp_path / "outside"
    where.mkdir()
    (where / "secret.txt").write_text("top secret\n")
    (where / "secret.csv").write_text("a,b\n1,2\n")
    pq.write_table(pa.table({"a": [1]}), where / "secret.parquet")
    return where


@pytest.fixture
def filled(lake: LocalLake) -> LocalLake:
    lake.write("accounts", sample_frame("accounts", 4))
    return lake


def _files(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _hostile(outside: Path, lake: LocalLake) -> list[tuple[str, str]]:
    txt, csv, parquet = (outside / f"secret.{ext}" for ext in ("txt", "csv", "parquet"))
    inside = Path(lake.root) / "accounts" / "stolen.csv"
    return [
        ("SELECT * FROM read_text('/etc/hostname')", "table function read_text"),
        (f"SELECT * FROM read_text('{txt}')", "table function read_text"),
        (f"SELECT * FROM read_csv('{csv}')", "table function read_csv"),
        (f"SELECT * FROM read_csv_auto('{csv}')", "table function read_csv_auto"),
        (f"SELECT * FROM read_json_auto('{csv}')", "table function read_json_auto"),
        (f"SELECT * FROM read_parquet('{parquet}')", "table function read_parquet"),
        (f"SELECT * FROM parquet_scan('{parquet}')", "table function parquet_scan"),
        (f"SELECT * FROM read_blob('{txt}')", "table function read_blob"),
        (f"SELECT * FROM accounts CROSS JOIN read_text('{txt}')", "table function read_text"),
        (f"WITH t AS (SELECT * FROM read_text('{txt}')) SELECT * FROM t", "read_text"),
        (f"SELECT (SELECT content FROM read_text('{txt}')) AS c", "read_text"),
        (f"SELECT read_blob('{txt}') AS c", "function read_blob"),
        ("SELECT * FROM query('SELECT 1')", "table function query"),
        ("SELECT * FROM range(10)", "table function range"),
        ("SELECT * FROM duckdb_settings()", "table function duckdb_settings"),
        ("SELECT current_setting('allowed_directories') AS s", "function current_setting"),
        (f'SELECT * FROM "{parquet}"', "unknown table"),
        (f"SELECT * FROM glob('{outside}/*')", "syntax error"),
        (f"COPY accounts TO '{inside}'", "only SELECT"),
        (f"COPY (SELECT 1) TO '{outside / 'x.csv'}'", "only SELECT"),
        (f"ATTACH '{outside / 'db.duckdb'}' AS other", "syntax error"),
        ("INSTALL httpfs", "only SELECT"),
        ("LOAD httpfs", "only SELECT"),
        ("SET enable_external_access = true", "only SELECT"),
        ("SET threads = 1", "only SELECT"),
        ("PRAGMA threads = 1", "only SELECT"),
        ("SELECT * INTO t FROM accounts", "SELECT ... INTO"),
        ("WITH a AS (SELECT 1 AS x) SELECT * INTO t FROM a", "SELECT ... INTO"),
        ("CREATE TABLE t AS SELECT * FROM accounts", "only SELECT"),
        ("DROP VIEW accounts", "only SELECT"),
    ]


def test_hostile_queries_fail_in_one_line_and_write_nothing(
    filled: LocalLake, outside: Path, tmp_path: Path
) -> None:
    before = _files(tmp_path)
    expected = len(filled.query("SELECT * FROM accounts"))
    for sql, message in _hostile(outside, filled):
        with pytest.raises(QueryError, match=message) as info:
            filled.query(sql)
        assert "\n" not in str(info.value), sql
        assert "top secret" not in str(info.value)
    assert _files(tmp_path) == before
    assert len(filled.query("SELECT * FROM accounts")) == expected
    with pytest.raises(QueryError, match="unknown table t"):
        filled.query("SELECT * FROM t")  # SELECT INTO created nothing


def test_duckdb_itself_reads_only_the_lake(filled: LocalLake, outside: Path) -> None:
    # Past the parse (query_duckdb runs DuckDB SQL as given), DuckDB's own sandbox holds.
    for sql in (
        f"SELECT * FROM read_text('{outside / 'secret.txt'}')",
        f"SELECT * FROM read_parquet('{outside / 'secret.parquet'}')",
        f"SELECT * FROM '{outside / 'secret.csv'}'",
        f"COPY (SELECT 1) TO '{outside / 'x.csv'}'",
        f"ATTACH '{outside / 'db.duckdb'}' AS other",
        "SELECT * FROM read_text('/etc/hostname')",
    ):
        with pytest.raises(QueryError, match=r"Permission|disabled"):
            filled.query_duckdb(sql)
    for sql in ("SET enable_external_access = true", "SET allowed_directories = ['/']"):
        with pytest.raises(QueryError, match="locked"):
            filled.query_duckdb(sql)
    assert not (outside / "x.csv").exists()
    assert len(filled.query("SELECT * FROM accounts")) == 4


def test_a_sibling_directory_with_the_lake_as_prefix_is_outside(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    sibling = tmp_path / "lake1"
    sibling.mkdir()
    pq.write_table(pa.table({"a": [1]}), sibling / "x.parquet")
    try:
        lake.write("accounts", sample_frame("accounts", 2))
        with pytest.raises(QueryError, match=r"Permission|disabled"):
            lake.query_duckdb(f"SELECT * FROM read_parquet('{sibling / 'x.parquet'}')")
        assert len(lake.query("SELECT * FROM accounts")) == 2
    finally:
        lake.close()


def test_views_still_follow_new_objects_after_the_lock(filled: LocalLake) -> None:
    assert len(filled.query("SELECT * FROM accounts")) == 4
    filled.write("accounts", sample_frame("accounts", 3, seed=1), name="part-00001")
    assert len(filled.query("SELECT * FROM accounts")) == 7
    assert filled.sync_views()  # the analyst views are re-created under the lock too
    assert isinstance(filled.query("SELECT * FROM latest_prices"), pd.DataFrame)


def test_engine_settings(filled: LocalLake) -> None:
    # Progress bars would print into `rebalancer query` output on long queries (DuckDB's
    # default); the rest is the sandbox and Trino's integer division.
    names = [
        "enable_external_access",
        "lock_configuration",
        "enable_progress_bar",
        "integer_division",
        "autoinstall_known_extensions",
    ]
    got = filled.query_duckdb(
        "SELECT name, value FROM duckdb_settings() WHERE name IN ("
        + ", ".join(f"'{n}'" for n in names)
        + ")"
    )
    assert dict(zip(got["name"], got["value"], strict=True)) == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "enable_progress_bar": "false",
        "integer_division": "true",
        "autoinstall_known_extensions": "false",
    }
