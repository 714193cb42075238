"""A model is loaded once per archive per process, even when the API's threads ask for it at
the same moment: one unpack and ``model_fn``, the same booster for every caller."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from rebalancer.lake import LocalLake
from rebalancer.model import _registry, load_model
from rebalancer.model import serving as serving_module


def test_threads_missing_at_once_load_the_model_once(
    sim_lake: LocalLake, registered: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_registry, "_LOADED", {})  # a cold process
    calls: list[int] = []
    real = serving_module.model_fn
    gate = threading.Barrier(8)

    def slow_model_fn(model_dir: str) -> Any:
        calls.append(threading.get_ident())
        time.sleep(0.2)  # long enough for every other thread to miss the cache too
        return real(model_dir)

    monkeypatch.setattr(serving_module, "model_fn", slow_model_fn)

    def load(_: int) -> Any:
        gate.wait()
        return load_model(sim_lake, registered["version"]).booster

    with ThreadPoolExecutor(8) as pool:
        boosters = list(pool.map(load, range(8)))
    assert len(calls) == 1
    assert all(b is boosters[0] for b in boosters)
    assert list(_registry._LOADED.values()) == [boosters[0]]
