"""The engine remembers checked model tables by content (the API checks the same few models on
every call): a changed table, even one equal but for a value's type or one weight, is checked
anew, and a remembered one gives the very same book."""

from __future__ import annotations

import pandas as pd

from rebalancer.engine import _book, build_book
from tests.engine.generated import AS_OF, generated_book


def _build(tables: dict[str, pd.DataFrame], models: pd.DataFrame) -> _book.Book:
    return build_book(
        tables["accounts"], models, tables["holdings"], tables["prices"], as_of=AS_OF,
        securities=tables["securities"], tax_lots=tables["tax_lots"],
        restrictions=tables["restrictions"], transactions=tables["transactions"],
    )  # fmt: skip


def test_a_changed_model_table_is_checked_anew() -> None:
    tables = generated_book(60, seed=3)
    models = tables["model_portfolios"]
    _book._MODEL_TABLES.clear()
    first = _build(tables, models)
    assert len(_book._MODEL_TABLES) == 1 and first.rejected.empty
    again = _build(tables, models.copy())  # equal content: remembered, same book
    assert len(_book._MODEL_TABLES) == 1
    pd.testing.assert_frame_equal(again.rejected, first.rejected)
    for name in ("account_id", "symbol", "quantity", "target", "price"):
        assert (getattr(again.arrays, name) == getattr(first.arrays, name)).all(), name

    skewed = models.copy()
    row = skewed.index[skewed["symbol"] != "CASH"][0]
    skewed.loc[row, "target_weight"] += 0.25  # its model's targets no longer sum to 1
    bad_model = str(skewed.loc[row, "model_id"])
    broken = _build(tables, skewed)
    assert len(_book._MODEL_TABLES) == 2
    users = set(tables["accounts"].loc[tables["accounts"]["model_id"] == bad_model, "account_id"])
    assert users and set(broken.rejected["account_id"]) >= users
    assert broken.rejected["reason"].str.contains(f"targets of model {bad_model} sum to").any()
    # Back to the original table: the remembered, valid result again.
    assert _build(tables, models).rejected.empty
