"""``Predictor.explain``: the reasons of rows for the actions an earlier ``predict`` gave them,
without predicting again (a batch explains only the sleeves it trades). They are exactly the
reasons ``predict(rows)`` gives, in process and on the endpoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from botocore.stub import Stubber

from rebalancer.errors import ModelError
from rebalancer.lake import LocalLake
from rebalancer.model import load_model
from rebalancer.model._predict import LocalPredictor, SageMakerPredictor, rows_csv
from rebalancer.model.serving import explain_arrays, score_arrays
from tests.model.test_predict import answer_body, local_answer, runtime_client


@pytest.fixture(scope="module")
def local(sim_lake: LocalLake, registered: dict) -> LocalPredictor:
    return LocalPredictor(load_model(sim_lake, registered["version"]))


@pytest.fixture(scope="module")
def rows(data: pd.DataFrame) -> pd.DataFrame:
    sample = data.groupby("action").head(30).reset_index(drop=True)
    sample.loc[1, "weight"] = np.nan
    return sample


def test_explain_gives_the_reasons_predict_gives(local: LocalPredictor, rows: pd.DataFrame) -> None:
    full = local.predict(rows)
    lazy = local.predict(rows, reasons=False)
    assert lazy["model_reasons"].isna().all()
    explained = local.explain(rows, lazy["model_action"].tolist())
    assert explained == [list(r) for r in full["model_reasons"]]
    assert sum(len(r) for r in explained) > 0
    # any subset, in any order: each row's reasons depend on that row alone
    order = np.random.default_rng(4).permutation(len(rows))[: len(rows) // 2]
    subset = local.explain(rows.iloc[order], lazy["model_action"].iloc[order].tolist())
    assert subset == [list(full["model_reasons"].iloc[i]) for i in order]
    assert local.explain(rows.iloc[:0], []) == []


def test_explain_arrays_are_the_scored_contributions(
    local: LocalPredictor, rows: pd.DataFrame
) -> None:
    matrix = rows[local.features].to_numpy(np.float32)
    booster = local._model.booster
    _, _, predicted, contributions = score_arrays(matrix, booster, contributions=True)
    np.testing.assert_array_equal(explain_arrays(matrix, booster, predicted), contributions)
    # another class's contributions are another answer (the class decides the reasons)
    other = (predicted + 1) % 3
    assert not np.array_equal(explain_arrays(matrix, booster, other), contributions)


def test_explain_refuses_what_it_cannot_explain(local: LocalPredictor, rows: pd.DataFrame) -> None:
    actions = local.predict(rows, reasons=False)["model_action"].tolist()
    with pytest.raises(ModelError, match="actions for"):
        local.explain(rows, actions[:-1])
    with pytest.raises(ModelError, match="'MAYBE' is not one of"):
        local.explain(rows, ["MAYBE", *actions[1:]])
    with pytest.raises(ModelError, match="feature mismatch"):
        local.explain(rows.drop(columns=[local.features[3]]), actions)


def test_the_endpoint_explains_the_same_and_notices_a_changed_model(
    local: LocalPredictor, rows: pd.DataFrame, registered: dict
) -> None:
    body = "\n".join(rows_csv(rows, local.features))
    actions = local.predict(rows, reasons=False)["model_action"].tolist()
    client = runtime_client()
    answer = {"Body": answer_body(local_answer(local, body)), "ContentType": "application/json"}
    with Stubber(client) as stub:
        stub.add_response("invoke_endpoint", answer)
        remote = SageMakerPredictor(client, "advisor-model", registered).explain(rows, actions)
        stub.assert_no_pending_responses()
    assert remote == local.explain(rows, actions)
    flipped = ["HOLD" if a != "HOLD" else "SELL" for a in actions[:1]] + actions[1:]
    answer = {"Body": answer_body(local_answer(local, body)), "ContentType": "application/json"}
    with Stubber(client) as stub:
        stub.add_response("invoke_endpoint", answer)
        with pytest.raises(ModelError, match="row 0 is now"):
            SageMakerPredictor(client, "advisor-model", registered).explain(rows, flipped)
