"""LocalLake: round trips, deterministic keys, pruning, atomic and idempotent writes."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rebalancer.errors import ConfigError, QueryError, SchemaValidationError
from rebalancer.lake import LocalLake, get_lake, get_schema, load_schemas
from tests.conftest import sample_frame


def _canonical(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    cols = get_schema(table).column_names
    out = frame[cols].copy()
    for col in get_schema(table).columns:
        if col.type == "date":
            out[col.name] = pd.to_datetime(out[col.name])
        elif col.type in ("bigint", "int", "smallint"):
            out[col.name] = out[col.name].astype("int64")
        elif col.type == "timestamp":
            out[col.name] = pd.to_datetime(out[col.name]).astype("datetime64[us]")
    return out.sort_values(cols).reset_index(drop=True)


@pytest.mark.parametrize("table", sorted(load_schemas()))
def test_round_trip_every_table(lake: LocalLake, table: str) -> None:
    frame = sample_frame(table, 9, seed=7)
    keys = lake.write(table, frame)
    assert keys and all(Path(k).is_file() for k in keys)
    back = lake.read(table)
    pd.testing.assert_frame_equal(_canonical(back, table), _canonical(frame, table))
    counted = lake.query(f"SELECT count(*) AS n FROM {table}")
    assert int(counted["n"].iloc[0]) == 9


def test_partitioned_keys_are_hive_style(lake: LocalLake) -> None:
    frame = sample_frame("market_prices", 9)  # 8-hour steps from 2024-03-01 14:30: 3 days+
    keys = lake.write("market_prices", frame, name="slot-1430")
    expected_days = sorted(frame["ts"].dt.strftime("%Y-%m-%d").unique())
    root = Path(lake.root)
    assert [Path(k).relative_to(root).as_posix() for k in keys] == [
        f"market_prices/dt={day}/slot-1430.parquet" for day in expected_days
    ]


def test_unpartitioned_key(lake: LocalLake) -> None:
    (key,) = lake.write("accounts", sample_frame("accounts", 3), name="part-00003")
    assert Path(key) == Path(lake.root) / "accounts" / "part-00003.parquet"


def test_parquet_is_zstd_with_exact_schema(lake: LocalLake) -> None:
    (key, *_) = lake.write("market_prices", sample_frame("market_prices", 2))
    meta = pq.ParquetFile(key)
    assert meta.metadata.row_group(0).column(0).compression == "ZSTD"
    assert meta.schema_arrow.equals(get_schema("market_prices").arrow_schema())


def test_idempotent_write_same_key_twice(lake: LocalLake) -> None:
    frame = sample_frame("market_prices", 6)
    first = lake.write("market_prices", frame, name="slot-0000")
    second = lake.write("market_prices", frame, name="slot-0000")
    assert first == second
    assert lake.query("SELECT count(*) AS n FROM market_prices")["n"].iloc[0] == 6
    assert len(lake.list_objects("market_prices")) == len(first)


def test_different_names_accumulate(lake: LocalLake) -> None:
    frame = sample_frame("market_prices", 3)
    lake.write("market_prices", frame, name="a")
    lake.write("market_prices", frame, name="b")
    assert lake.query("SELECT count(*) AS n FROM market_prices")["n"].iloc[0] == 6


def test_atomic_write_leaves_no_partial_file(
    lake: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = sample_frame("market_prices", 3)
    (key, *_) = lake.write("market_prices", good, name="slot")
    before = Path(key).read_bytes()

    real_write = pq.write_table

    def write_half_then_die(table, where, **kwargs):  # type: ignore[no-untyped-def]
        real_write(table.slice(0, 1), where, **kwargs)
        Path(where).write_bytes(Path(where).read_bytes()[:50])  # a torn file
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", write_half_then_die)
    with pytest.raises(OSError, match="disk full"):
        lake.write("market_prices", sample_frame("market_prices", 3, seed=9), name="slot")
    monkeypatch.setattr(pq, "write_table", real_write)

    assert Path(key).read_bytes() == before, "the committed object was not replaced"
    leftovers = [p for p in Path(lake.root).rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []
    assert lake.query("SELECT count(*) AS n FROM market_prices")["n"].iloc[0] == 3


def test_invalid_frame_writes_nothing(lake: LocalLake) -> None:
    frame = sample_frame("market_prices", 6)
    frame.loc[5, "close"] = None
    with pytest.raises(SchemaValidationError):
        lake.write("market_prices", frame)
    assert not Path(lake.root).exists() or not any(Path(lake.root).rglob("*.parquet"))


def test_partition_pruning_reads_one_partition(lake: LocalLake) -> None:
    frame = sample_frame("market_prices", 9)
    keys = lake.write("market_prices", frame)
    days = sorted(frame["ts"].dt.strftime("%Y-%m-%d").unique())
    wanted = days[0]  # DuckDB binds the view on the first file, so keep that one readable
    # Corrupt every other partition: a query that touched them would fail.
    for key in keys:
        if f"dt={wanted}" not in key:
            Path(key).write_bytes(b"not parquet at all")
    sql = f"SELECT count(*) AS n FROM market_prices WHERE dt = '{wanted}'"
    expected = int((frame["ts"].dt.strftime("%Y-%m-%d") == wanted).sum())
    assert lake.query(sql)["n"].iloc[0] == expected
    assert len(lake.read("market_prices", start=wanted, end=wanted)) == expected
    with pytest.raises(QueryError):
        lake.query("SELECT count(*) FROM market_prices")


def test_explain_shows_partition_filter(lake: LocalLake) -> None:
    lake.write("market_prices", sample_frame("market_prices", 9))
    plan = lake.explain("SELECT count(*) FROM market_prices WHERE dt = '2024-03-02'", analyze=True)
    # DuckDB reports the pruned file count in the scan's profile.
    assert "Total Files Read: 1" in plan or "Scanning Files: 1/" in plan, plan


def test_read_range_and_columns(lake: LocalLake) -> None:
    frame = sample_frame("market_prices", 9)
    lake.write("market_prices", frame)
    days = sorted(frame["ts"].dt.strftime("%Y-%m-%d").unique())
    part = lake.read("market_prices", start=days[1], columns=["symbol", "close", "dt"])
    assert list(part.columns) == ["symbol", "close", "dt"]
    assert set(part["dt"]) == set(days[1:])
    assert len(part) == int((frame["ts"].dt.strftime("%Y-%m-%d") >= days[1]).sum())


def test_empty_table_reads_and_queries(lake: LocalLake) -> None:
    assert lake.read("holdings").empty
    assert list(lake.read("holdings").columns) == get_schema("holdings").column_names
    assert lake.query("SELECT count(*) AS n FROM holdings")["n"].iloc[0] == 0
    assert lake.query("SELECT * FROM latest_prices").empty


def test_new_files_are_visible_to_the_next_query(lake: LocalLake) -> None:
    assert lake.query("SELECT count(*) AS n FROM holdings")["n"].iloc[0] == 0
    lake.write("holdings", sample_frame("holdings", 4))
    assert lake.query("SELECT count(*) AS n FROM holdings")["n"].iloc[0] == 4


def test_hostile_object_names_rejected(lake: LocalLake) -> None:
    for name in ("../escape", ".hidden", "a/b", "", "x y"):
        with pytest.raises(ConfigError, match="invalid object name"):
            lake.write("holdings", sample_frame("holdings", 1), name=name)
    assert not any(Path(lake.root).parent.rglob("escape*"))


def test_delete_refuses_paths_outside_the_lake(lake: LocalLake, tmp_path: Path) -> None:
    outsider = tmp_path / "precious.txt"
    outsider.write_text("keep me")
    with pytest.raises(QueryError, match="outside the lake"):
        lake.delete_objects([str(outsider)])
    assert outsider.read_text() == "keep me"


def test_delete_objects_then_query(lake: LocalLake) -> None:
    keys = lake.write("market_prices", sample_frame("market_prices", 9))
    lake.delete_objects(keys[:1])
    lake.delete_objects(keys[:1])  # idempotent
    assert lake.list_objects("market_prices") == sorted(keys[1:])


def test_huge_string_values_round_trip(lake: LocalLake) -> None:
    frame = sample_frame("ingest_rejects", 2)
    frame["raw"] = ["x" * 2_000_000, "{}"]
    lake.write("ingest_rejects", frame)
    back = lake.read("ingest_rejects")
    assert sorted(back["raw"].str.len()) == [2, 2_000_000]


def test_one_lake_instance_sees_every_change_between_queries(lake: LocalLake) -> None:
    # Views are re-created only when their SQL changes (DuckDB expands a glob at every
    # query): new objects, a compaction's superseded list and deleted objects must all show.
    def count() -> int:
        return int(lake.query("SELECT count(*) AS n FROM market_prices").iloc[0, 0])

    assert count() == 0  # no object yet: the typed empty view
    frame = sample_frame("market_prices", rows=6)
    lake.write("market_prices", frame, name="slot-0930")
    assert count() == 6
    lake.write("market_prices", frame.assign(close=frame["close"] + 1), name="slot-0935")
    assert count() == 12
    # A compacted object supersedes the slots of its partitions: each row once.
    for dt in sorted({k.split("dt=")[1].split("/")[0] for k in lake.list_objects("market_prices")}):
        keys = lake.list_objects("market_prices", dt=dt)
        lake.write("market_prices", lake.read_objects("market_prices", keys), name="compacted")
    assert count() == 12
    lake.delete_objects(lake.list_objects("market_prices", include_superseded=True))
    assert count() == 0


@pytest.mark.parametrize("name", ["lake[1]", "lake*", "lake?", "lake{1,2}"])
def test_lake_path_with_glob_characters_is_refused(tmp_path: Path, name: str) -> None:
    # DuckDB reads a path as a glob: ``lake[1]/accounts/*.parquet`` matches ``lake1``'s files.
    sibling = LocalLake(tmp_path / "lake1")
    sibling.write("accounts", sample_frame("accounts", 5))
    sibling.close()
    with pytest.raises(ConfigError, match=r"lake path .*contains") as info:
        LocalLake(tmp_path / name)
    assert name in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="contains"):
        get_lake(lake=str(tmp_path / name / "below"))


def test_lake_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    path.write_text("not a directory")
    with pytest.raises(ConfigError, match=re.escape(f"lake path {path} is a file")):
        LocalLake(path)
    with pytest.raises(ConfigError, match="is a file"):
        get_lake(lake=str(path))


def test_corrupt_first_object_fails_only_its_table_naming_it(lake: LocalLake) -> None:
    lake.write("holdings", sample_frame("holdings", 4))
    good = lake.write("accounts", sample_frame("accounts", 3), name="part-00001")
    (first,) = lake.write("accounts", sample_frame("accounts", 2), name="part-00000")
    Path(first).write_bytes(b"not parquet at all")  # sorts first: DuckDB binds the view on it
    assert lake.query("SELECT count(*) AS n FROM holdings")["n"].iloc[0] == 4
    with pytest.raises(QueryError, match=r"part-00000\.parquet") as info:
        lake.query("SELECT count(*) FROM accounts")
    assert "CREATE VIEW" not in str(info.value) and "\n" not in str(info.value)
    # Only corrupt objects left: still only this table fails, naming an object.
    Path(good[0]).write_bytes(b"")
    with pytest.raises(QueryError, match=r"part-0000[01]\.parquet"):
        lake.query("SELECT * FROM accounts")
    lake.close()  # a fresh connection binds the view anew: no readable object at all
    with pytest.raises(QueryError, match=r"table accounts: cannot read object .*part-00000"):
        lake.query("SELECT * FROM accounts")
    assert lake.query("SELECT count(*) AS n FROM holdings")["n"].iloc[0] == 4
    lake.delete_objects(lake.list_objects("accounts"))  # repaired: the table reads again
    lake.write("accounts", sample_frame("accounts", 2))
    assert lake.query("SELECT count(*) AS n FROM accounts")["n"].iloc[0] == 2


def test_corrupt_first_partition_leaves_other_partitions_queryable(lake: LocalLake) -> None:
    frame = sample_frame("market_prices", 9)
    keys = lake.write("market_prices", frame)
    Path(keys[0]).write_bytes(b"garbage")  # the first partition's only object
    days = sorted(frame["ts"].dt.strftime("%Y-%m-%d").unique())
    expected = int((frame["ts"].dt.strftime("%Y-%m-%d") == days[-1]).sum())
    got = lake.query("SELECT count(*) AS n FROM market_prices WHERE dt = :d", {"d": days[-1]})
    assert got["n"].iloc[0] == expected
    with pytest.raises(QueryError, match=Path(keys[0]).name):
        lake.query("SELECT count(*) FROM market_prices")


_SLOW = "SELECT sum(a.close * b.close * c.close * d.close) AS s FROM {t} a, {t} b, {t} c, {t} d"


def test_query_timeout_interrupts_and_the_next_query_runs(tmp_path: Path) -> None:
    slow = LocalLake(tmp_path / "lake", query_timeout_seconds=0.5)
    try:
        slow.write("market_prices", sample_frame("market_prices", 2000))
        started = time.monotonic()
        with pytest.raises(QueryError, match=r"query exceeded 0\.5 s"):
            slow.query(_SLOW.format(t="market_prices"))
        assert time.monotonic() - started < 10
        assert slow.query("SELECT count(*) AS n FROM market_prices")["n"].iloc[0] == 2000
        time.sleep(0.7)  # no timer left over from the fast query interrupts a later one
        assert slow.query("SELECT 1 AS one")["one"].iloc[0] == 1
        # Every timer is joined: none outlives its query (one would hold the connection).
        assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
    finally:
        slow.close()


def test_query_timeout_comes_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBALANCER_QUERY_TIMEOUT_SECONDS", "0.25")
    from rebalancer.config import get_settings

    get_settings.cache_clear()
    slow = get_lake(lake=str(tmp_path / "lake"))
    slow.write("market_prices", sample_frame("market_prices", 2000))
    with pytest.raises(QueryError, match=r"query exceeded 0\.25 s"):
        slow.query(_SLOW.format(t="market_prices"))
    with pytest.raises(ConfigError, match="positive"):
        LocalLake(tmp_path / "lake", query_timeout_seconds=0)
