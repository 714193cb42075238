"""Compaction: one sorted file per day; readers never double count or miss rows, even when
compaction is killed midway (SIGKILL in a subprocess) and re-run."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.lake import LocalLake, get_schema
from rebalancer.lake._base import superseded_objects
from rebalancer.market import SyntheticProvider, compact_day, default_compaction_day
from rebalancer.market._ingest import slot_object_name

DAY = "2024-03-05"
SYMBOLS = ["BTC-USD", "ETH-USD"]
STAMP = pd.Timestamp("2024-03-06 00:00:01")

KILLER = """
import os, signal, sys
from rebalancer.lake import LocalLake, get_schema
from rebalancer.market import compact_day

root, day, stage, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = {"n": 0}

def hook(name):
    if name == stage:
        seen["n"] += 1
        if seen["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

compact_day(LocalLake(root), day, hook=hook)
"""


def fill_day(lake: LocalLake, slots: int = 288) -> pd.DataFrame:
    """``slots`` slot objects for DAY (two crypto symbols), written like live ingestion does."""
    provider = SyntheticProvider(
        pd.DataFrame({"symbol": SYMBOLS, "asset_class": "crypto", "calendar": "24/7"}), seed=5
    )
    bars = provider.bars_for_days(SYMBOLS, [pd.Timestamp(DAY).date()], "5m")
    bars = bars.assign(ingested_at=STAMP).sort_values(["ts", "symbol"], ignore_index=True)
    bars = bars.iloc[: slots * len(SYMBOLS)]
    table = get_schema("market_prices").validate(bars)  # validate once, write 288 slices
    per_slot = len(SYMBOLS)
    for i in range(0, len(bars), per_slot):
        name = slot_object_name(pd.Timestamp(bars["ts"].iloc[i]))
        lake.write_arrow("market_prices", table.slice(i, per_slot), name=name, dt=DAY)
    return bars


def visible(lake: LocalLake) -> pd.DataFrame:
    frame = lake.read("market_prices").drop(columns=["dt"])
    return frame.sort_values(["symbol", "ts"]).reset_index(drop=True)


def assert_exactly_once(lake: LocalLake, expected: pd.DataFrame) -> None:
    seen = visible(lake)
    want = expected.sort_values(["symbol", "ts"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(seen[want.columns], want, check_dtype=False)
    sql = lake.query(
        "SELECT count(*) AS n, count(DISTINCT symbol || CAST(ts AS VARCHAR)) AS d "
        "FROM market_prices"
    )
    assert sql["n"].item() == sql["d"].item() == len(expected)


def test_compaction_merges_288_slots_into_one_sorted_file(lake: LocalLake) -> None:
    bars = fill_day(lake)
    assert len(lake.list_objects("market_prices", dt=DAY)) == 288
    result = compact_day(lake, DAY)
    assert (result.slot_objects, result.rows, result.deleted) == (288, 576, 288)
    keys = lake.list_objects("market_prices", include_superseded=True)
    assert [Path(k).name for k in keys] == ["compacted.parquet"]
    raw = pd.read_parquet(keys[0])
    assert list(raw["symbol"]) == sorted(raw["symbol"])
    assert raw.groupby("symbol")["ts"].apply(lambda s: s.is_monotonic_increasing).all()
    assert_exactly_once(lake, bars)
    again = compact_day(lake, DAY)
    assert again.slot_objects == 0  # nothing left to do


@pytest.mark.parametrize(("stage", "nth"), [("written", 1), ("deleted", 3)])
def test_killed_midway_readers_see_each_row_once_and_rerun_finishes(
    lake: LocalLake, stage: str, nth: int
) -> None:
    bars = fill_day(lake)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, lake.root, DAY, stage, str(nth)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    every = lake.list_objects("market_prices", include_superseded=True)
    names = {Path(k).name for k in every}
    assert "compacted.parquet" in names
    assert len(superseded_objects(every)) == (288 if stage == "written" else 288 - 50 * nth)
    assert_exactly_once(lake, bars)  # the killed state
    result = compact_day(lake, DAY)
    assert result.rows == len(bars) and result.duplicates_dropped >= 0
    assert [Path(k).name for k in lake.list_objects("market_prices", include_superseded=True)] == [
        "compacted.parquet"
    ]
    assert_exactly_once(lake, bars)


def test_leftover_temp_file_of_a_killed_write_is_never_read(lake: LocalLake) -> None:
    bars = fill_day(lake, slots=12)
    part = Path(lake.root) / "market_prices" / f"dt={DAY}"
    (part / ".compacted.parquet.deadbeef.tmp").write_bytes(b"PAR1 half written")
    assert_exactly_once(lake, bars)
    compact_day(lake, DAY)
    assert_exactly_once(lake, bars)


def test_a_late_slot_after_compaction_is_merged_by_the_next_run(lake: LocalLake) -> None:
    bars = fill_day(lake)
    compact_day(lake, DAY)
    late = bars[bars["ts"] == pd.Timestamp(f"{DAY} 12:00")].assign(
        close=lambda f: f["close"] * 1.001,
        high=lambda f: f[["high", "close"]].max(axis=1),
        ingested_at=STAMP + pd.Timedelta(hours=1),
    )
    lake.write("market_prices", late, name="slot-1200")
    assert len(visible(lake)) == len(bars)  # hidden by the rule, never double counted
    result = compact_day(lake, DAY)
    assert result.duplicates_dropped == len(late)
    merged = visible(lake)
    noon = merged[merged["ts"] == pd.Timestamp(f"{DAY} 12:00")]
    assert sorted(noon["close"]) == sorted(late["close"])  # the latest write wins
    assert len(merged) == len(bars)


def test_other_objects_in_the_partition_are_left_alone(lake: LocalLake) -> None:
    bars = fill_day(lake, slots=12)
    daily = bars.iloc[:1].assign(interval="1d", ts=pd.Timestamp(DAY), source="history")
    lake.write("market_prices", daily, name="backfill-history-1d")
    compact_day(lake, DAY)
    names = sorted(Path(k).name for k in lake.list_objects("market_prices"))
    assert names == ["backfill-history-1d.parquet", "compacted.parquet"]
    assert len(visible(lake)) == len(bars) + 1


def test_default_day_is_yesterday_utc() -> None:
    assert default_compaction_day("2024-03-06T01:00:00Z") == "2024-03-05"
    assert default_compaction_day("2024-03-06T00:30:00+05:00") == "2024-03-04"


def test_bad_day_is_a_config_error(lake: LocalLake) -> None:
    from rebalancer.errors import ConfigError

    with pytest.raises(ConfigError, match="--date"):
        compact_day(lake, "2024-02-30")


def test_aws_reader_rule_hides_superseded_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    from rebalancer.lake import AwsLake

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="lake")
        s3 = AwsLake(
            "s3://lake/root",
            database="db",
            workgroup="wg",
            boto3_session=boto3.Session(region_name="us-east-1"),
        )
        frame = pd.DataFrame(
            {
                "symbol": ["A", "B"],
                "ts": pd.to_datetime([f"{DAY} 10:00", f"{DAY} 10:05"]),
                "interval": "5m",
                "open": 1.0,
                "high": 1.0,
                "low": 1.0,
                "close": 1.0,
                "volume": 1,
                "source": "t",
                "ingested_at": STAMP,
            }
        )
        s3.write("market_prices", frame.iloc[:1], name="slot-1000")
        s3.write("market_prices", frame.iloc[1:], name="slot-1005")

        class Killed(Exception):
            pass

        def die(stage: str) -> None:
            if stage == "written":
                raise Killed

        with pytest.raises(Killed):
            compact_day(s3, DAY, hook=die)
        assert len(s3.list_objects("market_prices", include_superseded=True)) == 3
        assert len(s3.read("market_prices")) == 2  # compacted only, each row once
        compact_day(s3, DAY)
        assert len(s3.list_objects("market_prices", include_superseded=True)) == 1
        assert sorted(s3.read("market_prices")["symbol"]) == ["A", "B"]
