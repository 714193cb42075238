"""The features that describe how the engine would act on an account once its pending cash
flow lands (the last five columns of ``sql/features/holding_features.sql``): checked against a
pandas reference written from their definitions, on a book with deposits, withdrawals,
do-not-trade and restricted sleeves and short-term gains; the lake, in-memory and
one-household paths give the same values; a rerun gives the same values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.book import BookTables
from rebalancer.lake import LocalLake
from rebalancer.model import holding_features, price_bars
from rebalancer.model._features import book_features
from tests.model.conftest import BOOK_START

AS_OF = BOOK_START + pd.Timedelta(days=1)
NEW = (
    "account_max_band_ratio_tradable",
    "account_max_band_ratio_no_st_gain",
    "buy_fill_left",
    "buy_fill_left_usd",
    "sell_raise_left",
)


@pytest.fixture(scope="module")
def bars(panel: pd.DataFrame) -> pd.DataFrame:
    return price_bars(panel.loc["2022-10-01":BOOK_START])


def with_flows_and_pins(book: BookTables) -> BookTables:
    """The shared book with a deposit in every third account, a withdrawal in every fifth and
    a do-not-trade or restricted sleeve in every fourth (its largest holding)."""
    acc = book.accounts.copy()
    cash = acc["cash"].to_numpy(float)
    n = len(acc)
    flow = np.zeros(n)
    flow[::3] = 0.08 * (cash[::3] + 50_000.0)
    flow[1::5] = -0.05 * (cash[1::5] + 50_000.0)
    acc["pending_cash_flow"] = np.round(flow, 2)
    held = book.holdings.sort_values(["account_id", "quantity"], ascending=[True, False])
    first = held.drop_duplicates("account_id")
    pinned = first[first["account_id"].isin(acc["account_id"].iloc[::4])]
    kinds = np.where(np.arange(len(pinned)) % 2 == 0, "do_not_trade", "restricted")
    pins = pd.DataFrame(
        {
            "account_id": pinned["account_id"].to_numpy(),
            "symbol": pinned["symbol"].to_numpy(),
            "restriction": kinds,
            "reason": "test",
        }
    )
    restrictions = pd.concat([book.restrictions, pins], ignore_index=True)
    restrictions = restrictions.drop_duplicates(["account_id", "symbol", "restriction"])
    return BookTables.from_frames(
        **{**book.frames(), "accounts": acc, "restrictions": restrictions}
    )


@pytest.fixture(scope="module")
def flowing_book(book: BookTables) -> BookTables:
    return with_flows_and_pins(book)


@pytest.fixture(scope="module")
def rows(flowing_book: BookTables, bars: pd.DataFrame) -> pd.DataFrame:
    return book_features(flowing_book, bars, AS_OF)


def reference(d: pd.DataFrame) -> pd.DataFrame:
    """The five columns from the other columns, in pandas (the definitions in the SQL file)."""
    account = d["account_id"]
    tradable = (d["restricted"] == 0) & (d["do_not_trade"] == 0)
    st_sale = (d["is_taxable"] == 1) & (d["drift"] > 0) & (d["st_gain_share"].fillna(0) > 0)
    ratio = d["band_ratio_after_flow"]
    after = d["drift_after_flow"]
    total_after = np.exp(d["log_account_value"]) * (1 + d["flow_share"])

    def before(mask: pd.Series, key: pd.Series, amount: pd.Series, ascending: bool) -> pd.Series:
        """Sum of ``amount`` over the account's rows ahead of each row in ``key`` order
        (ties: symbol, ``ascending`` or not)."""
        frame = pd.DataFrame(
            {"a": account, "k": key, "s": d["symbol"], "x": amount.where(mask, 0.0)}
        ).sort_values(["a", "k", "s"], ascending=[True, True, ascending])
        return (frame.groupby("a")["x"].cumsum() - frame["x"]).reindex(d.index)

    under, over = tradable & (after < 0), tradable & (after > 0)
    fill = (d["cash_gap_after_flow"] - before(under, after, -after, False)).where(under)
    out = pd.DataFrame(index=d.index)
    out["account_max_band_ratio_tradable"] = ratio.where(tradable).groupby(account).transform("max")
    out["account_max_band_ratio_no_st_gain"] = (
        ratio.where(tradable & ~st_sale).groupby(account).transform("max")
    )
    out["buy_fill_left"] = fill
    out["buy_fill_left_usd"] = fill * total_after
    out["sell_raise_left"] = (-d["cash_gap_after_flow"] - before(over, -after, after, True)).where(
        over
    )
    return out


def test_the_book_exercises_every_case(rows: pd.DataFrame) -> None:
    frozen = (rows["restricted"] == 1) | (rows["do_not_trade"] == 1)
    assert frozen.sum() >= 5
    assert (rows["flow_share"] > 0).any() and (rows["flow_share"] < 0).any()
    st_sale = (rows["is_taxable"] == 1) & (rows["drift"] > 0) & (rows["st_gain_share"] > 0)
    assert st_sale.sum() >= 5
    # a frozen sleeve is some account's worst: the tradable maximum is below the plain one
    lower = rows["account_max_band_ratio_tradable"] < rows["account_max_band_ratio_after_flow"]
    assert lower.any()
    assert (
        rows["account_max_band_ratio_no_st_gain"] < rows["account_max_band_ratio_tradable"]
    ).any()


def test_values_match_the_definitions(rows: pd.DataFrame) -> None:
    _assert_new_columns_close(rows, reference(rows), tolerance=1e-9)


def test_fill_order_in_one_deposit_account(rows: pd.DataFrame) -> None:
    """In an account with a deposit, the most underweight tradable sleeve gets the whole cash
    gap; each next one gets what the ones before it leave."""
    deposit = rows[(rows["flow_share"] > 0) & rows["buy_fill_left"].notna()]
    account = deposit.groupby("account_id").size().idxmax()
    mine = deposit[deposit["account_id"] == account].sort_values("drift_after_flow")
    assert len(mine) >= 2
    first = mine.iloc[0]
    assert first["buy_fill_left"] == pytest.approx(first["cash_gap_after_flow"], abs=1e-12)
    left = mine["buy_fill_left"].to_numpy()
    gaps = -mine["drift_after_flow"].to_numpy()
    np.testing.assert_allclose(left[1:], left[0] - np.cumsum(gaps)[:-1], rtol=1e-9, atol=1e-12)


def test_frozen_sleeves_get_no_fill_or_raise(rows: pd.DataFrame) -> None:
    frozen = (rows["restricted"] == 1) | (rows["do_not_trade"] == 1)
    assert rows.loc[frozen, ["buy_fill_left", "sell_raise_left"]].isna().all().all()
    flat = rows["drift_after_flow"] == 0
    assert rows.loc[flat, ["buy_fill_left", "sell_raise_left"]].isna().all().all()


def test_lake_household_and_memory_paths_agree(
    tmp_path_factory: pytest.TempPathFactory,
    flowing_book: BookTables,
    bars: pd.DataFrame,
    rows: pd.DataFrame,
) -> None:
    lake = LocalLake(tmp_path_factory.mktemp("engine-view") / "lake")
    lake.write("market_prices", bars, name="bars")
    for name, frame in flowing_book.frames().items():
        lake.write(name, frame, name="book")
    pd.testing.assert_frame_equal(holding_features(lake, AS_OF), rows)
    for household in rows["household_id"].dropna().unique()[:4]:
        one = holding_features(lake, AS_OF, household=str(household))
        expected = rows[rows["household_id"] == household].reset_index(drop=True)
        pd.testing.assert_frame_equal(one, expected)


def test_a_rerun_gives_the_same_values(
    flowing_book: BookTables, bars: pd.DataFrame, rows: pd.DataFrame
) -> None:
    """The same values up to the last bits: DuckDB sums in no fixed order, so the account's
    total (and every feature divided by it) can differ in the last place between runs."""
    _assert_new_columns_close(book_features(flowing_book, bars, AS_OF), rows, tolerance=1e-12)


def test_every_feature_has_one_reason_family() -> None:
    """A feature in no family would drop its contribution from the reasons silently."""
    from rebalancer.model import model_features
    from rebalancer.model._predict import FAMILIES

    members = [f for names in FAMILIES.values() for f in names]
    assert sorted(members) == sorted(set(members))
    assert set(model_features()) <= set(members), set(model_features()) - set(members)


def _assert_new_columns_close(got: pd.DataFrame, expected: pd.DataFrame, tolerance: float) -> None:
    """Each of the five engine-view columns equal within ``tolerance`` (relative and
    absolute), missing where expected missing; a failure names the column."""
    for column in NEW:
        np.testing.assert_allclose(
            got[column].to_numpy(float),
            expected[column].to_numpy(float),
            rtol=tolerance,
            atol=tolerance,
            equal_nan=True,
            err_msg=column,
        )
