"""BookTables: validated on construction, read whole or by household from the lake."""

from __future__ import annotations

import pandas as pd
import pytest

from rebalancer.book import BookTables
from rebalancer.errors import NotFoundError, SchemaValidationError
from rebalancer.lake import LocalLake
from tests.engine.books import SECURITIES, account, holdings, lots, model

HOSTILE = "O'Brien\\ -- ü 📈 /* x */;"


def _frames() -> dict[str, pd.DataFrame]:
    return {
        "accounts": pd.DataFrame(
            [account("A1", household_id="H1", account_type="taxable"),
             account("A2", household_id="H1"), account(HOSTILE, household_id=HOSTILE),
             account("A4", household_id="H4", model_id="M2")]
        ),
        "model_portfolios": pd.concat([model(), model("M2", VTI=1.0)]),
        "holdings": pd.concat(
            [holdings("A1", VTI=10), holdings("A2", BND=5), holdings(HOSTILE, VTI=1),
             holdings("A4", VTI=2)]
        ),
        "tax_lots": lots([("A1", "VTI", "L1", 10, 90.0, "2020-01-02")]),
        "transactions": pd.DataFrame(
            [{"transaction_id": "T1", "account_id": "A2", "household_id": "H1", "symbol": "BND",
              "side": "SELL", "quantity": 1.0, "price": 90.0, "trade_date": "2024-12-20",
              "realized_gain": -10.0}]
        ),
        "securities": SECURITIES,
    }  # fmt: skip


def test_missing_tables_are_empty_and_select_keeps_households_and_models() -> None:
    book = BookTables.from_frames(**_frames())
    assert BookTables.from_frames(
        accounts=book.accounts, model_portfolios=book.model_portfolios, holdings=book.holdings
    ).tax_lots.empty
    sub = book.select(["A2"])
    assert list(sub.accounts["account_id"]) == ["A2"]
    assert list(sub.transactions["transaction_id"]) == ["T1"]  # the household's trades
    assert set(sub.model_portfolios["model_id"]) == {"M6040"}
    assert sub.tax_lots.empty and len(sub.securities) == len(SECURITIES)
    assert book.households() == {"H1": ("A1", "A2"), HOSTILE: (HOSTILE,), "H4": ("A4",)}
    assert list(book.household_of("A2").accounts["account_id"]) == ["A1", "A2"]
    with pytest.raises(NotFoundError, match="account NOPE not found"):
        book.household_of("NOPE")


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        ("holdings", lambda f: f.drop(columns=["quantity"]), "holdings: missing column(s) quantity"),
        ("accounts", lambda f: f.assign(cash=[0.0, "lots", 1.0, 2.0]), "accounts row 1: cash 'lots' is not a number"),
        ("tax_lots", lambda f: f.assign(acquired=["someday"]), "tax_lots row 0: acquired 'someday' is not a date"),
        ("model_portfolios", lambda f: f.assign(target_weight="x"), "model_portfolios row 0: target_weight 'x' is not a number (and 2 more row(s))"),
    ],
)  # fmt: skip
def test_bad_frames_name_the_table_and_the_first_bad_row(table, change, message) -> None:  # type: ignore[no-untyped-def]
    frames = _frames()
    frames[table] = change(frames[table].reset_index(drop=True))
    with pytest.raises(SchemaValidationError) as info:
        BookTables.from_frames(**frames)
    assert str(info.value) == message


def test_from_lake_reads_the_whole_book_or_one_household_through_parameters(
    lake: LocalLake,
) -> None:
    for name, frame in _frames().items():
        lake.write(name, frame)
    whole = BookTables.from_lake(lake)
    assert len(whole) == 4 and len(whole.holdings) == 4
    family = BookTables.from_lake(lake, household_of="A2")
    assert sorted(family.accounts["account_id"]) == ["A1", "A2"]
    assert sorted(family.holdings["account_id"]) == ["A1", "A2"]
    assert list(family.tax_lots["lot_id"]) == ["L1"]
    assert list(family.transactions["transaction_id"]) == ["T1"]
    # Quotes, backslashes, comment markers and unicode travel as values, not SQL.
    hostile = BookTables.from_lake(lake, household_of=HOSTILE)
    assert list(hostile.accounts["account_id"]) == [HOSTILE]
    assert list(hostile.holdings["quantity"]) == [1.0]
    assert hostile.transactions.empty
    with pytest.raises(NotFoundError):
        BookTables.from_lake(lake, household_of="' OR '1'='1")
