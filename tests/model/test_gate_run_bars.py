"""A sharded model run reads the daily bars its features need once, not once per shard (every
shard of a run sees the same history), and forgets them when the run is done; the batch's
explain takes the actions already predicted and refuses one the model does not have."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rebalancer.engine import Policy
from rebalancer.errors import ModelError
from rebalancer.lake import LocalLake
from rebalancer.model._predict import get_predictor
from rebalancer.usecases import _batch, run_recommendations
from tests.model.conftest import sharded_model_lake
from tests.model.test_advise import AS_OF


def test_a_run_reads_the_bars_once_and_forgets_them(
    tmp_path: Path,
    panel: pd.DataFrame,
    sim_lake: LocalLake,
    registered: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lake = sharded_model_lake(tmp_path / "lake", panel, sim_lake, accounts=45, seed=21)
    reads: list[pd.Timestamp] = []
    real = _batch.feature_bars

    def counted(lake: LocalLake, as_of: pd.Timestamp) -> pd.DataFrame:
        reads.append(as_of)
        return real(lake, as_of)

    monkeypatch.setattr(_batch, "feature_bars", counted)
    policy = Policy(model="gate", min_confidence=0.5)
    first = run_recommendations(lake, as_of=AS_OF, policy=policy, write=False, workers=1)
    assert len(reads) == 1 and _batch._RUN_BARS == []  # three shards, one read, forgotten
    assert first.model_counts["pinned"] > 0 and first.rows["model_action"].notna().all()
    again = run_recommendations(lake, as_of=AS_OF, policy=policy, write=False, workers=1)
    assert len(reads) == 2 and again.run_id == first.run_id  # the next run reads them again


def test_explain_refuses_an_action_the_model_does_not_have(
    sim_lake: LocalLake, registered: dict, data: pd.DataFrame
) -> None:
    predictor = get_predictor(sim_lake)
    rows = data.head(3)
    actions = predictor.predict(rows, reasons=False)["model_action"].tolist()
    assert len(predictor.explain(rows, actions)) == 3
    with pytest.raises(ModelError, match="'MAYBE' is not one of the model's"):
        predictor.explain(rows, [actions[0], "MAYBE", actions[2]])
