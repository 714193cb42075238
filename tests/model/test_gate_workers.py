"""``model=gate`` with shard worker processes: each worker loads the model itself (XGBoost's
import started early, its thread pools sized to its share of the cores) and the run is the
one a single process writes: same run id, same gated trades and model columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rebalancer.engine import Policy
from rebalancer.lake import LocalLake
from rebalancer.usecases import run_recommendations
from tests.model.conftest import sharded_model_lake
from tests.model.test_advise import AS_OF


def test_gate_in_two_workers_is_the_single_process_run(
    tmp_path: Path,
    panel: pd.DataFrame,
    sim_lake: LocalLake,
    registered: dict,
) -> None:
    lake = sharded_model_lake(tmp_path / "lake", panel, sim_lake, accounts=60, seed=12)
    policy = Policy(model="gate", min_confidence=0.5)
    one = run_recommendations(lake, as_of=AS_OF, policy=policy, write=False, workers=1)
    two = run_recommendations(lake, as_of=AS_OF, policy=policy, write=False, workers=2)
    assert one.run_id == two.run_id and one.model_version == two.model_version is not None
    assert one.model_counts == two.model_counts and two.model_counts["pinned"] > 0
    order = ["account_id", "symbol", "side"]
    pd.testing.assert_frame_equal(
        one.rows.sort_values(order).reset_index(drop=True),
        two.rows.sort_values(order).reset_index(drop=True),
        check_dtype=False,
    )
    assert two.rows["model_action"].notna().all()


def test_shards_use_the_planners_staged_bars_and_features_query(
    tmp_path: Path,
    panel: pd.DataFrame,
    sim_lake: LocalLake,
    registered: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A planned model run stages its daily bars and its features query as DuckDB runs it
    (what each worker would otherwise query and parse again); shards staged from them, with
    the bars query and the transpiler unavailable, give the single-process run exactly."""
    from rebalancer.book._shards import sharded_manifest
    from rebalancer.model import _features
    from rebalancer.usecases import _batch
    from rebalancer.usecases._recommend import _sharded_context

    lake = sharded_model_lake(tmp_path / "lake", panel, sim_lake, accounts=60, seed=12)
    policy = Policy(model="gate", min_confidence=0.5)
    one = run_recommendations(lake, as_of=AS_OF, policy=policy, write=False, workers=1)
    manifest = sharded_manifest(lake)
    assert manifest is not None
    ctx = _sharded_context(lake, manifest, AS_OF, policy, one.model_version)
    key = _batch.save_context(lake, ctx)
    staged = lake.blobs.list_keys(f"{_batch.RUNS_PREFIX}/{key}/model-inputs/")
    assert sorted(k.rsplit("/", 1)[-1] for k in staged) == ["bars.parquet", "features.duckdb.sql"]
    # a fresh worker: nothing cached, and neither the bars query nor the transpiler at hand
    _batch._RUN_BARS.clear()
    _features._transpiled.cache_clear()
    _features._GIVEN.clear()

    def unavailable(*_: object, **__: object) -> None:
        raise AssertionError("a shard queried or parsed what the planner staged")

    monkeypatch.setattr(_batch, "feature_bars", unavailable)
    monkeypatch.setattr(_features, "athena_to_duckdb", unavailable)
    done = _batch.run_shards(lake, ctx, write=False, workers=1)
    assert done.run_id == one.run_id and done.model_counts == one.model_counts
    assert done.trades is not None
    order = ["account_id", "symbol", "side"]
    pd.testing.assert_frame_equal(
        done.trades.sort_values(order).reset_index(drop=True)[one.rows.columns],
        one.rows.sort_values(order).reset_index(drop=True),
        check_dtype=False,
    )
