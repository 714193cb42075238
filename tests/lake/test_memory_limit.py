"""A memory limit for the local lake's DuckDB: a query bigger than it spills to disk and gives
the same answer; a bad size is a one-line error naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebalancer.config import load_settings
from rebalancer.errors import ConfigError
from rebalancer.lake import LocalLake, get_lake
from rebalancer.lake._local import SPILL_DIRECTORY, memory_limit_text, sandboxed_duckdb

# A grouping whose hash table (two million groups, a string each) needs far more than 32 MB.
BIG_GROUPING = (
    "SELECT count(*), sum(s), max(m) FROM (SELECT i % 2000000 AS k, sum(i) AS s, "
    "max(CAST(i AS VARCHAR)) AS m FROM range(6000000) t(i) GROUP BY k)"
)


def _limit_mib(con: object) -> float:
    text = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]  # type: ignore[attr-defined]
    number, unit = text.split()
    return float(number) * {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}[unit]


def test_a_query_over_the_limit_spills_and_gives_the_same_answer() -> None:
    limited = sandboxed_duckdb(None, memory_limit="32MB")
    free = sandboxed_duckdb(None)
    try:
        assert _limit_mib(limited) < 40 < _limit_mib(free)
        want = free.execute(BIG_GROUPING).fetchall()
        got = limited.execute(BIG_GROUPING).fetchall()
        assert got == want == [(2_000_000, sum(range(6_000_000)), "999999")]
        assert SPILL_DIRECTORY.is_dir()  # it spilled there, not into the working directory
    finally:
        limited.close()
        free.close()


def test_the_limit_is_locked_like_the_rest_of_the_configuration() -> None:
    con = sandboxed_duckdb(None, memory_limit="64MB")
    try:
        with pytest.raises(Exception, match=r"(?i)lock"):
            con.execute("SET memory_limit = '10GB'")
        assert _limit_mib(con) < 70
    finally:
        con.close()


def test_the_setting_reaches_the_local_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBALANCER_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("REBALANCER_DUCKDB_MEMORY_LIMIT", " 96 MiB ")
    settings = load_settings()
    assert settings.duckdb_memory_limit == "96MiB"
    lake = get_lake(settings)
    assert isinstance(lake, LocalLake)
    assert lake.query("SELECT 1 AS one")["one"].tolist() == [1]
    assert 90 < _limit_mib(lake._connection()) < 100


@pytest.mark.parametrize("bad", ["lots", "-1GB", "0MB", "12", "1e9B", "2GB; SET x=1"])
def test_a_bad_size_is_one_line_naming_the_setting(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBALANCER_DUCKDB_MEMORY_LIMIT", bad)
    with pytest.raises(ConfigError, match="REBALANCER_DUCKDB_MEMORY_LIMIT") as caught:
        load_settings()
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="512MB or 2GB"):
        memory_limit_text(bad)
