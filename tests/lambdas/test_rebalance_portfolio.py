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


@pytest.fixture
def module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.setenv("REBALANCER_LAKE", str(tmp_path / "lake"))
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
