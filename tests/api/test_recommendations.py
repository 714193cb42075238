"""GET /v1/accounts/{id}/recommendation over a real HTTP server on a small hand-written lake."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pandas as pd
import pytest

from rebalancer.api import create_app
from rebalancer.config import Settings
from rebalancer.lake import LocalLake
from rebalancer.usecases import run_recommendations
from tests.api.conftest import running
from tests.engine.books import SECURITIES, account, holdings, lots, model

KEY = "k-" + "x" * 30
AS_OF = "2024-12-31T16:00:00"


def _daily(symbol: str, close: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": [symbol],
            "ts": [pd.Timestamp("2024-12-30")],
            "interval": ["1d"],
            "open": [close],
            "high": [close],
            "low": [close],
            "close": [close],
            "volume": [1000],
            "source": ["synthetic"],
            "ingested_at": [pd.Timestamp("2024-12-31")],
        }
    )


@pytest.fixture
def book_lake(lake: LocalLake) -> LocalLake:
    """A1 drifted (75/25 vs 60/40, taxable), A2 on target, A3 invalid (negative quantity)."""
    lake.write("securities", SECURITIES)
    lake.write("market_prices", pd.concat([_daily("VTI", 100.0), _daily("BND", 100.0)]))
    lake.write(
        "accounts",
        pd.DataFrame(
            [
                account("A1", account_type="taxable"),
                account("A2", household_id="H2"),
                account("A3", household_id="H3"),
            ]
        ),
    )
    lake.write("model_portfolios", model())
    lake.write(
        "holdings",
        pd.concat(
            [
                holdings("A1", VTI=750, BND=250),
                holdings("A2", VTI=600, BND=400),
                holdings("A3", VTI=-3),
            ]
        ),
    )
    lake.write(
        "tax_lots",
        lots(
            [
                ("A1", "VTI", "A1-VTI-1", 750, 80.0, "2020-01-02"),
                ("A1", "BND", "A1-BND-1", 250, 110.0, "2023-05-01"),
            ]
        ),
    )
    return lake


@pytest.fixture
def api(book_lake: LocalLake) -> Iterator[str]:
    app = create_app(Settings(lake=book_lake.root, api_key=KEY), lake=book_lake)
    with running(app) as url:
        yield url


def get(api: str, path: str, *, key: str | None = KEY, **params: str) -> httpx.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return httpx.get(f"{api}{path}", headers=headers, params=params, timeout=30)


def test_drifted_account_matches_the_batch_run(api: str, book_lake: LocalLake) -> None:
    response = get(api, "/v1/accounts/A1/recommendation", as_of=AS_OF)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["account_id"] == "A1"
    sides = {t["symbol"]: t["side"] for t in body["trades"]}
    assert sides == {"VTI": "SELL", "BND": "BUY"}  # overweight equity funds the bonds
    assert body["summary"]["drift_after"] < body["summary"]["drift_before"]

    batch = run_recommendations(book_lake, as_of=AS_OF, write=False).rows
    batch = batch[batch["account_id"] == "A1"].sort_values("symbol")
    got = pd.DataFrame(body["trades"]).sort_values("symbol")
    assert got["quantity"].tolist() == batch["quantity"].tolist()
    assert got["value"].tolist() == pytest.approx(batch["value"].tolist())
    assert got["est_tax"].tolist() == pytest.approx(batch["est_tax"].tolist())


def test_account_on_target_gets_no_trades(api: str) -> None:
    body = get(api, "/v1/accounts/A2/recommendation", as_of=AS_OF).json()
    assert body["trades"] == []
    assert body["summary"]["drift_before"] == pytest.approx(0.0, abs=0.02)


def test_nothing_is_written(api: str, book_lake: LocalLake) -> None:
    assert get(api, "/v1/accounts/A1/recommendation", as_of=AS_OF).status_code == 200
    assert book_lake.list_objects("recommendations") == []


@pytest.mark.parametrize("key", [None, "", "wrong", KEY + "x"])
def test_missing_or_wrong_key_is_401(api: str, key: str | None) -> None:
    response = get(api, "/v1/accounts/A1/recommendation", key=key)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "ApiKey"
    assert "trades" not in response.text


@pytest.mark.parametrize(
    ("path", "params", "status", "detail"),
    [
        ("/v1/accounts/NOPE/recommendation", {}, 404, "account NOPE not found"),
        ("/v1/accounts/A3/recommendation", {"as_of": AS_OF}, 422, "account A3"),
        ("/v1/accounts/x'%20OR%20'1'='1/recommendation", {}, 422, "account_id"),
        ("/v1/accounts/" + "A" * 65 + "/recommendation", {}, 422, "account_id"),
        ("/v1/accounts/A1/recommendation", {"as_of": "not-a-time"}, 422, "as_of"),
        ("/v1/accounts/A1/recommendation", {"as_of": "1990-01-01"}, 422, "no prices"),
        # Issue 10.9: year 1 was a 500 (pandas' nanosecond range); now a 422 naming the range.
        ("/v1/accounts/A1/recommendation", {"as_of": "0001-01-01T00:00:00"}, 422, "1900-01-01"),
        ("/v1/accounts/A1/recommendation", {"as_of": "9999-12-31T23:59:59Z"}, 422, "as_of"),
    ],
)
def test_bad_requests_are_4xx_problem_json(
    api: str, path: str, params: dict[str, str], status: int, detail: str
) -> None:
    response = get(api, path, **params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and detail in body["detail"]


def post(api: str, path: str, body: object, *, key: str | None = KEY) -> httpx.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return httpx.post(f"{api}{path}", headers=headers, json=body, timeout=30)


def test_what_if_takes_a_policy_body_and_echoes_it(api: str, book_lake: LocalLake) -> None:
    path = "/v1/accounts/A1/recommendation"
    default = post(api, path, {"as_of": AS_OF}).json()
    assert default == get(api, path, as_of=AS_OF).json()  # an empty policy: the defaults
    # A wider band: A1's drift now sits inside it.
    wide = post(api, path, {"as_of": AS_OF, "policy": {"band": "absolute", "absolute_band": 0.2}})
    assert wide.status_code == 200, wide.text
    assert wide.json()["trades"] == []  # 15 points of drift sit inside a 20-point band
    assert wide.json()["policy"]["absolute_band"] == 0.2
    full = post(api, path, {"as_of": AS_OF, "policy": {"rebalance_to": "target"}}).json()
    assert sum(t["quantity"] for t in full["trades"]) > sum(
        t["quantity"] for t in default["trades"]
    )
    assert book_lake.list_objects("recommendations") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"policy": {"band": "wide"}}, "body.policy.band"),
        ({"policy": {"relative_band": 1.5}}, "body.policy.relative_band"),
        ({"policy": {"spread_bps": "cheap"}}, "body.policy.spread_bps"),
        ({"policy": {"surprise": 1}}, "body.policy.surprise"),
        ({"policy": {"max_passes": 0}}, "body.policy.max_passes"),
        ({"colour": "red"}, "body.colour"),
        ({"as_of": "0001-01-01T00:00:00"}, "1900-01-01"),
    ],
)
def test_bad_policy_bodies_are_422_naming_the_field(api: str, body: object, field: str) -> None:
    response = post(api, "/v1/accounts/A1/recommendation", body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]


def test_the_openapi_body_schema_is_the_policy_model(api: str) -> None:
    from rebalancer.engine import Policy

    spec = httpx.get(f"{api}/openapi.json", timeout=30).json()
    schema = spec["components"]["schemas"]["Policy"]
    assert set(schema["properties"]) == set(Policy.model_fields)
    assert schema["properties"]["relative_band"]["maximum"] == 1
    assert schema["additionalProperties"] is False
