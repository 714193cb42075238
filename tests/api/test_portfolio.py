"""POST /v1/recommendations over real HTTP: a posted portfolio equal to a book account gets
exactly the trades the book run wrote for it; every bad input is a 4xx naming the field."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pandas as pd
import pytest

from rebalancer.book import BookTables
from tests.api.conftest import KEY


def _date(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def portfolio_of(book: BookTables, account_id: str) -> dict[str, Any]:
    """One stored account as a posted portfolio (holdings with their lots, restrictions)."""
    acc = book.accounts[book.accounts["account_id"] == account_id].iloc[0]
    lots = book.tax_lots[book.tax_lots["account_id"] == account_id]
    holdings = []
    for h in book.holdings[book.holdings["account_id"] == account_id].itertuples():
        mine = lots[lots["symbol"] == h.symbol]
        holding: dict[str, Any] = {"symbol": h.symbol, "quantity": float(h.quantity)}
        if acc["account_type"] == "taxable":
            holding["lots"] = [
                {"lot_id": lot.lot_id, "quantity": float(lot.quantity),
                 "cost_basis": float(lot.cost_basis), "acquired": _date(lot.acquired)}
                for lot in mine.itertuples()
            ]  # fmt: skip
        holdings.append(holding)
    restrictions = book.restrictions[book.restrictions["account_id"] == account_id]
    return {
        "account_id": account_id,
        "account_type": acc["account_type"],
        "cash": float(acc["cash"]),
        "pending_cash_flow": float(acc["pending_cash_flow"]),
        "fractional_shares": bool(acc["fractional_shares"]),
        "last_rebalanced": _date(acc["last_rebalanced"]),
        "model_id": acc["model_id"],
        "holdings": holdings,
        "restrictions": [
            {"symbol": r.symbol, "restriction": r.restriction} for r in restrictions.itertuples()
        ],
    }


def request_for(book: BookTables, account_id: str, as_of: pd.Timestamp) -> dict[str, Any]:
    """The posted request of ``account_id`` with its whole household as context."""
    household = book.household_of(account_id)
    siblings = [a for a in household.accounts["account_id"] if a != account_id]
    trades = [
        {"symbol": t.symbol, "side": t.side, "quantity": float(t.quantity),
         "price": None if pd.isna(t.price) else float(t.price), "trade_date": _date(t.trade_date),
         "realized_gain": 0.0 if pd.isna(t.realized_gain) else float(t.realized_gain),
         "account_id": t.account_id}
        for t in household.transactions.itertuples()
    ]  # fmt: skip
    return {
        **portfolio_of(household, account_id),
        "household": [portfolio_of(household, s) for s in siblings],
        "recent_trades": trades,
        "as_of": as_of.isoformat(),
    }


def post(url: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/recommendations", json=body, headers={"X-API-Key": KEY, **headers}, timeout=60
    )


def test_posted_book_accounts_get_the_trades_the_run_wrote(served: str, generated) -> None:  # type: ignore[no-untyped-def]
    lake, result = generated
    book = BookTables.from_lake(lake)
    written = lake.read("recommendations")
    assert set(written["run_id"]) == {result.run_id}
    traded = list(dict.fromkeys(written["account_id"]))
    untraded = [a for a in book.accounts["account_id"] if a not in set(traded)]
    taxable = set(book.accounts.loc[book.accounts["account_type"] == "taxable", "account_id"])
    chosen = traded[:6] + untraded[:2]
    assert taxable & set(chosen), "the sample must include a taxable account (lots)"
    columns = ["symbol", "side", "quantity", "price", "value", "est_tax", "realized_gain",
               "cost", "reason", "lots", "target_weight", "post_weight"]  # fmt: skip
    for account_id in chosen:
        response = post(served, request_for(book, account_id, result.as_of))
        assert response.status_code == 200, (account_id, response.text)
        body = response.json()
        got = pd.DataFrame(body["trades"], columns=columns)
        want = written[written["account_id"] == account_id][columns].reset_index(drop=True)
        assert len(got) == len(want), account_id
        for column in columns:  # exact: the same engine on the same inputs
            a, b = got[column].tolist(), want[column].tolist()
            assert [None if isinstance(x, float) and math.isnan(x) else x for x in a] == [
                None if isinstance(x, float) and math.isnan(x) else x for x in b
            ], (account_id, column)
        mine = result.recommendation.accounts
        summary = mine[mine["account_id"] == account_id].iloc[0]
        assert body["summary"]["drift_before"] == summary["drift_before"]
        assert body["summary"]["drift_after"] == summary["drift_after"]
        actions = {h["symbol"]: h["action"] for h in body["holdings"]}
        assert {t["symbol"]: t["side"] for t in body["trades"]} == {
            s: a for s, a in actions.items() if a != "HOLD"
        }
        for trade in body["trades"]:  # post-trade weights agree with the engine's
            holding = next(h for h in body["holdings"] if h["symbol"] == trade["symbol"])
            assert holding["weight_after"] == pytest.approx(trade["post_weight"], rel=1e-9)
    assert lake.read("recommendations").shape == written.shape  # nothing written


BASE: dict[str, Any] = {
    "account_type": "ira",
    "cash": 1000.0,
    "targets": {"VTI": 0.6, "BND": 0.4},
    "holdings": [{"symbol": "VTI", "quantity": 10}],
    "prices": {"VTI": 200.0, "BND": 70.0},
    "as_of": "2022-12-29T00:00:00",
}


def test_explicit_targets_and_prices(served: str) -> None:
    response = post(served, BASE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] is None and body["engine_version"]
    assert {h["symbol"]: h["action"] for h in body["holdings"]} == {"VTI": "HOLD", "BND": "BUY"}
    assert body["summary"]["drift_after"] < body["summary"]["drift_before"]


def _with(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


TAXABLE_NO_LOTS = _with(account_type="taxable")
TOO_MANY = _with(holdings=[{"symbol": f"S{i}", "quantity": 1} for i in range(501)])


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        (
            _with(holdings=[{"symbol": "NOPE", "quantity": 1}]),
            422,
            "holdings[0].symbol: unknown symbol NOPE",
        ),
        (_with(targets={"VTI": 0.6, "ZZZZ": 0.4}), 422, "unknown symbol ZZZZ"),
        (_with(holdings=[{"symbol": "VTI", "quantity": -1}]), 422, "body.holdings.0.quantity"),
        (_with(cash=-5), 422, "body.cash"),
        (_with(targets={"VTI": 0.6, "BND": 0.3}), 422, "targets sum to 0.9"),
        (_with(targets={"VTI": 1.5, "BND": -0.5}), 422, "outside [0, 1]"),
        (
            _with(holdings=[{"symbol": "VTI", "quantity": 1}, {"symbol": "VTI", "quantity": 2}]),
            422,
            "listed twice",
        ),
        (
            _with(
                account_type="taxable",
                holdings=[
                    {
                        "symbol": "VTI",
                        "quantity": 10,
                        "lots": [
                            {
                                "lot_id": "L1",
                                "quantity": 4,
                                "cost_basis": 100,
                                "acquired": "2020-01-02",
                            }
                        ],
                    }
                ],
            ),
            422,
            "add up to 4",
        ),
        (TAXABLE_NO_LOTS, 422, "needs the lots of VTI"),
        (_with(model_id="M1"), 422, "exactly one of model_id and targets"),
        (_with(targets=None, model_id="NO-SUCH-MODEL"), 422, "model_id NO-SUCH-MODEL"),
        (_with(prices={"VTI": 0.0}), 422, "not a positive number"),
        (_with(account_type="crypto"), 422, "body.account_type"),
        (_with(policy={"band": "wide"}), 422, "body.policy.band"),
        (_with(as_of="0001-01-01T00:00:00"), 422, "1900-01-01"),
        (_with(colour="red"), 422, "body.colour"),
        (TOO_MANY, 422, "at most 500"),
        ("not an object", 422, "body"),
    ],
)
def test_bad_portfolios_are_4xx_naming_the_field(
    served: str, body: Any, status: int, where: str
) -> None:
    response = post(served, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert where in response.json()["detail"], response.json()


def test_non_finite_numbers_are_422(served: str) -> None:
    raw = b'{"account_type": "ira", "cash": NaN, "targets": {"VTI": 1}, "holdings": []}'
    response = httpx.post(
        f"{served}/v1/recommendations", content=raw,
        headers={"X-API-Key": KEY, "content-type": "application/json"}, timeout=30,
    )  # fmt: skip
    assert response.status_code == 422 and "body.cash" in response.json()["detail"]


def test_malformed_json_is_422(served: str) -> None:
    response = httpx.post(
        f"{served}/v1/recommendations", content=b'{"cash": ',
        headers={"X-API-Key": KEY, "content-type": "application/json"}, timeout=30,
    )  # fmt: skip
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_wrong_content_type_is_415(served: str) -> None:
    response = httpx.post(
        f"{served}/v1/recommendations", content=b"cash=1",
        headers={"X-API-Key": KEY, "content-type": "application/x-www-form-urlencoded"}, timeout=30,
    )  # fmt: skip
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("chunked", [False, True])
def test_body_over_the_limit_is_413(served: str, chunked: bool) -> None:
    big = b'{"pad": "' + b"x" * 1_100_000 + b'"}'
    content: Any = iter([big[:500_000], big[500_000:]]) if chunked else big
    response = httpx.post(
        f"{served}/v1/recommendations", content=content,
        headers={"X-API-Key": KEY, "content-type": "application/json"}, timeout=30,
    )  # fmt: skip
    assert response.status_code == 413
    assert response.json()["status"] == 413
