"""The typed client: against `rebalancer serve` started as a real process on a free loopback
port, and its retry rule (429/503) on a scripted transport."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from rebalancer.api.client import ApiError, RebalancerClient
from rebalancer.config import Settings
from rebalancer.engine import Policy
from tests.api.conftest import _free_port

REPO = Path(__file__).resolve().parents[2]


def _serve(lake_root: str, env_key: str | None) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCER_")}
    env["REBALANCER_LAKE"] = lake_root
    if env_key:
        env["REBALANCER_API_KEY"] = env_key
    cli = str(Path(sys.executable).with_name("rebalancer"))
    proc = subprocess.Popen(
        [cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}"


def _wait_up(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 180  # generous: a loaded 2-core machine starts slowly
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("rebalancer serve did not come up")


@pytest.fixture
def server(generated) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    lake, _ = generated
    key = "serve-key-" + "s" * 20
    proc, url = _serve(lake.root, key)
    try:
        _wait_up(proc, url)
        yield url, key
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_client_against_rebalancer_serve(server: tuple[str, str], generated) -> None:  # type: ignore[no-untyped-def]
    url, key = server
    _, result = generated
    with RebalancerClient(url, settings=Settings(api_key=key)) as client:
        assert client.health().status == "ok"
        assert client.ready().lake == "ok"
        ids = [a.account_id for a in client.iter_accounts(limit=25)]
        assert len(ids) == len(set(ids)) and ids == sorted(ids)
        account = client.account(ids[0])
        assert account.account_id == ids[0]
        assert client.runs().runs[0].run_id == result.run_id
        assert client.run(result.run_id).trades == len(result.rows)
        rec = client.account_recommendation(ids[0], as_of=result.as_of.to_pydatetime())
        assert rec.account_id == ids[0]
        wide = client.what_if(
            ids[0], Policy(band="absolute", absolute_band=0.9), as_of="2022-12-29"
        )
        assert wide.trades == []
        posted = client.recommend(
            {"account_type": "ira", "cash": 500.0, "targets": {"VTI": 1.0}, "holdings": []}
        )
        assert posted.holdings[0].action == "BUY"
        bars = client.market_prices(["VTI"], start=date(2022, 12, 20), end=date(2022, 12, 31))
        assert bars.bars and {b.symbol for b in bars.bars} == {"VTI"}
        with pytest.raises(ApiError) as missing:
            client.current_model()
        assert missing.value.status == 404 and "no model registered" in str(missing.value)
    with RebalancerClient(url, api_key="wrong") as bad, pytest.raises(ApiError) as denied:
        bad.runs()
    assert denied.value.status == 401


def test_serve_generates_a_key_when_none_is_set(generated) -> None:  # type: ignore[no-untyped-def]
    lake, _ = generated
    proc, url = _serve(lake.root, None)
    try:
        _wait_up(proc, url)
        assert httpx.get(f"{url}/v1/runs", timeout=10).status_code == 401
        assert proc.stdout is not None
        printed = ""
        while "key" not in printed:
            printed += proc.stdout.readline()
        key = re.search(r"key: (\S+)", printed)
        assert key, printed
        assert (
            httpx.get(f"{url}/v1/runs", headers={"X-API-Key": key[1]}, timeout=10).status_code
            == 200
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_client_retries_429_and_503_then_gives_up() -> None:
    calls: list[int] = []
    script = [503, 429, 200]

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        assert request.headers["X-API-Key"] == "k"
        status = script[len(calls) - 1] if len(calls) <= len(script) else 503
        headers = {"Retry-After": "0"} if status == 429 else {}
        body = {"runs": []} if status == 200 else {"title": "busy", "status": status}
        return httpx.Response(status, json=body, headers=headers)

    client = RebalancerClient("http://x", api_key="k", backoff=0.001,
                              transport=httpx.MockTransport(answer))  # fmt: skip
    assert client.runs().runs == []
    assert len(calls) == 3
    calls.clear()
    script[:] = [503] * 10
    with pytest.raises(ApiError) as busy:
        client.runs()
    assert busy.value.status == 503 and len(calls) == client.retries + 1
    calls.clear()
    script[:] = [400]
    with pytest.raises(ApiError):
        client.runs()
    assert len(calls) == 1  # a 4xx other than 429 is not retried
