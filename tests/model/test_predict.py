"""Predictors: the in-process predictor runs the inference script's functions; the SageMaker
predictor sends the CSV that script parses (botocore Stubber) and gets the same answers;
reason codes from pred_contribs; clear errors for mismatches and unreachable endpoints."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import Stubber

from rebalancer.config import Settings
from rebalancer.errors import ModelError
from rebalancer.lake import LocalLake
from rebalancer.model import ACTIONS, load_model
from rebalancer.model._predict import (
    FAMILIES,
    MAX_REASONS,
    LocalPredictor,
    SageMakerPredictor,
    feature_matrix,
    get_predictor,
    prediction_frame,
    rows_csv,
)
from rebalancer.model._registry import unpack
from rebalancer.model.serving import ServingError
from training import inference


@pytest.fixture(scope="module")
def local(sim_lake: LocalLake, registered: dict) -> LocalPredictor:
    return LocalPredictor(load_model(sim_lake, registered["version"]))


@pytest.fixture(scope="module")
def rows(data: pd.DataFrame) -> pd.DataFrame:
    sample = data.groupby("action").head(20).reset_index(drop=True)
    sample.loc[0, "rel_drift"] = np.nan  # a missing value travels as an empty CSV field
    return sample


def runtime_client() -> object:
    return boto3.client(
        "sagemaker-runtime", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip


def answer_body(payload: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(payload), len(payload))


def local_answer(local: LocalPredictor, body: str) -> bytes:
    """What the endpoint's container answers: the inference script on the CSV body."""
    booster = local._model.booster
    text, _ = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, "text/csv"), booster), "application/json"
    )
    return text.encode()


def test_local_predictions(local: LocalPredictor, rows: pd.DataFrame) -> None:
    out = local.predict(rows)
    assert len(out) == len(rows)
    assert set(out["model_action"]) <= set(ACTIONS)
    probs = out[[f"p_{c}" for c in ACTIONS]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    picked = probs[np.arange(len(out)), [ACTIONS.index(a) for a in out["model_action"]]]
    np.testing.assert_allclose(out["model_confidence"], picked)
    for reasons in out["model_reasons"]:
        assert len(reasons) <= MAX_REASONS
        assert all(r.split(":")[0] in FAMILIES for r in reasons)
    assert any(len(r) > 0 for r in out["model_reasons"])
    pd.testing.assert_frame_equal(out, local.predict(rows))  # deterministic, ties included
    assert local.predict(rows.iloc[:0]).empty


def test_fast_path_equals_the_csv_json_path(local: LocalPredictor, rows: pd.DataFrame) -> None:
    """The in-process matrix path gives the frame the endpoint's CSV -> JSON protocol gives:
    same probabilities, actions and reason codes (a NaN feature included)."""
    body = "\n".join(rows_csv(rows, local.features))
    answer = json.loads(local_answer(local, body))
    via_protocol = prediction_frame(answer, local.features, rows)
    fast = local.predict(rows)
    pd.testing.assert_frame_equal(fast, via_protocol)
    assert fast["model_reasons"].map(len).sum() > 0
    matrix = feature_matrix(rows, local.features)
    assert matrix.dtype == np.float32 and np.isnan(matrix).any()
    np.testing.assert_array_equal(
        matrix, inference.input_fn(body, "text/csv").astype(np.float32)
    )  # what XGBoost stores from the parsed CSV


def test_reason_text_names_the_drift(local: LocalPredictor, rows: pd.DataFrame) -> None:
    out = local.predict(rows)
    texts = [r for reasons in out["model_reasons"] for r in reasons]
    drift = [t for t in texts if t.startswith("sleeve_drift:")]
    assert drift and all("points" in t and "x its band" in t for t in drift)


def test_sagemaker_sends_the_csv_the_script_parses(
    local: LocalPredictor, rows: pd.DataFrame, registered: dict
) -> None:
    client = runtime_client()
    lines = rows_csv(rows, local.features)
    body = "\n".join(lines)
    parsed = inference.input_fn(body, "text/csv")
    np.testing.assert_array_equal(parsed, rows[local.features].to_numpy(np.float64))  # NaN too
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": answer_body(local_answer(local, body)), "ContentType": "application/json"},
            {"EndpointName": "advisor-model", "ContentType": "text/csv",
             "Accept": "application/json", "Body": body.encode()},
        )  # fmt: skip
        remote = SageMakerPredictor(client, "advisor-model", registered).predict(rows)
        stub.assert_no_pending_responses()
    pd.testing.assert_frame_equal(remote, local.predict(rows))


def test_batches_stay_under_the_payload_limit(
    local: LocalPredictor, rows: pd.DataFrame, registered: dict
) -> None:
    client = runtime_client()
    lines = rows_csv(rows, local.features)
    predictor = SageMakerPredictor(
        client, "ep", registered, max_payload_bytes=4 * max(len(x) + 1 for x in lines)
    )
    bodies = predictor.batches(lines)
    assert len(bodies) > 1 and "\n".join(bodies) == "\n".join(lines)
    assert all(len(b.encode()) <= 4 * max(len(x) + 1 for x in lines) for b in bodies)
    with Stubber(client) as stub:
        for b in bodies:
            stub.add_response("invoke_endpoint", {"Body": answer_body(local_answer(local, b))})
        remote = predictor.predict(rows)
    pd.testing.assert_frame_equal(remote, local.predict(rows))
    with pytest.raises(ModelError, match="payload"):
        SageMakerPredictor(client, "ep", registered, max_payload_bytes=10).batches(lines)


def test_throttling_is_retried_a_bad_request_is_not(
    local: LocalPredictor, rows: pd.DataFrame, registered: dict
) -> None:
    client = runtime_client()
    naps: list[float] = []
    predictor = SageMakerPredictor(client, "ep", registered, retries=2, sleep=naps.append)
    body = "\n".join(rows_csv(rows, local.features))
    with Stubber(client) as stub:
        stub.add_client_error("invoke_endpoint", "ThrottlingException", "slow down", 429)
        stub.add_response("invoke_endpoint", {"Body": answer_body(local_answer(local, body))})
        assert len(predictor.predict(rows)) == len(rows)
    assert naps == [0.5]
    with Stubber(client) as stub:
        stub.add_client_error("invoke_endpoint", "ModelError", "feature mismatch: 3 columns", 424)
        with pytest.raises(ModelError, match="SageMaker endpoint ep: ModelError: feature mismatch"):
            predictor.predict(rows)
        stub.assert_no_pending_responses()
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("invoke_endpoint", "InternalFailure", "boom", 500)
        with pytest.raises(ModelError, match="InternalFailure"):
            predictor.predict(rows)


def test_unreachable_endpoint_is_a_clear_error(rows: pd.DataFrame, registered: dict) -> None:
    client = boto3.client(
        "sagemaker-runtime", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 0}),
    )  # fmt: skip
    predictor = SageMakerPredictor(client, "ep", registered, retries=1, sleep=lambda s: None)
    with pytest.raises(ModelError, match="SageMaker endpoint ep: Could not connect"):
        predictor.predict(rows)


def test_feature_mismatch_fails_loudly(local: LocalPredictor, rows: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="feature mismatch: the request lacks band_ratio"):
        local.predict(rows.drop(columns=["band_ratio"]))
    with pytest.raises(ServingError, match="feature mismatch: the model takes 44 features"):
        inference.predict_fn(np.zeros((2, 5)), local._model.booster)
    with pytest.raises(ServingError, match="content type"):
        inference.input_fn("1,2", "application/json")
    with pytest.raises(ServingError, match="malformed CSV"):
        inference.input_fn("1,2\n3", "text/csv")


def test_inference_script_loads_the_artifact(
    sim_lake: LocalLake, registered: dict, tmp_path: Path
) -> None:
    archive = sim_lake.blobs.get(f"models/{registered['version']}/model.tar.gz")
    unpack(archive, tmp_path)  # type: ignore[arg-type]
    booster = inference.model_fn(str(tmp_path))
    assert booster.feature_names == registered["features"]
    names = sorted(p.name for p in inference.SOURCE_FILES)
    assert names == ["inference.py", "serving.py"] and all(
        p.is_file() for p in inference.SOURCE_FILES
    )
    (tmp_path / "xgboost-model").write_bytes(b"garbage")
    with pytest.raises(ServingError, match="cannot load model"):
        inference.model_fn(str(tmp_path))


def test_factory(sim_lake: LocalLake, registered: dict) -> None:
    assert isinstance(get_predictor(sim_lake, Settings()), LocalPredictor)
    remote = get_predictor(
        sim_lake,
        Settings(sagemaker_endpoint="advisor-model", region="us-east-1"),
        client=runtime_client(),
    )
    assert isinstance(remote, SageMakerPredictor) and remote.endpoint == "advisor-model"
    assert remote.features == registered["features"] or remote.version != registered["version"]


def test_sagemaker_path_works_without_xgboost(sim_lake: LocalLake, registered: dict) -> None:
    """The API Lambda's layer has no XGBoost: the factory, the SageMaker predictor and its
    reason codes must not import it (only LocalPredictor does, when it scores)."""
    import subprocess
    import sys

    code = f"""
import io, json, sys
sys.modules['xgboost'] = None  # any 'import xgboost' now raises ImportError
import boto3, pandas as pd
from botocore.response import StreamingBody
from botocore.stub import Stubber
from rebalancer.config import Settings
from rebalancer.lake import LocalLake
from rebalancer.model import get_predictor
from rebalancer.model._predict import SageMakerPredictor
client = boto3.client("sagemaker-runtime", region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
predictor = get_predictor(LocalLake({str(sim_lake.root)!r}),
                          Settings(sagemaker_endpoint="ep", region="us-east-1"), client=client)
assert isinstance(predictor, SageMakerPredictor), type(predictor)
n = len(predictor.features)
rows = pd.DataFrame([[0.5] * n, [1.0] * n], columns=predictor.features)
contrib = [[0.0] * n + [0.1], [0.3] * n + [0.1]]
answer = json.dumps({{"classes": ["SELL", "HOLD", "BUY"], "predicted": [1, 0],
                     "probabilities": [[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]],
                     "contributions": contrib}}).encode()
with Stubber(client) as stub:
    stub.add_response("invoke_endpoint", {{"Body": StreamingBody(io.BytesIO(answer),
                      len(answer)), "ContentType": "application/json"}})
    out = predictor.predict(rows)
assert 'xgboost' not in sys.modules or sys.modules['xgboost'] is None
print(json.dumps([list(out["model_action"]), [len(r) for r in out["model_reasons"]]]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[["HOLD", "SELL"], [0, 4]]'


@pytest.mark.parametrize("method", ["approx", "exact"])
def test_per_class_contributions_equal_the_full_pred_contribs(
    local: LocalPredictor, data: pd.DataFrame, method: str
) -> None:
    """The per-class boosters give, for each row's predicted class, exactly the full model's
    ``pred_contribs`` (features and bias), by the method the model names: exact TreeSHAP, or
    ``approx_contribs``."""
    import xgboost as xgb

    from rebalancer.model.serving import (
        ATTR_REASONS,
        class_boosters,
        predicted_class_contributions,
    )

    booster = local._model.booster
    saved = booster.attr(ATTR_REASONS)
    assert saved == "approx"  # the training default
    matrix = feature_matrix(data.head(400), local.features)
    matrix[::7, 3] = np.nan
    full = booster.predict(
        xgb.DMatrix(matrix, missing=np.nan, feature_names=booster.feature_names),
        pred_contribs=True,
        approx_contribs=method == "approx",
    ).reshape(len(matrix), len(ACTIONS), -1)
    assert len(class_boosters(booster)) == len(ACTIONS)
    booster.set_attr(**{ATTR_REASONS: method})
    try:
        for predicted in (np.arange(len(matrix)) % len(ACTIONS), np.zeros(len(matrix), np.int64)):
            got = predicted_class_contributions(matrix, booster, predicted)
            np.testing.assert_array_equal(got, full[np.arange(len(matrix)), predicted, :])
    finally:
        booster.set_attr(**{ATTR_REASONS: saved})
    assert class_boosters(booster)[0] is class_boosters(booster)[0]  # built once per model


def test_the_reasons_method_is_checked(local: LocalPredictor, data: pd.DataFrame) -> None:
    """Approximate and exact contributions differ (so the method matters), both add up to
    the margin; an unknown method in a model and in a training config are clear errors."""
    from rebalancer.errors import ConfigError
    from rebalancer.model import TrainConfig
    from rebalancer.model.serving import ATTR_REASONS, ServingError, predicted_class_contributions

    booster = local._model.booster
    matrix = feature_matrix(data.head(200), local.features)
    predicted = np.zeros(len(matrix), np.int64)
    approx = predicted_class_contributions(matrix, booster, predicted)
    booster.set_attr(**{ATTR_REASONS: "exact"})
    try:
        exact = predicted_class_contributions(matrix, booster, predicted)
        np.testing.assert_allclose(approx.sum(axis=1), exact.sum(axis=1), rtol=1e-4, atol=1e-4)
        assert not np.allclose(approx, exact)
        booster.set_attr(**{ATTR_REASONS: "shapley-ish"})
        with pytest.raises(ServingError, match="expected approx or exact"):
            predicted_class_contributions(matrix, booster, predicted)
    finally:
        booster.set_attr(**{ATTR_REASONS: "approx"})
    with pytest.raises(ConfigError, match="reasons must be approx or exact"):
        TrainConfig(reasons="shap")


def test_a_few_rows_explain_in_one_full_pass_without_building_class_boosters(
    local: LocalPredictor, data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Approximate reasons for fewer than ``FULL_PASS_ROWS`` rows come from one pass of the
    whole model (no per-class boosters built: that costs ~0.2 s once), the same numbers the
    per-class boosters give; a larger batch builds them."""
    import xgboost as xgb

    from rebalancer.model import serving

    booster = xgb.Booster(model_file=bytearray(local._model.booster.save_raw("ubj")))
    assert serving.reasons_method(booster) == "approx"
    matrix = feature_matrix(data.head(300), local.features)
    predicted = np.arange(len(matrix)) % len(ACTIONS)
    few = serving.predicted_class_contributions(matrix, booster, predicted)
    assert booster not in serving._CLASS_BOOSTERS
    monkeypatch.setattr(serving, "FULL_PASS_ROWS", 100)
    many = serving.predicted_class_contributions(matrix, booster, predicted)
    assert booster in serving._CLASS_BOOSTERS
    np.testing.assert_array_equal(few, many)
