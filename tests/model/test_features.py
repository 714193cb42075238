"""Features in SQL: one Athena text, read through Lake.query for the whole book (training,
batch) and for one household (API scoring); both paths give the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.book import BookTables
from rebalancer.errors import ConfigError
from rebalancer.lake import LocalLake, bind_params, get_schema, parse_athena
from rebalancer.model import (
    KEY_COLUMNS,
    book_features,
    feature_names,
    features_sql,
    holding_features,
    model_features,
    price_bars,
)
from rebalancer.model._features import feature_params
from tests.model.conftest import BOOK_START


@pytest.fixture(scope="module")
def as_of() -> pd.Timestamp:
    return BOOK_START + pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def book_lake(
    tmp_path_factory: pytest.TempPathFactory, book: BookTables, panel: pd.DataFrame
) -> LocalLake:
    lake = LocalLake(tmp_path_factory.mktemp("features") / "lake")
    lake.write("market_prices", price_bars(panel.loc["2022-10-01":BOOK_START]), name="bars")
    for name, frame in book.frames().items():
        lake.write(name, frame, name="book")
    return lake


@pytest.fixture(scope="module")
def whole(book_lake: LocalLake, as_of: pd.Timestamp) -> pd.DataFrame:
    return holding_features(book_lake, as_of)


def test_sql_is_athena_and_columns_match_the_schema(
    whole: pd.DataFrame, as_of: pd.Timestamp
) -> None:
    parse_athena(bind_params(features_sql(), feature_params(as_of)))  # Athena's dialect
    schema = get_schema("decision_features").column_names
    assert list(whole.columns) == [c for c in schema if c != "as_of"]
    assert tuple(whole.columns[: len(KEY_COLUMNS)]) == KEY_COLUMNS
    assert feature_names(whole) == model_features() and len(model_features()) == 44
    assert whole[feature_names(whole)].dtypes.eq("float64").all()


def test_one_household_equals_its_rows_of_the_whole_book(
    book_lake: LocalLake, whole: pd.DataFrame, as_of: pd.Timestamp, book: BookTables
) -> None:
    households = book.accounts["household_id"].dropna().astype(str).unique()
    assert len(households) > 3
    for household in households[:4]:
        one = holding_features(book_lake, as_of, household=household)
        expected = whole[whole["household_id"] == household].reset_index(drop=True)
        assert len(one) > 0
        pd.testing.assert_frame_equal(one, expected)


def test_features_make_sense(whole: pd.DataFrame, book: BookTables, panel: pd.DataFrame) -> None:
    acc = book.accounts.set_index("account_id")
    row = whole[(whole["held"] == 1) & (whole["target"] > 0)].iloc[0]
    np.testing.assert_allclose(row["drift"], row["weight"] - row["target"])
    np.testing.assert_allclose(
        row["band_ratio"], abs(row["drift"]) / max(0.2 * row["target"], 0.02)
    )
    qty = book.holdings.loc[
        (book.holdings["account_id"] == row["account_id"])
        & (book.holdings["symbol"] == row["symbol"]),
        "quantity",
    ].sum()
    price = panel.loc[BOOK_START, row["symbol"]]
    total = row["log_account_value"]
    np.testing.assert_allclose(np.exp(total) * row["weight"], qty * price, rtol=1e-9)
    taxable = acc.loc[whole["account_id"], "account_type"].eq("taxable").to_numpy()
    np.testing.assert_array_equal(whole["is_taxable"].to_numpy() == 1, taxable)
    # sleeves per account: held or in the model; weights plus cash share sum to one
    sums = (
        whole.groupby("account_id")["weight"].sum()
        + whole.groupby("account_id")["cash_share"].first()
    )
    np.testing.assert_allclose(sums.to_numpy(), 1.0, rtol=1e-9)


def test_scratch_lake_path_gives_the_same_rows(
    whole: pd.DataFrame, book: BookTables, panel: pd.DataFrame, as_of: pd.Timestamp
) -> None:
    """A book the lake does not hold (a simulated date) runs the same SQL on a scratch lake."""
    scratch = book_features(book, price_bars(panel.loc["2022-10-01":BOOK_START]), as_of)
    pd.testing.assert_frame_equal(scratch, whole)


def test_hostile_household_is_a_value_not_sql(book_lake: LocalLake, as_of: pd.Timestamp) -> None:
    assert holding_features(book_lake, as_of, household="x' OR '1'='1").empty
    with pytest.raises(ConfigError, match="household"):
        holding_features(book_lake, as_of, household="")
