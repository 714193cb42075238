"""The shard worker Lambda: plan, one invocation per shard (any order, retried), finish ==
the local streaming run; bad events are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdas.shard_worker.handler import handler
from rebalancer.book import BookChunk
from rebalancer.config import get_settings
from rebalancer.errors import ConfigError, ConflictError
from rebalancer.usecases import RunResult, run_recommendations
from rebalancer.usecases._batch import RUNS_PREFIX
from tests.lambdas.context import LambdaContext
from tests.usecases.test_batch import _assert_same_run, _lake, priced, reference  # noqa: F401

CONTEXT = LambdaContext("shard_worker")


def test_plan_shards_finish_is_the_local_run(
    priced: tuple[Path, list[BookChunk]],  # noqa: F811
    reference: RunResult,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lake = _lake(priced, tmp_path / "lake", 5)
    monkeypatch.setenv("REBALANCER_LAKE", lake.root)
    get_settings.cache_clear()
    plan = handler({"action": "plan"}, CONTEXT)
    assert plan["shards"] == [0, 1, 2, 3, 4]
    key = plan["run_key"]
    for shard in (4, 0, 2, 2, 1, 3):  # any order; a retried shard is a no-op
        out = handler({"action": "shard", "run_key": key, "shard": shard}, CONTEXT)
        assert out["shard"] == shard and out["trades"] >= 0
        assert not lake.list_objects("recommendations")  # nothing visible before finish
    done = handler({"action": "finish", "run_key": key}, CONTEXT)
    local = run_recommendations(lake)  # the same run: same id, same object, nothing added
    assert done["run_id"] == local.run_id == reference.run_id
    assert done["keys"] == local.keys == lake.list_objects("recommendations")
    assert done["trades"] == len(reference.rows) == len(lake.read("recommendations"))
    assert not lake.blobs.list_keys(f"{RUNS_PREFIX}/")
    with pytest.raises(ConflictError, match="no saved context"):
        handler({"action": "finish", "run_key": key}, CONTEXT)


def test_bad_events_are_one_line_errors(
    priced: tuple[Path, list[BookChunk]],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lake = _lake(priced, tmp_path / "lake", 2)
    monkeypatch.setenv("REBALANCER_LAKE", lake.root)
    get_settings.cache_clear()
    for event, message in [
        ({"action": "explode"}, "unknown action"),
        ({"action": "shard", "run_key": 3, "shard": 0}, "'run_key' must be a str"),
        ({"action": "plan", "policy": {"nope": 1}}, "unknown policy option"),
    ]:
        with pytest.raises(ConfigError, match=message) as info:
            handler(event, CONTEXT)
        assert "\n" not in str(info.value)
    plan = handler({"action": "plan"}, CONTEXT)
    with pytest.raises(ConfigError, match="'shard' must be a int"):
        handler({"action": "shard", "run_key": plan["run_key"], "shard": "0"}, CONTEXT)
    with pytest.raises(ConfigError, match="shard must be between"):
        handler({"action": "shard", "run_key": plan["run_key"], "shard": 9}, CONTEXT)
