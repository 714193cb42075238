"""``recommend --all --workers N`` on a sharded local book: the shards are staged in N worker
processes and the stored run is the one a single process writes; bad values are one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rebalancer.book import generate_book, write_book
from rebalancer.lake import LocalLake
from rebalancer.market import seed_securities
from rebalancer.usecases import _batch
from tests.book.conftest import make_panel
from tests.cli.conftest import invoke, run

SHARDS = 3


def _sharded_lake(root: Path) -> LocalLake:
    """300 accounts in three shards, priced by the panel's last five days."""
    panel = make_panel()
    lake = LocalLake(root)
    seed_securities(lake)
    write_book(lake, generate_book(300, seed=8, prices=panel, chunk_size=300), shards=SHARDS)
    last = panel.iloc[-5:].stack().dropna().rename("close").reset_index()
    last.columns = ["ts", "symbol", "close"]
    lake.write(
        "market_prices",
        last.assign(
            interval="1d",
            open=last["close"],
            high=last["close"],
            low=last["close"],
            volume=0,
            source="synthetic",
            ingested_at=pd.Timestamp("2023-01-02"),
        ),
        name="daily",
    )
    return lake


def _stored(lake: LocalLake) -> pd.DataFrame:
    rows = lake.read("recommendations")
    return rows.sort_values(["account_id", "symbol", "side"], ignore_index=True)


def test_workers_stage_the_shards_and_store_the_single_process_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    real = _batch._stage_in_workers

    def spy(lake: Any, root: str, ctx: Any, workers: int, *rest: Any) -> int:
        started.append(workers)
        return real(lake, root, ctx, workers, *rest)

    monkeypatch.setattr(_batch, "_stage_in_workers", spy)
    one, two = _sharded_lake(tmp_path / "one"), _sharded_lake(tmp_path / "two")
    code, out_one, err = invoke(one.root, "recommend", "--all", "--workers", "1")
    assert code == 0, err
    assert started == []  # one process: no workers
    code, out_two, err = invoke(two.root, "recommend", "--all", "--workers", "2")
    assert code == 0, err
    assert started == [2]
    assert "300 account(s)" in out_two
    assert out_one.split(" as of")[0] == out_two.split(" as of")[0]  # the same run id
    a, b = _stored(one), _stored(two)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)
    assert not two.blobs.list_keys(f"{_batch.RUNS_PREFIX}/")  # the staging is gone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all", "--workers", "0"], "--workers must be between 1 and 64, got 0"),
        (["--all", "--workers", "65"], "--workers must be between 1 and 64, got 65"),
        (["--all", "--workers", "-3"], "--workers must be between 1 and 64, got -3"),
        (["--all", "--workers", "two"], "Invalid value for '--workers'"),
        (["--account", "A00000001", "--workers", "2"], "--workers applies to --all only"),
    ],
)
def test_a_bad_workers_value_is_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    lake = LocalLake(tmp_path / "lake")
    result = run(["recommend", *args], lake.root)  # as a user runs it
    assert result.returncode == 2
    err = result.stderr
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not lake.list_objects("recommendations")
