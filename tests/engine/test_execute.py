"""execute(book, recommendation): the book after the trades settle, table by table."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from rebalancer.engine import Policy, execute, recommend_book
from rebalancer.errors import InvalidAccountError
from tests.engine.books import AS_OF, SECURITIES, account, book, holdings, lots

PRICES = {"VTI": 100.0, "BND": 100.0}
POLICY = Policy(rebalance_to="target", spread_bps=0.0, min_trade_value=0.0, lot_method="hifo")


def _book():  # type: ignore[no-untyped-def]
    accounts = pd.DataFrame(
        [
            account("TAX", account_type="taxable", household_id="H1", cash=100.0),
            account("IRA", household_id="H2", pending_cash_flow=1_000.0),
            account("BAD", household_id="H3", model_id="NOPE"),
        ]
    )
    held = pd.concat(
        [holdings("TAX", VTI=800, BND=200), holdings("IRA", VTI=400, BND=600),
         holdings("BAD", VTI=1)]
    )  # fmt: skip
    tax_lots = lots(
        [("TAX", "VTI", "L1", 500, 80.0, "2020-01-02"),
         ("TAX", "VTI", "L2", 300, 120.0, "2024-06-03"),
         ("TAX", "BND", "L3", 200, 110.0, "2021-01-04")]
    )  # fmt: skip
    return book(accounts, held, securities=SECURITIES, tax_lots=tax_lots)


def test_execute_settles_cash_holdings_lots_transactions_and_dates() -> None:
    before = _book()
    rec = recommend_book(before, PRICES, POLICY, as_of=AS_OF)
    after = execute(before, rec)
    acc = after.accounts.set_index("account_id")
    # TAX: 80/20 -> 60/40: sells VTI (hifo: L2 first, cost 120 a unit), buys BND.
    trades = rec.trades.set_index(["account_id", "symbol"])
    sold = trades.loc[("TAX", "VTI"), "quantity"]
    assert trades.loc[("TAX", "VTI"), "side"] == "SELL" and 150 < sold < 300
    assert trades.loc[("TAX", "VTI"), "lots"] == f"L2:{sold}"
    held = after.holdings.set_index(["account_id", "symbol"])["quantity"]
    assert held[("TAX", "VTI")] == 800.0 - sold
    assert held[("TAX", "BND")] == 200.0 + trades.loc[("TAX", "BND"), "quantity"]
    lot = after.tax_lots.set_index("lot_id")
    assert lot.loc["L2", "quantity"] == 300.0 - sold
    assert lot.loc["L2", "cost_basis"] == pytest.approx((300.0 - sold) * 120.0)
    assert lot.loc["L1", "quantity"] == 500.0  # untouched
    new = lot[lot.index.str.startswith("X20241231-TAX-BND")]
    assert len(new) == 1 and new["cost_basis"].iloc[0] == trades.loc[("TAX", "BND"), "value"]
    # Lots still sum to the holdings, so the executed book validates again.
    assert after.tax_lots.groupby("symbol")["quantity"].sum().to_dict() == {
        "VTI": held[("TAX", "VTI")],
        "BND": held[("TAX", "BND")],
    }
    # Cash: the engine's cash_after; the IRA's deposit is consumed.
    summary = rec.accounts.set_index("account_id")
    assert acc.loc["TAX", "cash"] == pytest.approx(summary.loc["TAX", "cash_after"])
    assert acc.loc["IRA", "pending_cash_flow"] == 0.0
    assert str(acc.loc["TAX", "last_rebalanced"]) == "2024-12-31"
    # The rejected account is left as it was.
    assert acc.loc["BAD", "cash"] == 0.0 and acc.loc["BAD", "last_rebalanced"] is None
    assert held[("BAD", "VTI")] == 1.0
    # Every trade is a transaction now, with its household and the day.
    tx = after.transactions
    assert len(tx) == len(rec.trades)
    assert set(tx["household_id"]) == {"H1", "H2"}
    assert set(tx["trade_date"].astype(str)) == {"2024-12-31"}


def test_an_executed_book_needs_nothing_more() -> None:
    before = _book()
    first = recommend_book(before, PRICES, POLICY, as_of=AS_OF)
    again = recommend_book(execute(before, first), PRICES, POLICY, as_of=AS_OF)
    assert again.trades.empty


def test_bad_recommendations_are_refused() -> None:
    before = _book()
    rec = recommend_book(before, PRICES, POLICY, as_of=AS_OF)
    with pytest.raises(InvalidAccountError, match="no as_of"):
        execute(before, dataclasses.replace(rec, as_of=None))
    with pytest.raises(InvalidAccountError, match="account TAX: not in the book"):
        execute(before.select(["IRA"]), rec)
    forged = rec.trades.assign(lots=rec.trades["lots"].str.replace("L2", "L9"))
    with pytest.raises(InvalidAccountError, match="lot L9"):
        execute(before, dataclasses.replace(rec, trades=forged))
