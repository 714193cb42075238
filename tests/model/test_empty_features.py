"""A feature with no value in any training row (decision features written before it existed)
is named in the model's metadata and by ``rebalancer train``, not silently learned around."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rebalancer.lake import LocalLake
from rebalancer.model import model_features
from rebalancer.model._simulate import SimulationResult
from rebalancer.model._train import empty_features
from tests.cli.conftest import invoke
from tests.model.conftest import SEED

#: A feature the older decision features lacked.
LATE = "sell_raise_left"


def test_empty_features_names_only_columns_without_a_value() -> None:
    frame = pd.DataFrame({c: [1.0, np.nan] for c in model_features()})
    assert empty_features(frame) == []
    frame[LATE] = np.nan
    assert empty_features(frame) == [LATE]
    assert empty_features(frame.drop(columns=["weight"])) == ["weight", LATE]


def test_a_full_lake_reports_none(registered: dict) -> None:
    assert registered["data_snapshot"]["empty_features"] == []


def test_train_names_a_feature_the_decisions_lack(
    tmp_path: Path, simulation: SimulationResult
) -> None:
    lake = LocalLake(tmp_path / "lake")
    name = f"simulated-seed{SEED}"
    lake.write("decision_features", simulation.features().assign(**{LATE: np.nan}), name=name)
    lake.write("decisions", simulation.decisions, name=name)
    code, out, err = invoke(
        lake.root, "train", "--rounds", "20", "--embargo-days", "3", "--no-promote"
    )
    assert code == 0, err
    assert f"1 feature(s) had no value in any training row ({LATE})" in err
    assert "decisions simulate" in err
    assert "| model (XGBoost) |" in out  # trained all the same
