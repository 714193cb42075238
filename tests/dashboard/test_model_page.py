"""The Model page with a registered model (the model tests' quick model on their small lake):
version, metrics against the baselines, confusion matrix and feature importance, each checked
against the model's metadata.json read straight from the lake."""

# ruff: noqa: F811 - the model tests' fixtures are imported by name and requested as arguments

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from rebalancer.lake import LocalLake
from tests.dashboard.conftest import app_on, metrics
from tests.model.conftest import (  # noqa: F401 - fixtures: a small simulated lake + model
    book,
    panel,
    registered,
    sim_dates,
    sim_lake,
    simulation,
)


def _values(data: Any) -> list[Any]:
    """A plotly trace array as a list (plotly 6 sends numbers as base64 typed arrays)."""
    if isinstance(data, dict) and "bdata" in data:
        flat = np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
        shape = [int(n) for n in str(data.get("shape", len(flat))).split(",")]
        return flat.reshape(shape).tolist()  # type: ignore[no-any-return]
    return list(data)


def test_model_page_shows_the_registered_model(
    sim_lake: LocalLake, registered: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = sim_lake.blobs.get(f"models/{registered['version']}/metadata.json")
    assert raw is not None
    meta = json.loads(raw)
    at = app_on(sim_lake.root, monkeypatch, "views/model.py")
    assert not at.error, [e.value for e in at.error]
    shown = metrics(at)
    assert shown["Version"] == meta["version"]
    evaluation = meta["evaluation"]
    assert shown["macro_f1"] == f"{evaluation['model']['macro_f1']:.3f}"
    assert shown["ece"] == f"{evaluation['calibration']['ece']:.3f}"

    table = next(d.value for d in at.dataframe if "predictor" in d.value.columns)
    expected = {"majority class": "majority", "plain engine rule": "rule",
                "model (XGBoost)": "model", "simulator's ceiling": "ceiling"}  # fmt: skip
    assert list(table["predictor"]) == list(expected)  # simulated labels: all four rows
    for label, key in expected.items():
        row = table.set_index("predictor").loc[label]
        assert row["macro_f1"] == pytest.approx(evaluation[key]["macro_f1"])
        assert row["accuracy"] == pytest.approx(evaluation[key]["accuracy"])
        for action in meta["classes"]:
            assert row[f"{action} recall"] == pytest.approx(
                evaluation[key]["per_class"][action]["recall"]
            )

    figures = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    heatmaps = [f for f in figures if f["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 1
    assert _values(heatmaps[0]["data"][0]["z"]) == evaluation["model"]["confusion"]
    assert _values(heatmaps[0]["data"][0]["x"]) == meta["classes"]

    top = sorted(meta["importance"].items(), key=lambda kv: (-kv[1], kv[0]))[:15]
    assert len(top) == min(15, len(meta["features"]))
    bars = [f for f in figures if f["data"][0]["type"] == "bar"]
    assert len(bars) == 1
    bar = bars[0]["data"][0]
    # drawn bottom-up: the largest share is the last bar
    assert _values(bar["y"])[::-1] == [name for name, _ in top]
    assert _values(bar["x"])[::-1] == pytest.approx([share for _, share in top])
    assert any(f["data"][0]["type"] == "scatter" for f in figures)  # the calibration curve
