"""The streaming batch over household shards: the whole-book batch's trades and run id, shard by
shard; a run is visible only when complete; a SIGKILLed run leaves nothing visible and a re-run
completes it, each trade once."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebalancer.book import DEFAULT_MODELS, BookChunk, generate_book, write_book
from rebalancer.engine import Policy
from rebalancer.errors import ConfigError, NotFoundError
from rebalancer.lake import LocalLake
from rebalancer.usecases import RunResult, get_run, list_runs, run_recommendations
from rebalancer.usecases._batch import RUNS_PREFIX, RunContext, finish_run, stage_shard

REPO = Path(__file__).resolve().parents[2]
ACCOUNTS = 1_000
SHARDS = 6
KEY = ["account_id", "symbol", "side"]


@pytest.fixture(scope="module")
def priced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[BookChunk]]:
    """A lake with securities and daily prices, and a book's chunks (not yet written)."""
    from rebalancer.market import backfill, load_price_panel, load_securities, seed_securities

    root = tmp_path_factory.mktemp("priced") / "lake"
    lake = LocalLake(root)
    seed_securities(lake)
    backfill(lake, source="history", start="2021-06-01", end="2022-12-28")
    backfill(lake, source="synthetic", start="2021-06-01", end="2022-12-28", interval="1d",
             exclude_history=True, securities=load_securities(lake))  # fmt: skip
    panel = load_price_panel(lake, DEFAULT_MODELS.symbols)
    chunks = list(generate_book(ACCOUNTS, seed=11, prices=panel, chunk_size=500))
    lake.close()
    return root, chunks


def _lake(priced: tuple[Path, list[BookChunk]], where: Path, shards: int) -> LocalLake:
    root, chunks = priced
    shutil.copytree(root, where)
    lake = LocalLake(where)
    write_book(lake, iter(chunks), shards=shards)
    return lake


@pytest.fixture(scope="module")
def reference(
    priced: tuple[Path, list[BookChunk]], tmp_path_factory: pytest.TempPathFactory
) -> RunResult:
    """The whole-book batch on the unsharded book (nothing written)."""
    lake = _lake(priced, tmp_path_factory.mktemp("ref") / "lake", 0)
    return run_recommendations(lake, write=False)


def _canon(rows: pd.DataFrame) -> pd.DataFrame:
    frame = rows.sort_values(KEY, ignore_index=True)
    return frame.astype(object).where(frame.notna(), None)


def _assert_same_run(got: RunResult, want: RunResult) -> None:
    assert got.run_id == want.run_id
    pd.testing.assert_frame_equal(_canon(got.rows), _canon(want.rows), check_dtype=False)
    a, b = got.summary(), want.summary()
    for name in ("accounts", "accounts_traded", "trades", "rejected"):
        assert a[name] == b[name], name
    assert a["turnover_usd"] == pytest.approx(b["turnover_usd"], rel=1e-12)


def test_sharded_batch_is_the_whole_book_batch(
    priced: tuple[Path, list[BookChunk]], reference: RunResult, tmp_path: Path
) -> None:
    lake = _lake(priced, tmp_path / "lake", SHARDS)
    seen: list[tuple[int, int]] = []
    run = run_recommendations(lake, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(s, SHARDS) for s in range(1, SHARDS + 1)]  # it went shard by shard
    _assert_same_run(run, reference)
    # One object, read back by every reader, staging gone.
    keys = lake.list_objects("recommendations")
    assert keys == run.keys and keys[0].endswith(f"/run-{run.run_id}.parquet")
    assert len(lake.read("recommendations")) == len(reference.rows)
    counted = lake.query(
        "SELECT count(*) AS n, count(DISTINCT run_id) AS r FROM recommendations"
    ).iloc[0]
    assert (int(counted["n"]), int(counted["r"])) == (len(reference.rows), 1)
    assert not lake.blobs.list_keys(f"{RUNS_PREFIX}/")
    # The whole-book path on the same sharded book agrees; a re-run replaces, never adds.
    _assert_same_run(run_recommendations(lake, stream=False, write=False), reference)
    again = run_recommendations(lake, collect=False)
    assert again.run_id == run.run_id and lake.list_objects("recommendations") == keys
    assert again.rows.empty and again.totals is not None
    totals, collected = again.summary(), run.summary()
    for name in ("run_id", "as_of", "accounts", "accounts_traded", "trades", "rejected"):
        assert totals[name] == collected[name], name
    assert totals["turnover_pct"] == pytest.approx(collected["turnover_pct"], rel=1e-12)


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(shards=st.integers(1, 40))
def test_any_shard_count_gives_the_same_trades(
    priced: tuple[Path, list[BookChunk]],
    reference: RunResult,
    tmp_path_factory: pytest.TempPathFactory,
    shards: int,
) -> None:
    lake = _lake(priced, tmp_path_factory.mktemp("any") / "lake", shards)
    _assert_same_run(run_recommendations(lake, write=False), reference)
    assert not lake.list_objects("recommendations")  # a dry run writes nothing visible
    assert not lake.blobs.list_keys(f"{RUNS_PREFIX}/")


def test_a_single_account_reads_its_shard_and_matches_the_unsharded_path(
    priced: tuple[Path, list[BookChunk]], tmp_path: Path
) -> None:
    sharded = _lake(priced, tmp_path / "sharded", SHARDS)
    flat = _lake(priced, tmp_path / "flat", 0)
    policy = Policy(rebalance_to="target")
    for account in ("A00000001", "A00000777", "A00001000"):
        got = run_recommendations(sharded, account_id=account, policy=policy, write=False)
        want = run_recommendations(flat, account_id=account, policy=policy, write=False)
        assert got.run_id == want.run_id
        pd.testing.assert_frame_equal(_canon(got.rows), _canon(want.rows), check_dtype=False)


def test_an_interrupted_run_is_invisible_and_a_rerun_completes_it(
    priced: tuple[Path, list[BookChunk]], reference: RunResult, tmp_path: Path
) -> None:
    lake = _lake(priced, tmp_path / "lake", SHARDS)
    first = run_recommendations(lake, write=False)  # the run's inputs, for its context
    from rebalancer.lake._manifest import read_manifest

    manifest = read_manifest(lake.blobs)
    assert manifest is not None
    ctx = RunContext(manifest, _prices(lake, first), first.as_of, Policy(), None)
    stage_shard(lake, ctx, 0)
    stage_shard(lake, ctx, 3)
    with pytest.raises(Exception, match="not done"):
        finish_run(lake, ctx)  # a final step before every shard is done refuses
    assert not lake.list_objects("recommendations")
    assert len(lake.blobs.list_keys(f"{RUNS_PREFIX}/{ctx.key}/")) == 8
    run = run_recommendations(lake)
    _assert_same_run(run, reference)
    assert not lake.blobs.list_keys(f"{RUNS_PREFIX}/")


def test_a_final_step_failing_mid_stream_leaves_no_run_and_a_rerun_completes_it(
    priced: tuple[Path, list[BookChunk]],
    reference: RunResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run's object is streamed a shard at a time; if the final step dies after some
    shards were written, no object (not even a hidden temp file) is left, the staging stays,
    and the next run finishes with each trade once."""
    import pyarrow.parquet as pq

    lake = _lake(priced, tmp_path / "lake", SHARDS)
    first = run_recommendations(lake, write=False)
    from rebalancer.lake._manifest import read_manifest

    manifest = read_manifest(lake.blobs)
    assert manifest is not None
    ctx = RunContext(manifest, _prices(lake, first), first.as_of, Policy(), None)
    for shard in range(SHARDS):
        stage_shard(lake, ctx, shard)
    written: list[int] = []
    real = pq.ParquetWriter.write_table

    def dies_on_the_third(self: pq.ParquetWriter, table: object, *a: object, **k: object) -> None:
        if len(written) == 2:
            raise OSError("disk full")
        written.append(1)
        real(self, table, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetWriter, "write_table", dies_on_the_third)
    with pytest.raises(OSError, match="disk full"):
        finish_run(lake, ctx)
    monkeypatch.undo()
    assert written == [1, 1]
    assert not lake.list_objects("recommendations")
    assert not [p for p in (Path(lake.root) / "recommendations").rglob("*") if p.is_file()]
    assert len(lake.blobs.list_keys(f"{RUNS_PREFIX}/{ctx.key}/")) == 4 * SHARDS
    run = run_recommendations(lake)
    _assert_same_run(run, reference)
    stored = lake.read("recommendations")
    assert len(stored) == len(reference.rows)
    assert not stored.duplicated(KEY).any()


def _prices(lake: LocalLake, run: RunResult) -> pd.Series:
    from rebalancer.usecases import load_prices

    return load_prices(lake, run.as_of)


CHILD = """
import sys, time
from pathlib import Path
from rebalancer.lake import LocalLake
from rebalancer.usecases import run_recommendations

root, marks = Path(sys.argv[1]), Path(sys.argv[2])

def progress(done, total):
    (marks / f"done-{done}").touch()
    if done == 3:
        time.sleep(120)  # killed here: three shards staged, no run visible

run_recommendations(LocalLake(root), progress=progress)
"""


def test_sigkill_mid_run_then_rerun_leaves_each_trade_once(
    priced: tuple[Path, list[BookChunk]], reference: RunResult, tmp_path: Path
) -> None:
    lake = _lake(priced, tmp_path / "lake", SHARDS)
    marks = tmp_path / "marks"
    marks.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, lake.root, str(marks)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (marks / "done-3").exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the child staged nothing in 120 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not lake.list_objects("recommendations")  # no visible partial run
    assert lake.query("SELECT count(*) AS n FROM recommendations")["n"].iloc[0] == 0
    assert lake.blobs.list_keys(f"{RUNS_PREFIX}/")  # its staging is there, unread
    # The runs listing (GET /v1/runs calls list_runs) and the by-id read see no run.
    assert list_runs(lake).empty
    with pytest.raises(NotFoundError):
        get_run(lake, reference.run_id)
    run = run_recommendations(lake)
    _assert_same_run(run, reference)
    back = lake.read("recommendations")
    assert len(back) == len(reference.rows)
    assert not back.duplicated(subset=[*KEY, "run_id"]).any()
    assert not lake.blobs.list_keys(f"{RUNS_PREFIX}/")
    runs = list_runs(lake)
    assert list(runs["run_id"]) == [reference.run_id]
    assert int(runs["trades"].iloc[0]) == len(reference.rows)
    assert int(get_run(lake, reference.run_id)["trades"]) == len(reference.rows)


def test_worker_processes_write_the_same_run(
    priced: tuple[Path, list[BookChunk]], reference: RunResult, tmp_path: Path
) -> None:
    """Shards staged by two worker interpreters: the same run id and the very same object
    bytes as the loop in this process; progress still counts every shard once."""
    lake = _lake(priced, tmp_path / "lake", SHARDS)
    looped = run_recommendations(lake, workers=1)
    want = Path(looped.keys[0]).read_bytes()
    Path(looped.keys[0]).unlink()
    seen: list[tuple[int, int]] = []
    pooled = run_recommendations(lake, workers=2, progress=lambda d, t: seen.append((d, t)))
    assert pooled.run_id == looped.run_id == reference.run_id
    assert pooled.keys == looped.keys and Path(pooled.keys[0]).read_bytes() == want
    assert seen == [(s, SHARDS) for s in range(1, SHARDS + 1)]
    assert not lake.blobs.list_keys(f"{RUNS_PREFIX}/")  # context and staging gone
    with pytest.raises(ConfigError, match="workers"):
        run_recommendations(lake, workers=0)


def test_new_prices_are_seen_by_the_next_single_account_call(
    priced: tuple[Path, list[BookChunk]], tmp_path: Path
) -> None:
    """The single-account path answers prices from the latest-prices object once per object:
    bars written after a call (a new close) change the next call's as-of, prices and run."""
    from rebalancer.market import _latest
    from rebalancer.usecases import _recommend

    lake = _lake(priced, tmp_path / "lake", SHARDS)
    account = "A00000042"
    before = run_recommendations(lake, account_id=account, write=False)
    assert run_recommendations(lake, account_id=account, write=False).run_id == before.run_id
    bars = lake.read("market_prices")
    newest = bars[bars["ts"] == bars["ts"].max()]
    later = newest.assign(
        ts=newest["ts"] + pd.Timedelta(days=1),
        close=newest["close"] * 1.25,
        ingested_at=newest["ingested_at"] + pd.Timedelta(days=1),
    ).drop(columns=["dt"], errors="ignore")
    lake.write("market_prices", later, name="later")  # refreshes the latest-prices object
    after = run_recommendations(lake, account_id=account, write=False)
    assert after.as_of > before.as_of and after.run_id != before.run_id
    _recommend._latest_answers.clear()  # a cold process agrees
    _latest._cache.clear()
    cold = run_recommendations(lake, account_id=account, write=False)
    assert (cold.run_id, cold.as_of) == (after.run_id, after.as_of)


def test_a_strict_run_with_workers_fails_on_an_invalid_account(
    priced: tuple[Path, list[BookChunk]], tmp_path: Path
) -> None:
    """Workers stage strictly too: an invalid account fails the run (raised here, as without
    workers) and no run becomes visible."""
    from dataclasses import replace

    from rebalancer.errors import InvalidAccountError

    root, chunks = priced
    first = chunks[0]
    accounts = first.tables["accounts"].copy()
    accounts.loc[3, "cash"] = -5.0  # negative cash: rejected, or fatal when strict
    bad = [replace(first, tables={**first.tables, "accounts": accounts}), *chunks[1:]]
    lake = _lake((root, bad), tmp_path / "lake", SHARDS)
    with pytest.raises(InvalidAccountError, match=str(accounts.loc[3, "account_id"])):
        run_recommendations(lake, strict=True, workers=2)
    assert not lake.list_objects("recommendations")
    lenient = run_recommendations(lake, workers=2, write=False)
    assert str(accounts.loc[3, "account_id"]) in set(lenient.recommendation.rejected["account_id"])


@pytest.mark.parametrize(
    ("cores", "workers", "given", "want"),
    [(2, 2, None, "1"), (2, 1, None, "2"), (8, 3, None, "2"), (1, 2, None, "1"), (8, 2, "2", "2")],
)
def test_workers_get_their_share_of_the_cores(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, given: str | None, want: str
) -> None:
    """Each worker's thread pools (OpenMP/XGBoost, Arrow, DuckDB) are sized to its share of
    the cores, never above a limit the operator set."""
    from rebalancer.lake import _local
    from rebalancer.usecases import _batch

    monkeypatch.setattr(_batch, "_cores", lambda: cores)
    if given is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", given)
    env = _batch.worker_environment(workers)
    assert env["OMP_NUM_THREADS"] == want
    monkeypatch.setattr(_local, "DUCKDB_THREADS", None)
    monkeypatch.setenv("OMP_NUM_THREADS", env["OMP_NUM_THREADS"])
    _batch.use_thread_share()  # what a worker does first
    con = _local.sandboxed_duckdb()
    assert con.execute("SELECT current_setting('threads')").fetchone() == (int(want),)
