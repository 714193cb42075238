"""Training: the training set through Lake.query, a leakage-free split, a seeded model,
honest evaluation, and the artifact and registry contracts."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from rebalancer.errors import ConfigError, ModelError, NotFoundError
from rebalancer.lake import LocalLake
from rebalancer.model import (
    ACTIONS,
    XGBOOST_VERSION,
    SimulationResult,
    TrainConfig,
    current_model,
    list_versions,
    load_model,
    model_features,
    model_metadata,
    promote_version,
    register,
    split_dataset,
    train,
    training_set,
)
from rebalancer.model._registry import pack, unpack
from rebalancer.model._train import _groups
from rebalancer.usecases._model import list_models
from tests.cli.conftest import invoke
from tests.model.conftest import SMALL


def test_training_set_is_decisions_joined_with_features(
    data: pd.DataFrame, simulation: SimulationResult, sim_lake: LocalLake
) -> None:
    assert len(data) == len(simulation.decisions)
    assert list(data.columns[5 : 5 + len(model_features())]) == model_features()
    assert set(data["action"]) == set(ACTIONS)
    assert training_set(sim_lake, source="import").empty
    with pytest.raises(ConfigError, match="source"):
        training_set(sim_lake, source="x' OR 1=1 --")


def test_split_has_no_leakage(data: pd.DataFrame) -> None:
    split = split_dataset(data, SMALL)
    groups = _groups(data)
    train_g, valid_g, test_g = (set(groups.iloc[p]) for p in (split.train, split.valid, split.test))
    assert train_g and valid_g and test_g
    assert not train_g & test_g and not valid_g & test_g and not train_g & valid_g
    accounts = data["account_id"]
    assert not set(accounts.iloc[split.train]) & set(accounts.iloc[split.test])
    train_last = data["as_of"].iloc[np.concatenate([split.train, split.valid])].max()
    test_first = data["as_of"].iloc[split.test].min()
    assert test_first - train_last >= pd.Timedelta(days=SMALL.embargo_days)
    assert train_last == split.train_end and test_first == split.test_start
    with pytest.raises(ConfigError, match="nothing to train"):
        split_dataset(data, TrainConfig(embargo_days=365))


def test_same_seed_same_model(data: pd.DataFrame) -> None:
    one, two = train(data, SMALL), train(data, SMALL)
    assert one.booster.save_raw("json") == two.booster.save_raw("json")
    other = train(data, TrainConfig(**{**SMALL.__dict__, "seed": 4}))
    assert other.evaluation["model"]["rows"] != 0


def test_evaluation_has_the_four_rows(registered: dict) -> None:
    ev = registered["evaluation"]
    for row in ("majority", "rule", "model", "ceiling"):
        assert 0.0 <= ev[row]["macro_f1"] <= 1.0
        assert ev[row]["rows"] == ev["model"]["rows"] > 0
    assert ev["majority_class"] == "HOLD"
    assert ev["model"]["macro_f1"] > ev["majority"]["macro_f1"]
    assert 0.0 <= ev["calibration"]["ece"] <= 1.0
    assert registered["metrics"]["ceiling_macro_f1"] == ev["ceiling"]["macro_f1"]


def test_artifact_holds_exactly_one_model_file(sim_lake: LocalLake, registered: dict) -> None:
    version = registered["version"]
    archive = sim_lake.blobs.get(f"models/{version}/model.tar.gz")
    assert archive is not None
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert tar.getnames() == ["xgboost-model"]
        model = tar.extractfile("xgboost-model").read()  # type: ignore[union-attr]
    assert model.startswith(b"{")  # saved as JSON
    assert pack(model) == archive  # no time or owner in the archive: same model, same bytes
    keys = sim_lake.blobs.list_keys(f"models/{version}/")
    names = {k.rsplit("/", 1)[1] for k in keys}
    assert {"model.tar.gz", "metadata.json", "report.json", "report.md"} <= names
    assert "| model (XGBoost) |" in sim_lake.blobs.get(f"models/{version}/report.md").decode()  # type: ignore[union-attr]


@pytest.mark.filterwarnings("ignore:.*Unknown file format")
def test_reload_predicts_the_same(
    sim_lake: LocalLake, registered: dict, data: pd.DataFrame, tmp_path: Path
) -> None:
    loaded = load_model(sim_lake)
    assert loaded.version == registered["version"]
    assert loaded.features == model_features()
    # as the container loads it: unpack model.tar.gz, then xgboost reads xgboost-model
    path = unpack(sim_lake.blobs.get(f"models/{loaded.version}/model.tar.gz"), tmp_path)  # type: ignore[arg-type]
    plain = xgb.Booster(model_file=str(path))
    x = xgb.DMatrix(
        data[model_features()].to_numpy(np.float64)[:200], feature_names=model_features()
    )
    np.testing.assert_array_equal(plain.predict(x), loaded.booster.predict(x))


def test_metadata_contract(registered: dict, sim_lake: LocalLake) -> None:
    meta = model_metadata(sim_lake, registered["version"])
    assert meta["features"] == model_features()
    assert meta["classes"] == list(ACTIONS)
    assert meta["libraries"]["xgboost"].startswith(XGBOOST_VERSION + ".")
    assert meta["split"]["test_start"] > meta["split"]["train_end"]
    assert meta["data_snapshot"]["rows"] == meta["training"]["rows"]
    assert len(meta["data_snapshot"]["sha256"]) == 64
    assert {"macro_f1", "ece", "rule_macro_f1", "ceiling_macro_f1"} <= set(meta["metrics"])
    latest = json.loads(sim_lake.blobs.get("models/latest.json"))  # type: ignore[arg-type]
    assert latest["version"] == registered["version"]
    assert current_model(sim_lake)["version"] == registered["version"]  # type: ignore[index]


def test_registry_versions_and_promote(
    sim_lake: LocalLake, registered: dict, data: pd.DataFrame
) -> None:
    trained = train(data, SMALL)
    second = register(
        sim_lake, trained, promote=False, now=pd.Timestamp("2099-01-01", tz="UTC").to_pydatetime()
    )
    assert list_versions(sim_lake)[-1] == second["version"]
    assert current_model(sim_lake)["version"] == registered["version"]  # type: ignore[index]
    promote_version(sim_lake, second["version"])
    assert current_model(sim_lake)["version"] == second["version"]  # type: ignore[index]
    assert [r["current"] for r in list_models(sim_lake)][-1] is True
    promote_version(sim_lake, registered["version"])
    with pytest.raises(NotFoundError, match="no model version nope"):
        promote_version(sim_lake, "nope")
    with pytest.raises(NotFoundError):
        model_metadata(sim_lake, "../models")


def test_no_model_and_corrupt_models(lake: LocalLake, tmp_path: Path) -> None:
    assert current_model(lake) is None
    with pytest.raises(NotFoundError, match="no model registered"):
        load_model(lake)
    with pytest.raises(ModelError, match="exactly one file"):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for name in ("xgboost-model", "extra"):
                info = tarfile.TarInfo(name)
                info.size = 2
                tar.addfile(info, io.BytesIO(b"{}"))
        unpack(raw.getvalue(), tmp_path)
    with pytest.raises(ModelError, match=r"not a readable tar\.gz"):
        unpack(b"not a tar", tmp_path)


def test_corrupt_model_file_is_a_model_error(sim_lake: LocalLake, registered: dict) -> None:
    version = registered["version"]
    key = f"models/{version}/model.tar.gz"
    good = sim_lake.blobs.get(key)
    first = load_model(sim_lake, version).booster
    assert load_model(sim_lake, version).booster is first  # loaded once per process
    try:
        sim_lake.blobs.put(key, pack(b'{"learner": broken'))
        with pytest.raises(ModelError, match=f"model {version}: cannot load model"):
            load_model(sim_lake, version)  # new bytes: loaded (and refused) afresh
    finally:
        sim_lake.blobs.put(key, good)  # type: ignore[arg-type]
    assert load_model(sim_lake, version).booster is first


def test_cli_train_and_models(sim_lake: LocalLake) -> None:
    code, out, err = invoke(
        sim_lake.root, "train", "--rounds", "20", "--embargo-days", "3", "--no-promote"
    )
    assert code == 0, err
    assert "| model (XGBoost) |" in out and "| simulator's ceiling" in out
    code, out, _ = invoke(sim_lake.root, "models", "list")
    assert code == 0 and out.count("macro-F1") == len(list_versions(sim_lake))
    code, out, _ = invoke(sim_lake.root, "models", "show")
    assert code == 0 and json.loads(out)["version"] == current_model(sim_lake)["version"]  # type: ignore[index]
    code, _, err = invoke(sim_lake.root, "models", "show", "missing")
    assert code == 7 and "no model version missing" in err
    code, _, err = invoke(sim_lake.root, "train", "--source", "import")
    assert code == 2 and "decisions simulate" in err
