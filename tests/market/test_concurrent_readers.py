"""Readers survive a compaction that deletes slot objects between their listing and their read.

Issue 10 item 2: ``ingest --every`` listed the day's earlier slots for the price-jump check, a
concurrent ``compact`` deleted them, and the read raised ``FileNotFoundError``. The readers now
re-list and read through the compaction rule (the compacted object holds the rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.lake import Lake, LocalLake
from rebalancer.lake._vanish import object_vanished, read_listed
from rebalancer.market import SyntheticProvider, compact_day, default_universe, ingest_slot
from rebalancer.market._ingest import previous_closes

DAY = "2024-03-05"
UNIVERSE = default_universe()
CRYPTO = UNIVERSE[UNIVERSE["calendar"] == "24/7"].reset_index(drop=True)


class CompactAfterListing:
    """A lake whose ``list_objects`` of a ``market_prices`` partition runs a real compaction of
    that day right after listing: every slot key it returns is gone when the caller reads it."""

    def __init__(self, inner: LocalLake, times: int = 1) -> None:
        self.inner = inner
        self.left = times
        self.compactions = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def list_objects(
        self, table: str, *, dt: str | None = None, include_superseded: bool = False
    ) -> list[str]:
        keys = self.inner.list_objects(table, dt=dt, include_superseded=include_superseded)
        if table == "market_prices" and dt and self.left > 0 and any("/slot-" in k for k in keys):
            self.left -= 1
            result = compact_day(self.inner, dt)
            self.compactions += 1
            assert result.deleted > 0
        return keys


def ingest_slots(lake: Lake, first: str, count: int, seed: int = 3) -> None:
    provider = SyntheticProvider(CRYPTO, seed=seed)
    for i in range(count):
        event = pd.Timestamp(first) + i * pd.Timedelta(minutes=5)
        ingest_slot(lake, provider, event, securities=CRYPTO, now=event)


def test_previous_closes_survive_a_compaction_between_list_and_read(lake: LocalLake) -> None:
    ingest_slots(lake, f"{DAY}T10:05Z", 6)  # slots 10:00 .. 10:25
    slot = pd.Timestamp(f"{DAY}T10:30Z")
    expected = previous_closes(lake, slot)
    assert set(expected) == {"BTC-USD", "ETH-USD"}
    racing = CompactAfterListing(lake)
    assert previous_closes(racing, slot) == expected  # type: ignore[arg-type]
    assert racing.compactions == 1
    assert not [
        k for k in lake.list_objects("market_prices", include_superseded=True) if "slot-" in k
    ]
    # and once compacted, the compacted object answers without any race
    assert previous_closes(lake, slot) == expected


def test_ingest_slot_succeeds_when_the_previous_slots_vanish(lake: LocalLake) -> None:
    ingest_slots(lake, f"{DAY}T10:05Z", 3)
    racing = CompactAfterListing(lake)
    summary = ingest_slot(  # type: ignore[arg-type]
        racing,
        SyntheticProvider(CRYPTO, seed=3),
        pd.Timestamp(f"{DAY}T10:20Z"),
        securities=CRYPTO,
        now=pd.Timestamp(f"{DAY}T10:20Z"),
    )
    assert racing.compactions == 1
    assert summary.rows_written == 2 and summary.rejected == 0
    # the new slot landed after its day was compacted: hidden until the next compaction
    compact_day(lake, DAY)
    rows = lake.query(
        "SELECT count(*) AS n, count(DISTINCT symbol || CAST(ts AS VARCHAR)) AS d FROM market_prices"
    )
    assert rows["n"].item() == rows["d"].item() == 8


def test_compaction_racing_another_compaction_rereads(lake: LocalLake) -> None:
    ingest_slots(lake, f"{DAY}T10:05Z", 6)
    result = compact_day(CompactAfterListing(lake), DAY)  # type: ignore[arg-type]
    assert result.slot_objects == 0  # the other run merged them; nothing left, nothing lost
    assert len(lake.read("market_prices")) == 12


def test_a_vanish_on_every_attempt_is_raised(lake: LocalLake) -> None:
    ingest_slots(lake, f"{DAY}T10:05Z", 1)
    gone = str(Path(lake.root) / "market_prices" / f"dt={DAY}" / "slot-0959.parquet")
    with pytest.raises(FileNotFoundError):
        read_listed(lake, "market_prices", lambda keys: [*keys, gone], dt=DAY, attempts=2)


def test_other_read_errors_are_not_retried(lake: LocalLake) -> None:
    ingest_slots(lake, f"{DAY}T10:05Z", 1)
    calls: list[int] = []

    def pick(keys: list[str]) -> list[str]:
        calls.append(1)
        bad = Path(keys[0]).with_name("slot-2359.parquet")
        bad.write_bytes(b"not parquet")
        return [str(bad)]

    with pytest.raises(Exception, match=r"(?i)parquet"):
        read_listed(lake, "market_prices", pick, dt=DAY)
    assert len(calls) == 1


def test_s3_missing_object_counts_as_vanished(monkeypatch: pytest.MonkeyPatch) -> None:
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
        ingest_slots(s3, f"{DAY}T10:05Z", 3)
        listed = s3.list_objects("market_prices", dt=DAY)
        s3.delete_objects(listed[:1])
        with pytest.raises(Exception) as caught:
            s3.read_objects("market_prices", listed)
        assert object_vanished(caught.value)
        racing = CompactAfterListing(s3)  # type: ignore[arg-type]
        closes = previous_closes(racing, pd.Timestamp(f"{DAY}T10:15Z"))  # type: ignore[arg-type]
        assert set(closes) == {"BTC-USD", "ETH-USD"}


# ----------------------------------------------------------------------- real processes
COMPACTOR = """
import os, sys
from rebalancer.lake import LocalLake
from rebalancer.market import compact_day

root, day, stop = sys.argv[1], sys.argv[2], sys.argv[3]
lake, runs = LocalLake(root), 0
while not os.path.exists(stop):
    compact_day(lake, day)  # what `rebalancer compact --date DAY` runs, without the start-up
    runs += 1
print(runs)
"""


def rebalancer_cli() -> list[str]:
    script = Path(sys.executable).with_name("rebalancer")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rebalancer.cli"]


def test_ingest_every_survives_repeated_compaction(tmp_path: Path) -> None:
    """``ingest --every`` (a real process) while another process compacts the same day in a
    loop, several rounds; without the fix every round died with FileNotFoundError."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCER_")}
    rounds, slots = 3, 60
    for round_no in range(rounds):
        lake = tmp_path / f"lake{round_no}"
        env["REBALANCER_LAKE"] = str(lake)
        stop = tmp_path / f"stop{round_no}"
        start = pd.Timestamp(f"{DAY}T14:00Z")  # slots 13:55 .. 18:50, all on DAY
        LocalLake(lake).write("securities", UNIVERSE)
        compactor = subprocess.Popen(
            [sys.executable, "-c", COMPACTOR, str(lake), DAY, str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            time.sleep(0.2)
            ingest = subprocess.run(
                [
                    *rebalancer_cli(),
                    "ingest",
                    "--every",
                    "5m",
                    "--at",
                    start.isoformat(),
                    "--max-slots",
                    str(slots),
                    "--source",
                    "synthetic",
                    "--json",
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
        finally:
            stop.touch()
            out, err = compactor.communicate(timeout=60)
        assert ingest.returncode == 0, ingest.stderr
        assert compactor.returncode == 0, err
        assert int(out) > 0
        final = subprocess.run(
            [*rebalancer_cli(), "compact", "--date", DAY],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert final.returncode == 0, final.stderr
        summaries = [json.loads(line) for line in ingest.stdout.splitlines()]
        assert len(summaries) == slots
        written = sum(s["rows_written"] for s in summaries)
        counts = LocalLake(lake).query(
            'SELECT symbol, ts, "interval", count(*) AS n FROM market_prices GROUP BY 1, 2, 3'
        )
        assert (counts["n"] == 1).all()  # each (symbol, ts) exactly once
        assert len(counts) == written  # and none lost
