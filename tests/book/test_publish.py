"""A book is published whole or not at all: versions, one manifest switch, lock, cleanup.

In-process tests on a real LocalLake (Parquet, DuckDB) and an AwsLake on moto's S3; the racing
``generate`` processes are in ``test_publish_processes.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from rebalancer.book import BOOK_TABLES, BookChunk, generate_book, part_name, write_book
from rebalancer.book._publish import BookPublication, cleanup
from rebalancer.errors import ConflictError, QueryError
from rebalancer.lake import AwsLake, LocalLake
from rebalancer.lake._manifest import (
    LEGACY_VERSION,
    MANIFEST_KEY,
    SYMLINK_NAME,
    SYMLINK_PREFIX,
    book_snapshot,
    read_consistently,
    read_manifest,
    version_prefix,
)
from tests.book.book_checks import book_problems, read_book


def _chunks(panel: pd.DataFrame, n: int, seed: int, chunk: int = 100) -> list[BookChunk]:
    return list(generate_book(n, seed=seed, prices=panel, chunk_size=chunk))


def test_a_publish_writes_one_version_and_one_manifest(
    lake: LocalLake, panel: pd.DataFrame
) -> None:
    summary = write_book(lake, _chunks(panel, 250, seed=3))
    root = Path(lake.root)
    manifest = read_manifest(lake.blobs)
    assert manifest is not None and manifest.version == summary.version
    assert manifest.accounts == 250 and manifest.chunks == 3 and manifest.previous is None
    assert manifest.rows == {t: summary.rows[t] for t in BOOK_TABLES}
    for table in BOOK_TABLES:
        keys = lake.list_objects(table)
        assert keys == [str(root / k) for k in manifest.tables[table]]
        assert all(k.startswith(str(root / version_prefix(summary.version))) for k in keys)
        # Athena's symlink list names exactly the same objects.
        symlink = root / SYMLINK_PREFIX / table / SYMLINK_NAME
        assert symlink.read_text().splitlines() == keys
        assert not list((root / table).glob("*.parquet")) if (root / table).exists() else True
    assert len(lake.read("holdings")) == summary.rows["holdings"]
    assert lake.query("SELECT count(*) AS n FROM accounts")["n"].iloc[0] == 250
    assert book_problems(lake) == []
    assert summary.version is not None and summary.version[:8].isdigit()


def _write_flat(lake: LocalLake, chunks: list[BookChunk]) -> None:
    """The layout before manifests: ``<table>/part-NNNNN.parquet``."""
    for chunk in chunks:
        for table, frame in chunk.tables.items():
            lake.write(table, frame, name=part_name(chunk.index))


def test_a_legacy_flat_lake_reads_until_the_next_publish_then_is_cleaned(
    lake: LocalLake, panel: pd.DataFrame
) -> None:
    _write_flat(lake, _chunks(panel, 300, seed=4))
    root = Path(lake.root)
    assert read_manifest(lake.blobs) is None
    assert len(lake.read("accounts")) == 300 and book_problems(lake) == []
    assert lake.query("SELECT count(*) AS n FROM holdings h JOIN accounts a USING (account_id)")[
        "n"
    ].iloc[0] == len(lake.read("holdings"))

    first = write_book(lake, _chunks(panel, 120, seed=5))
    assert first.previous == LEGACY_VERSION and first.removed == 0
    assert len(lake.read("accounts")) == 120 and book_problems(lake) == []
    assert lake.query("SELECT count(*) AS n FROM accounts")["n"].iloc[0] == 120
    assert len(list((root / "accounts").glob("*.parquet"))) == 3  # kept as the previous book

    second = write_book(lake, _chunks(panel, 80, seed=6))
    assert second.previous == first.version
    assert second.removed == 3 * 6 + 2  # three flat parts per chunk table, one per static one
    assert not list((root / "accounts").glob("*.parquet"))
    assert len(lake.read("accounts")) == 80 and book_problems(lake) == []


def test_a_run_failing_midway_keeps_the_old_book_and_leaves_nothing(
    lake: LocalLake, panel: pd.DataFrame
) -> None:
    old = write_book(lake, _chunks(panel, 200, seed=7))
    good = _chunks(panel, 500, seed=8)

    def dies_after_three() -> Iterator[BookChunk]:
        yield from good[:3]
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        write_book(lake, dies_after_three())
    assert read_manifest(lake.blobs).version == old.version  # type: ignore[union-attr]
    assert len(lake.read("accounts")) == 200 and book_problems(lake) == []
    versions = {k.split("/")[2] for k in lake.blobs.list_keys("_book/versions/")}
    assert versions == {old.version}  # the failed run's objects are gone


def test_a_dead_runs_leftovers_go_at_the_next_publish(lake: LocalLake, panel: pd.DataFrame) -> None:
    write_book(lake, _chunks(panel, 100, seed=1))
    dead = "20200101T000000Z-deadbeef"  # as a SIGKILLed run leaves it: objects, no manifest
    lake.blobs.put(f"{version_prefix(dead)}accounts/part-00000.parquet", b"partial")
    second = write_book(lake, _chunks(panel, 100, seed=2))
    assert second.removed == 1
    assert not lake.blobs.list_keys(version_prefix(dead))


def test_a_killed_runs_temp_files_and_empty_directories_go_too(
    lake: LocalLake, panel: pd.DataFrame
) -> None:
    """SIGKILL mid-write leaves a hidden temp file (never listed as an object) or a bare
    directory; the next publish still removes the dead version's whole directory."""
    write_book(lake, _chunks(panel, 100, seed=1))
    versions = Path(lake.blobs.root) / "_book" / "versions"
    half_written = versions / "20200101T000000Z-deadbeef" / "holdings" / "shard=0000"
    half_written.mkdir(parents=True)
    (half_written / ".part-00000.parquet.0123abcd.tmp").write_bytes(b"PAR1 half")
    (versions / "20200102T000000Z-0badf00d" / "accounts").mkdir(parents=True)
    second = write_book(lake, _chunks(panel, 100, seed=2))
    assert {p.name for p in versions.iterdir()} == {second.version, second.previous}


def test_a_second_publisher_is_refused_while_one_runs(lake: LocalLake, panel: pd.DataFrame) -> None:
    write_book(lake, _chunks(panel, 100, seed=1))
    with BookPublication(lake) as holder:
        with pytest.raises(ConflictError) as refused:
            write_book(lake, _chunks(panel, 100, seed=2))
        message = str(refused.value)
        assert "another run is publishing a book into this lake" in message
        assert f"version {holder.version}" in message and "\n" not in message
    assert refused.value.exit_code == 8 and refused.value.http_status == 409
    write_book(lake, _chunks(panel, 100, seed=2))  # released: the next run goes ahead


def test_a_pinned_reader_keeps_its_version_across_publishes(
    lake: LocalLake, panel: pd.DataFrame
) -> None:
    write_book(lake, _chunks(panel, 150, seed=1))
    with book_snapshot(lake.blobs) as pinned:
        accounts = lake.read("accounts")
        write_book(lake, _chunks(panel, 90, seed=2))  # a publish lands between two reads
        holdings = lake.read("holdings")
        joined = lake.query("SELECT count(*) AS n FROM accounts")["n"].iloc[0]
    assert pinned is not None and len(accounts) == 150 and joined == 150
    assert holdings["account_id"].isin(accounts["account_id"]).all()
    assert len(lake.read("accounts")) == 90  # unpinned: the new book


def test_read_consistently_retries_a_read_that_straddled_a_publish(
    lake: LocalLake, panel: pd.DataFrame
) -> None:
    write_book(lake, _chunks(panel, 100, seed=1))
    calls: list[int] = []

    def read() -> int:
        calls.append(len(lake.read("accounts")))
        if len(calls) == 1:
            write_book(lake, _chunks(panel, 60, seed=2))
        return calls[-1]

    assert read_consistently(lake.blobs, read) == 60
    assert calls == [100, 60]


def test_a_corrupt_manifest_is_one_line_naming_it(lake: LocalLake, panel: pd.DataFrame) -> None:
    write_book(lake, _chunks(panel, 50, seed=1))
    lake.blobs.put(MANIFEST_KEY, b"{not json")
    with pytest.raises(QueryError, match=r"corrupt book manifest .*manifest\.json") as raised:
        lake.read("accounts")
    assert "\n" not in str(raised.value)


def test_cleanup_keeps_current_and_previous(lake: LocalLake, panel: pd.DataFrame) -> None:
    versions = [write_book(lake, _chunks(panel, 40, seed=s)).version for s in range(4)]
    on_disk = {k.split("/")[2] for k in lake.blobs.list_keys("_book/versions/")}
    assert on_disk == set(versions[-2:])
    manifest = read_manifest(lake.blobs)
    assert manifest is not None and cleanup(lake.blobs, manifest) == 0


# ---------------------------------------------------------------------------- S3
@pytest.fixture
def s3_lake() -> Iterator[AwsLake]:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket="book-lake")
        yield AwsLake("s3://book-lake/lake", database="db", workgroup="wg", boto3_session=session)


def test_s3_publish_reads_through_the_manifest_and_writes_symlinks(
    s3_lake: AwsLake, panel: pd.DataFrame
) -> None:
    first = write_book(s3_lake, _chunks(panel, 200, seed=1))
    second = write_book(s3_lake, _chunks(panel, 120, seed=2))
    assert second.previous == first.version
    assert len(s3_lake.read("accounts")) == 120 and book_problems(s3_lake) == []
    s3 = s3_lake._session.client("s3")
    body = s3.get_object(Bucket="book-lake", Key="lake/_book/athena/holdings/symlink.txt")
    listed = body["Body"].read().decode().splitlines()
    assert listed == s3_lake.list_objects("holdings")
    assert all(
        k.startswith(f"s3://book-lake/lake/_book/versions/{second.version}/") for k in listed
    )
    manifest = json.loads(
        s3.get_object(Bucket="book-lake", Key="lake/_book/manifest.json")["Body"].read()
    )
    assert manifest["version"] == second.version and manifest["switching_to"] is None
    assert not s3.list_objects_v2(Bucket="book-lake", Prefix="lake/_book/publish.lock").get(
        "Contents"
    )


def test_s3_lock_refuses_a_second_run_and_a_stale_lock_is_taken_over(
    s3_lake: AwsLake, panel: pd.DataFrame
) -> None:
    with BookPublication(s3_lake), pytest.raises(ConflictError, match="another run"):
        write_book(s3_lake, _chunks(panel, 50, seed=1))
    # A lock whose holder died long ago (not refreshed for an hour) does not block.
    stale = {"pid": 1, "host": "gone", "version": "x", "token": "t", "refreshed_at": "2020-01-01"}
    s3_lake.blobs.put("_book/publish.lock", json.dumps(stale).encode())
    assert write_book(s3_lake, _chunks(panel, 50, seed=1)).accounts == 50


def test_s3_reader_is_consistent_while_legacy_objects_exist(
    s3_lake: AwsLake, panel: pd.DataFrame
) -> None:
    for chunk in _chunks(panel, 100, seed=1):
        for table, frame in chunk.tables.items():
            s3_lake.write(table, frame, name=part_name(chunk.index))
    assert len(s3_lake.read("accounts")) == 100
    assert write_book(s3_lake, _chunks(panel, 70, seed=2)).previous == LEGACY_VERSION
    version, frames, _ = read_book(s3_lake)
    assert version is not None and len(frames["accounts"]) == 70


def test_book_tables_from_lake_never_mixes_two_books(
    lake: LocalLake, panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rebalancer.book import BookTables

    write_book(lake, _chunks(panel, 150, seed=1))
    real_read = lake.read
    published: list[str | None] = []

    def read_then_publish(table: str, **kwargs: object) -> pd.DataFrame:
        frame = real_read(table, **kwargs)  # type: ignore[arg-type]
        if table == "accounts" and not published:  # a publish lands after the first table
            published.append(write_book(lake, _chunks(panel, 90, seed=2)).version)
        return frame

    monkeypatch.setattr(lake, "read", read_then_publish)
    book = BookTables.from_lake(lake)
    assert published and len(book.accounts) == 90  # re-read whole from the new version
    assert book.holdings["account_id"].isin(book.accounts["account_id"]).all()
    assert len(book.holdings) == len(real_read("holdings"))
    household = BookTables.from_lake(lake, household_of="A00000001")
    assert household.holdings["account_id"].isin(household.accounts["account_id"]).all()
