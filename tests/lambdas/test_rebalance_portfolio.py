"""The rebalance_portfolio Lambda with a real API Gateway (REST proxy) event fixture."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.api.test_recommendations import book_lake  # noqa: F401  (fixture)
from tests.lambdas.context import EVENTS_DIR, LambdaContext


def load_event(name: str) -> dict:
    return json.loads((EVENTS_DIR / name).read_text())


KEY = "lambda-key-" + "z" * 20


@pytest.fixture
def module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.setenv("REBALANCER_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("REBALANCER_API_KEY", KEY)
    from rebalancer.config import get_settings

    get_settings.cache_clear()
    import lambdas.rebalance_portfolio as handler_module

    return importlib.reload(handler_module)


def test_health_through_api_gateway(module: ModuleType) -> None:
    response = module.handler(
        load_event("apigw_rest_get_health.json"),
        LambdaContext("rebalance_portfolio", memory_limit_in_mb=1024),
    )
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "ok"


def test_unknown_path_is_problem_json(module: ModuleType) -> None:
    event = load_event("apigw_rest_get_health.json")
    event["path"] = "/nope"
    response = module.handler(event, LambdaContext("rebalance_portfolio", memory_limit_in_mb=1024))
    assert response["statusCode"] == 404
    headers = {k.lower(): v for k, v in response.get("multiValueHeaders", {}).items()}
    headers.update({k.lower(): v for k, v in response.get("headers", {}).items()})
    content_type = headers["content-type"]
    assert "application/problem+json" in (
        content_type if isinstance(content_type, str) else content_type[0]
    )


@pytest.mark.usefixtures("book_lake")
def test_recommendation_through_api_gateway(module: ModuleType) -> None:
    event = load_event("apigw_rest_get_health.json")
    event["path"] = "/v1/accounts/A1/recommendation"
    event["pathParameters"] = {"proxy": "v1/accounts/A1/recommendation"}
    event["queryStringParameters"] = {"as_of": "2024-12-31T16:00:00"}
    event["multiValueQueryStringParameters"] = {"as_of": ["2024-12-31T16:00:00"]}
    event["headers"]["X-API-Key"] = KEY
    event["multiValueHeaders"]["X-API-Key"] = [KEY]
    response = module.handler(event, LambdaContext("rebalance_portfolio", memory_limit_in_mb=1024))
    assert response["statusCode"] == 200, response["body"]
    body = json.loads(response["body"])
    assert {t["symbol"]: t["side"] for t in body["trades"]} == {"VTI": "SELL", "BND": "BUY"}


def test_handlers_import_without_duckdb_or_skfolio() -> None:
    """The Lambda layer ships neither (DuckDB alone would break the 250 MB limit)."""
    import subprocess
    import sys

    code = (
        "import sys, lambdas.fetch_market_data, lambdas.compact, lambdas.rebalance_portfolio; "
        "print(sorted(m for m in ('duckdb', 'skfolio', 'sklearn') if m in sys.modules))"
    )
    env = {
        "REBALANCER_BACKEND": "aws",
        "REBALANCER_LAKE": "s3://bucket/lake",
        "PATH": "/usr/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ------------------------------------------------------------------ the key, in AWS
def _event(path: str, *, key: str | None, method: str = "GET", body: str | None = None) -> dict:
    event = load_event("apigw_rest_get_health.json")
    event["path"] = path
    event["httpMethod"] = method
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    if key is not None:
        event["headers"]["X-API-Key"] = key
        event["multiValueHeaders"]["X-API-Key"] = [key]
    if body is not None:
        event["body"] = body
        event["headers"]["Content-Type"] = "application/json"
        event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    return event


def _call(module: ModuleType, event: dict) -> dict:
    return module.handler(event, LambdaContext("rebalance_portfolio", memory_limit_in_mb=1024))


def _reload_in_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> ModuleType:
    monkeypatch.setenv("REBALANCER_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from rebalancer.config import get_settings

    get_settings.cache_clear()
    import lambdas.rebalance_portfolio as handler_module

    return importlib.reload(handler_module)


@pytest.mark.parametrize("store", ["secretsmanager", "ssm"])
def test_key_comes_from_aws_once_per_container(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: str
) -> None:
    boto3 = pytest.importorskip("boto3")
    from moto import mock_aws

    secret = "from-" + store + "-" + "q" * 20
    with mock_aws():
        if store == "secretsmanager":
            arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
                Name="rebalancer-dev-api-key", SecretString=json.dumps({"api_key": secret})
            )["ARN"]
            module = _reload_in_aws(monkeypatch, tmp_path, REBALANCER_API_KEY_SECRET_ID=arn)
            boto3.client("secretsmanager", region_name="us-east-1").delete_secret(
                SecretId=arn, ForceDeleteWithoutRecovery=True
            )
        else:
            boto3.client("ssm", region_name="us-east-1").put_parameter(
                Name="/rebalancer/dev/api-key", Value=secret, Type="SecureString"
            )
            module = _reload_in_aws(
                monkeypatch, tmp_path, REBALANCER_API_KEY_PARAMETER="/rebalancer/dev/api-key"
            )
            boto3.client("ssm", region_name="us-east-1").delete_parameter(
                Name="/rebalancer/dev/api-key"
            )
        # The store no longer has it: warm invocations still use the key read at cold start.
        for key, status in [(secret, 404), (None, 401), ("wrong", 401), (secret, 404)]:
            response = _call(module, _event("/v1/models/current", key=key))
            assert response["statusCode"] == status, response["body"]
            assert json.loads(response["body"])["status"] == status


def test_without_any_key_v1_is_refused_in_the_lambda(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = _reload_in_aws(monkeypatch, tmp_path)
    assert _call(module, _event("/v1/models/current", key=None))["statusCode"] == 401
    assert _call(module, _event("/v1/models/current", key=""))["statusCode"] == 401
    assert _call(module, _event("/health", key=None))["statusCode"] == 200


# ------------------------------------------------------------------ same bodies as uvicorn
@pytest.mark.usefixtures("book_lake")
def test_lambda_and_uvicorn_return_identical_bodies(module: ModuleType) -> None:
    import httpx

    from tests.api.conftest import running

    portfolio = json.dumps(
        {"account_type": "ira", "cash": 1000.0, "targets": {"VTI": 0.6, "BND": 0.4},
         "holdings": [{"symbol": "VTI", "quantity": 10}], "as_of": "2024-12-31T16:00:00"}
    )  # fmt: skip
    cases = [
        ("GET", "/health", None, None),
        ("GET", "/v1/accounts/A1/recommendation", KEY, None),
        ("GET", "/v1/accounts/A1", KEY, None),
        ("GET", "/v1/accounts", KEY, None),
        ("GET", "/v1/runs", KEY, None),
        ("GET", "/v1/accounts/NOPE", KEY, None),
        ("GET", "/v1/models/current", KEY, None),
        ("GET", "/v1/accounts/A1", "wrong", None),
        ("POST", "/v1/recommendations", KEY, portfolio),
        ("POST", "/v1/recommendations", KEY, '{"cash": -1}'),
    ]
    with running(module.app) as url:
        for method, path, key, body in cases:
            event = _event(path, key=key, method=method, body=body)
            if path.endswith("/recommendation"):
                event["queryStringParameters"] = {"as_of": "2024-12-31T16:00:00"}
                event["multiValueQueryStringParameters"] = {"as_of": ["2024-12-31T16:00:00"]}
            lambda_response = _call(module, event)
            headers = {"X-API-Key": key} if key else {}
            if body:
                headers["Content-Type"] = "application/json"
            http = httpx.request(
                method, url + path, headers=headers, content=body,
                params=event["queryStringParameters"], timeout=60,
            )  # fmt: skip
            assert lambda_response["statusCode"] == http.status_code, path
            assert not lambda_response["isBase64Encoded"], path
            assert lambda_response["body"] == http.text, path
