"""The metadata's feature importance is each feature's share of the split gain, recomputed here
from the archived trees themselves (every split's gain summed per feature)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
import xgboost as xgb

from rebalancer.lake import LocalLake


def test_importance_is_the_share_of_split_gain(sim_lake: LocalLake, registered: dict) -> None:
    version = registered["version"]
    meta = json.loads(sim_lake.blobs.get(f"models/{version}/metadata.json"))  # type: ignore[arg-type]
    archive = sim_lake.blobs.get(f"models/{version}/model.tar.gz")
    assert archive is not None
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        raw = tar.extractfile("xgboost-model").read()  # type: ignore[union-attr]
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    trees = booster.trees_to_dataframe()
    splits = trees[trees["Feature"] != "Leaf"]
    gain = splits.groupby("Feature")["Gain"].sum()
    importance = meta["importance"]
    assert list(importance) == sorted(meta["features"], key=lambda f: (-importance[f], f))
    assert sum(importance.values()) == pytest.approx(1.0)
    for feature in meta["features"]:
        assert importance[feature] == pytest.approx(gain.get(feature, 0.0) / gain.sum(), rel=1e-4)
    assert set(gain.index) <= set(meta["features"])
    report = json.loads(sim_lake.blobs.get(f"models/{version}/report.json"))  # type: ignore[arg-type]
    assert report["importance"] == importance
