"""A posted portfolio whose model has a CASH sleeve needs no price for it: the sleeve is the
account's cash, with or without a lake."""

from __future__ import annotations

import pandas as pd
import pytest

from rebalancer.book import BookTables
from rebalancer.engine import Policy
from rebalancer.errors import MarketDataError
from rebalancer.usecases import book_symbols, recommend_portfolio
from tests.engine.books import SECURITIES, account, holdings, lots, model

PRICES = pd.Series({"VTI": 100.0, "BND": 100.0})


def _book(cash_weight: float) -> BookTables:
    weights = {"VTI": 0.6 - cash_weight, "BND": 0.4}
    if cash_weight:
        weights["CASH"] = cash_weight
    return BookTables.from_mapping(
        {
            "accounts": pd.DataFrame([account("A1", cash=10_000.0)]),
            "holdings": holdings("A1", VTI=100.0, BND=20.0),
            "tax_lots": lots(
                [
                    ("A1", "VTI", "L1", 100.0, 80.0, "2020-01-02"),
                    ("A1", "BND", "L2", 20.0, 90.0, "2020-01-02"),
                ]
            ),
            "model_portfolios": model("M6040", **weights),
            "securities": SECURITIES,
        }
    )


def test_cash_is_not_a_symbol_to_price() -> None:
    assert book_symbols(_book(0.1)) == {"VTI", "BND"}


def test_a_cash_sleeve_is_kept_as_cash_without_a_lake() -> None:
    rec = recommend_portfolio(_book(0.1), prices=PRICES, as_of="2024-12-31", policy=Policy())
    assert rec.rejected.empty
    summary = rec.accounts.iloc[0]
    value = float(summary["account_value"])
    # 22,000 in all: BND is bought up to 40% and about 10% stays cash, as the sleeve says
    assert set(rec.trades["symbol"]) <= {"VTI", "BND"}
    assert float(summary["cash_after"]) == pytest.approx(0.10 * value, abs=100.0 + 1e-9)
    without = recommend_portfolio(_book(0.0), prices=PRICES, as_of="2024-12-31", policy=Policy())
    assert float(without.accounts.iloc[0]["cash_after"]) < float(summary["cash_after"])


def test_a_missing_price_is_still_named() -> None:
    with pytest.raises(MarketDataError, match="no price given for BND"):
        recommend_portfolio(_book(0.1), prices=PRICES.drop("BND"), as_of="2024-12-31")
