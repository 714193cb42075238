"""The read routes over real HTTP on a generated book with one run written: accounts (filters,
cursor pages), one account, runs, one run, models (none registered), market prices, ready."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import GENERATED_ACCOUNTS, KEY


def get(url: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{url}{path}", params=params, headers={"X-API-Key": KEY}, timeout=60)


def test_accounts_pages_cover_the_book_once_in_order(served: str, generated) -> None:  # type: ignore[no-untyped-def]
    lake, result = generated
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        body = get(served, "/v1/accounts", **params).json()
        assert body["run_id"] == result.run_id
        seen += [a["account_id"] for a in body["accounts"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(lake.read("accounts")["account_id"])
    assert len(seen) == GENERATED_ACCOUNTS and pages == -(-GENERATED_ACCOUNTS // 7)


def test_needs_rebalance_is_the_run_s_traded_accounts(served: str, generated) -> None:  # type: ignore[no-untyped-def]
    _lake, result = generated
    traded = set(result.rows["account_id"])
    yes = get(served, "/v1/accounts", needs_rebalance="true", limit=500).json()["accounts"]
    no = get(served, "/v1/accounts", needs_rebalance="false", limit=500).json()["accounts"]
    assert {a["account_id"] for a in yes} == traded
    assert not traded & {a["account_id"] for a in no}
    assert all(a["status"] == "rebalance" and a["drift_before"] is not None for a in yes)
    assert all(a["status"] == "no_trades" and a["trades"] == 0 for a in no)
    drift = result.recommendation.accounts.set_index("account_id")["drift_before"]
    for account in yes:
        assert account["drift_before"] == pytest.approx(drift[account["account_id"]])


def test_filters_by_advisor_and_household(served: str, generated) -> None:  # type: ignore[no-untyped-def]
    lake, _ = generated
    accounts = lake.read("accounts")
    advisor = accounts["advisor_id"].iloc[0]
    household = accounts["household_id"].iloc[-1]
    got = get(served, "/v1/accounts", advisor_id=advisor, limit=500).json()["accounts"]
    assert {a["account_id"] for a in got} == set(
        accounts.loc[accounts["advisor_id"] == advisor, "account_id"]
    )
    got = get(served, "/v1/accounts", household_id=household).json()["accounts"]
    assert {a["account_id"] for a in got} == set(
        accounts.loc[accounts["household_id"] == household, "account_id"]
    )
    assert get(served, "/v1/accounts", advisor_id="x' OR '1'='1").status_code == 422


@pytest.mark.parametrize("cursor", ["zzz", "!!!", "eyJhIjogMX0", "e30", "x" * 600])
def test_bad_cursor_is_4xx(served: str, cursor: str) -> None:
    response = get(served, "/v1/accounts", cursor=cursor)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_cursor_from_other_filters_is_refused(served: str) -> None:
    cursor = get(served, "/v1/accounts", limit=2).json()["next_cursor"]
    response = get(served, "/v1/accounts", limit=2, cursor=cursor, needs_rebalance="true")
    assert response.status_code == 400 and "other filters" in response.json()["detail"]


def test_one_account(served: str, generated) -> None:  # type: ignore[no-untyped-def]
    lake, result = generated
    account_id = result.rows["account_id"].iloc[0]
    body = get(served, f"/v1/accounts/{account_id}").json()
    assert body["status"] == "rebalance" and body["run_id"] == result.run_id
    holdings = lake.read("holdings")
    assert {h["symbol"] for h in body["holdings"]} == set(
        holdings.loc[holdings["account_id"] == account_id, "symbol"]
    )
    missing = get(served, "/v1/accounts/NOPE")
    assert missing.status_code == 404 and missing.json()["detail"] == "account NOPE not found"


def test_runs_and_one_run(served: str, generated) -> None:  # type: ignore[no-untyped-def]
    _, result = generated
    runs = get(served, "/v1/runs").json()["runs"]
    assert [r["run_id"] for r in runs] == [result.run_id]
    summary = result.recommendation.summary()
    one = get(served, f"/v1/runs/{result.run_id}").json()
    assert one["trades"] == summary["trades"]
    assert one["accounts_traded"] == summary["accounts_traded"]
    assert one["turnover"] == pytest.approx(summary["turnover_usd"])
    assert one["policy"]["band"] == "hybrid"
    assert get(served, "/v1/runs/0000").status_code == 404
    assert get(served, "/v1/runs", limit=0).status_code == 422


def test_models_are_404_until_one_is_registered(served: str) -> None:
    for path in ("/v1/models/current", "/v1/models/2026-01-01"):
        response = get(served, path)
        assert response.status_code == 404
        assert "no model registered" in response.json()["detail"]


def test_market_prices_bounded(served: str, generated) -> None:  # type: ignore[no-untyped-def]
    body = get(
        served, "/v1/market/prices", symbols="VTI,BND", start="2022-12-01", end="2022-12-31"
    ).json()
    assert {b["symbol"] for b in body["bars"]} == {"VTI", "BND"}
    keys = [(b["symbol"], b["ts"]) for b in body["bars"]]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    too_long = get(served, "/v1/market/prices", symbols="VTI", start="2000-01-01", end="2022-12-31")
    assert too_long.status_code == 422 and "3660 days" in too_long.json()["detail"]
    five = get(served, "/v1/market/prices", symbols="VTI", start="2022-01-01", end="2022-12-31",
               interval="5m")  # fmt: skip
    assert five.status_code == 422 and "31 days" in five.json()["detail"]
    many = ",".join(f"S{i}" for i in range(51))
    assert get(served, "/v1/market/prices", symbols=many, start="2022-12-01",
               end="2022-12-02").status_code == 422  # fmt: skip
    backwards = get(
        served, "/v1/market/prices", symbols="VTI", start="2022-12-31", end="2022-12-01"
    )
    assert backwards.status_code == 400


def test_ready_and_health_need_no_key(served: str) -> None:
    assert httpx.get(f"{served}/health", timeout=30).json()["status"] == "ok"
    ready = httpx.get(f"{served}/ready", timeout=30)
    assert ready.status_code == 200 and ready.json()["lake"] == "ok"
