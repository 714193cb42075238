"""The per-household read path on S3 (moto): a single account's household comes from its shard
objects by GET, no Athena query, and equals the same household read from a local lake; a
sharded batch runs on S3 too."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from rebalancer.book import BookChunk, BookTables, _shards, generate_book, write_book
from rebalancer.book._shards import (
    ACCOUNT_INDEX,
    ENGINE_SHARD_TABLES,
    read_household,
    shard_key,
    shard_of,
)
from rebalancer.errors import NotFoundError
from rebalancer.lake import AwsLake, LocalLake
from rebalancer.lake._manifest import MANIFEST_KEY, read_manifest
from tests.book.conftest import make_panel

SHARDS = 4


@pytest.fixture(scope="module")
def chunks() -> list[BookChunk]:
    return list(generate_book(800, seed=4, prices=make_panel(), chunk_size=400))


class _Calls:
    """Every S3 and Athena API call a session's clients make: (operation, key)."""

    def __init__(self, session: boto3.Session) -> None:
        self.seen: list[tuple[str, str]] = []
        session.events.register("before-parameter-build.s3.*", self._s3)
        session.events.register("before-parameter-build.athena.*", self._athena)

    def _s3(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.seen.append((model.name, str(params.get("Key", params.get("Prefix", "")))))

    def _athena(self, model: Any, **_: Any) -> None:
        self.seen.append((f"athena:{model.name}", ""))


@pytest.fixture
def s3(chunks: list[BookChunk]) -> Iterator[tuple[AwsLake, _Calls]]:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket="book-lake")
        calls = _Calls(session)  # before any client is made: they all carry the hooks
        lake = AwsLake("s3://book-lake/lake", database="db", workgroup="wg", boto3_session=session)
        write_book(lake, iter(chunks), shards=SHARDS)
        yield lake, calls


def _canon(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    text = frame.astype(object).where(frame.notna(), None).astype(str)
    return sorted(map(tuple, text[sorted(frame.columns)].to_numpy()))


def test_a_household_is_read_by_get_from_its_shard_objects_only(
    s3: tuple[AwsLake, _Calls], chunks: list[BookChunk], tmp_path: Path
) -> None:
    lake, calls = s3
    local = LocalLake(tmp_path / "lake")
    write_book(local, iter(chunks), shards=SHARDS)
    manifest = read_manifest(lake.blobs)
    assert manifest is not None
    for account in ("A00000001", "A00000333", "A00000800"):
        _shards._shared.clear()  # a cold process: model portfolios read too
        calls.seen.clear()
        book = read_household(lake, account)
        want = read_household(local, account)
        for table in BookTables.TABLES:
            assert _canon(getattr(book, table)) == _canon(getattr(want, table)), table
        assert not [op for op, _ in calls.seen if op.startswith("athena:")]  # no SQL at all
        household = str(want.accounts["household_id"].iloc[0])
        shard = shard_of(household, SHARDS)
        gets = [key.removeprefix("lake/") for op, key in calls.seen if op == "GetObject"]
        book_gets = sorted(k for k in gets if k.startswith("_book/versions/"))
        assert book_gets == sorted(
            [shard_key(manifest.version, ACCOUNT_INDEX, shard_of(account, SHARDS))]
            + [shard_key(manifest.version, t, shard) for t in ENGINE_SHARD_TABLES]
            + manifest.tables["model_portfolios"]
        )
        assert gets.count(MANIFEST_KEY) == 1  # one manifest pinned for the whole read
        # One object per table plus the index, the manifest and model portfolios: 8 GETs.
        assert len(gets) == 8, gets
        calls.seen.clear()  # warm: the book version's model portfolios are cached
        read_household(lake, account)
        warm = [key.removeprefix("lake/") for op, key in calls.seen if op == "GetObject"]
        assert sorted(warm) == sorted(
            k for k in gets if k not in manifest.tables["model_portfolios"]
        )
    with pytest.raises(NotFoundError):
        read_household(lake, "A99999999")


def _daily_bars(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel's last five days as daily bars (every symbol priced)."""
    last = panel.iloc[-5:].stack().dropna().rename("close").reset_index()
    last.columns = ["ts", "symbol", "close"]
    return last.assign(
        interval="1d", open=last["close"], high=last["close"], low=last["close"], volume=0,
        source="synthetic", ingested_at=pd.Timestamp("2023-01-02"),
    )  # fmt: skip


def test_a_single_account_run_on_s3_runs_no_query(
    s3: tuple[AwsLake, _Calls],
    chunks: list[BookChunk],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole single-account path (household, default as-of, prices) is object GETs: the
    latest-prices object once per warm process, then 8 GETs a call; the same run as the
    queries' path on a local lake."""
    from rebalancer.market import _latest
    from rebalancer.usecases import run_recommendations

    lake, calls = s3
    bars = _daily_bars(make_panel())
    lake.write("market_prices", bars, name="daily")
    monkeypatch.setattr(_latest, "_cache", {})  # a cold process
    monkeypatch.setattr(_shards, "_shared", {})
    account = "A00000333"
    counts = []
    for _ in range(3):
        calls.seen.clear()
        run = run_recommendations(lake, account_id=account, write=False)
        assert not [op for op, _ in calls.seen if op.startswith("athena:")]  # no SQL at all
        gets = [key.removeprefix("lake/") for op, key in calls.seen if op == "GetObject"]
        counts.append((len(gets), gets.count(_latest.LATEST_KEY)))
    # Cold: the household read above (8) and the prices; warm: 7 (model portfolios cached).
    assert counts == [(9, 1), (7, 0), (7, 0)], counts

    # The local lake, its latest-prices object removed: book_as_of + load_prices by SQL.
    local = LocalLake(tmp_path / "lake")
    write_book(local, iter(chunks), shards=SHARDS)
    local.write("market_prices", bars, name="daily")
    (Path(local.root) / _latest.LATEST_KEY).unlink()
    monkeypatch.setattr(_latest, "_cache", {})
    assert _latest.read_latest_prices(local) is None
    want = run_recommendations(local, account_id=account, write=False)
    assert run.run_id == want.run_id and run.as_of == want.as_of
    assert _canon(run.rows) == _canon(want.rows)


def test_a_sharded_batch_on_s3_streams_its_run_object_in_parts(
    s3: tuple[AwsLake, _Calls],
    chunks: list[BookChunk],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch's steps on S3 (each shard staged, then the final step): the run's one object
    goes up as a multipart upload, a part at a time (parts shrunk here so 800 accounts make
    several), completed once, the staging deleted; the same rows and run id as the local run.
    (The prices come from the local lake: under moto the default as-of and prices, Athena
    queries, do not run.)"""
    import moto.s3.models

    from rebalancer.engine import Policy
    from rebalancer.lake import _manifest
    from rebalancer.usecases import load_prices, run_recommendations
    from rebalancer.usecases._batch import RunContext, finish_run, stage_shard

    lake, calls = s3
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 256)
    monkeypatch.setattr(_manifest, "S3_PART_BYTES", 8 * 1024)
    bars = _daily_bars(make_panel())
    local = LocalLake(tmp_path / "lake")
    write_book(local, iter(chunks), shards=SHARDS)
    local.write("market_prices", bars, name="daily")
    want = run_recommendations(local)

    manifest = read_manifest(lake.blobs)
    assert manifest is not None
    ctx = RunContext(manifest, load_prices(local, want.as_of), want.as_of, Policy(), None)
    for shard in range(SHARDS):
        stage_shard(lake, ctx, shard)
    calls.seen.clear()
    run = finish_run(lake, ctx, collect=False)
    parts = [k for op, k in calls.seen if op == "UploadPart"]
    assert [op for op, _ in calls.seen].count("CompleteMultipartUpload") == 1
    assert len(parts) > 2 and {k.rsplit("/", 1)[-1] for k in parts} == {f"run-{run.run_id}.parquet"}
    assert "PutObject" not in [op for op, _ in calls.seen]
    assert not lake.blobs.list_keys("_runs/")
    assert run.run_id == want.run_id
    stored = pd.read_parquet(io.BytesIO(lake.blobs.get(parts[0].removeprefix("lake/")) or b""))
    assert _canon(stored) == _canon(local.read("recommendations").drop(columns=["dt"]))
