"""The factory's in-process predictor knows its model from the metadata at once and loads the
booster when it first scores; the factory imports nothing (a process that only plans a run,
its shard workers scoring, never imports XGBoost); whoever scores starts the import in the
background first. A corrupt archive is the same ModelError, at that first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.errors import ModelError
from rebalancer.lake import LocalLake
from rebalancer.model._predict import LocalPredictor, get_predictor
from rebalancer.model._registry import pack
from tests.model.test_serving_paths import copy_models


def test_the_booster_loads_on_first_use_and_xgboost_is_imported_by_who_scores(
    sim_lake: LocalLake, registered: dict, data: pd.DataFrame, tmp_path: Path
) -> None:
    rows = data.head(5)
    rows.to_parquet(tmp_path / "rows.parquet")
    code = f"""
import sys, threading
import pandas as pd
from rebalancer.lake import LocalLake
from rebalancer.model._predict import get_predictor, start_loading, _prefetching
assert "xgboost" not in sys.modules
predictor = get_predictor(LocalLake({str(sim_lake.root)!r}))
assert predictor.version == {registered["version"]!r} and predictor._loaded is None
assert not _prefetching and "xgboost" not in sys.modules  # the factory imports nothing
start_loading(predictor)  # what advise() and a shard worker do before the features query
assert len(_prefetching) == 1 and _prefetching[0].daemon
_prefetching[0].join(120)
assert "xgboost" in sys.modules and predictor._loaded is None  # imported, not loaded
out = predictor.predict(pd.read_parquet({str(tmp_path / "rows.parquet")!r}))
assert len(out) == 5 and predictor._loaded is not None
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")


def test_a_corrupt_archive_is_a_model_error_at_first_use(
    sim_lake: LocalLake, registered: dict, data: pd.DataFrame, tmp_path: Path
) -> None:
    lake = LocalLake(tmp_path / "lake")
    copy_models(sim_lake, lake)
    version = registered["version"]
    lake.blobs.put(f"models/{version}/model.tar.gz", pack(b'{"learner": broken'))
    predictor = get_predictor(lake)
    assert isinstance(predictor, LocalPredictor)
    assert predictor.version == version and predictor.features == registered["features"]
    with pytest.raises(ModelError, match=f"model {version}: cannot load model"):
        predictor.predict(data.head(3))
