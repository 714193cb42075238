"""The API over a real HTTP server: health, auth, problem+json for every error."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rebalancer.api import create_app
from rebalancer.config import Settings
from rebalancer.lake import LocalLake
from tests.api.conftest import running

KEY = "test-key-123"


@pytest.fixture
def base_url(lake: LocalLake) -> Iterator[str]:
    app = create_app(Settings(lake=lake.root, api_key=KEY), lake=lake)
    with running(app) as url:
        yield url


def test_health_needs_no_key(base_url: str) -> None:
    response = httpx.get(f"{base_url}/health", timeout=60)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_unknown_route_is_problem_json(base_url: str) -> None:
    response = httpx.get(f"{base_url}/no/such/route", headers={"X-API-Key": KEY}, timeout=60)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and body["title"] == "Not Found"


def test_openapi_is_served(base_url: str) -> None:
    spec = httpx.get(f"{base_url}/openapi.json", timeout=60).json()
    assert spec["info"]["title"] == "rebalancer"
    assert "/health" in spec["paths"]
