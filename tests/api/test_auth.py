"""X-API-Key on every /v1 operation of the OpenAPI document; no key configured means /v1 is
refused unless the insecure setting says otherwise (and that is logged)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from rebalancer.api import create_app
from rebalancer.config import Settings
from rebalancer.lake import LocalLake
from tests.api.conftest import KEY, running


def _operations(url: str) -> list[tuple[str, str]]:
    spec = httpx.get(f"{url}/openapi.json", timeout=30).json()
    ops = []
    for path, item in spec["paths"].items():
        for method in item:
            concrete = (
                path.replace("{account_id}", "A00000001")
                .replace("{run_id}", "abc")
                .replace("{version}", "1")
            )
            ops.append((method.upper(), concrete))
    return ops


def test_every_v1_operation_needs_the_key(served: str) -> None:
    ops = [(m, p) for m, p in _operations(served) if p.startswith("/v1")]
    assert len(ops) == 10  # every /v1 operation the app serves
    for method, path in ops:
        for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY + "x"},
                        {"x-api-key": KEY[:-1]}):  # fmt: skip
            response = httpx.request(
                method, f"{served}{path}", headers=headers, json={"cash": 1}, timeout=30
            )
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"] == "ApiKey"
            assert set(response.json()) == {"type", "title", "status", "detail"}
        ok = httpx.request(method, f"{served}{path}", headers={"X-API-Key": KEY}, json={},
                           timeout=60)  # fmt: skip
        assert ok.status_code != 401, (method, path)


def test_unknown_v1_paths_reveal_nothing_without_the_key(served: str) -> None:
    assert httpx.get(f"{served}/v1/nothing/here", timeout=30).status_code == 401
    assert httpx.get(f"{served}/v1", timeout=30).status_code == 401
    # Bodies are not parsed before the key is checked.
    response = httpx.post(f"{served}/v1/recommendations", content=b"{not json", timeout=30)
    assert response.status_code == 401


def test_operations_document_the_key(served: str) -> None:
    spec = httpx.get(f"{served}/openapi.json", timeout=30).json()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    for path, item in spec["paths"].items():
        for op in item.values():
            assert ("security" in op) == path.startswith("/v1"), path


@pytest.fixture
def keyless(lake: LocalLake) -> Iterator[tuple[str, str]]:
    app = create_app(Settings(lake=lake.root), lake=lake)
    insecure = create_app(Settings(lake=lake.root, allow_insecure_api=True), lake=lake)
    with running(app) as url, running(insecure) as insecure_url:
        yield url, insecure_url


def test_no_key_configured_refuses_v1(keyless: tuple[str, str]) -> None:
    url, _ = keyless
    assert httpx.get(f"{url}/v1/models/current", timeout=30).status_code == 401
    assert (
        httpx.get(f"{url}/v1/models/current", headers={"X-API-Key": ""}, timeout=30).status_code
        == 401
    )
    assert httpx.get(f"{url}/health", timeout=30).status_code == 200


def test_insecure_setting_serves_v1_and_says_so(
    keyless: tuple[str, str], lake: LocalLake, caplog: pytest.LogCaptureFixture
) -> None:
    _, url = keyless
    assert httpx.get(f"{url}/v1/models/current", timeout=30).status_code == 404
    with caplog.at_level(logging.WARNING, logger="rebalancer.api.app"):
        create_app(Settings(lake=lake.root, allow_insecure_api=True), lake=lake)
    assert "WITHOUT an API key" in caplog.text
