"""The Book page's figures computed in the lake's engine (``sql/reports/book_*.sql``) against
the engine's own drift and against the pandas computation they replaced (``_priced`` on every
position of the book, still what the Account page's holdings use for one household)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rebalancer.book import generate_book, write_book
from rebalancer.lake import LocalLake
from rebalancer.market import book_as_of, load_prices, seed_securities
from rebalancer.usecases import reports, run_recommendations
from rebalancer.usecases._reports import _book_query, _book_sql, _priced, report_sql
from tests.api.conftest import daily_bars
from tests.book.conftest import make_panel

N_ACCOUNTS = 300
FIGURES = ["value", "drift", "cash_weight", "cash_target", "cash_to_deploy"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalLake, Any, Any]]:
    """(lake, run result, the book's one chunk): a generated book and one written run."""
    panel = make_panel("2020-01-01")
    lake = LocalLake(tmp_path_factory.mktemp("book-sql") / "lake")
    seed_securities(lake)
    lake.write("market_prices", daily_bars(panel))
    chunks = list(generate_book(N_ACCOUNTS, seed=11, prices=panel, chunk_size=N_ACCOUNTS))
    assert len(chunks) == 1
    write_book(lake, chunks)
    result = run_recommendations(lake, write=True)
    yield lake, result, chunks[0]
    lake.close()


def _odd_chunk(chunk: Any) -> tuple[Any, dict[str, str]]:
    """The chunk with the cases the engine refuses but the Book page must show."""
    tables = {name: frame.copy() for name, frame in chunk.tables.items()}
    acc, hold, models = tables["accounts"], tables["holdings"], tables["model_portfolios"]
    ids = list(acc["account_id"])
    role = {"unpriced": ids[0], "zero": ids[1], "negative": ids[2], "duplicate": ids[3],
            "unpriced_target": ids[4], "zero_quantity_unpriced": ids[5], "cash_row": ids[6]}  # fmt: skip
    extra = [
        {"account_id": role["unpriced"], "symbol": "NOPRICE", "quantity": 5.0},
        {"account_id": role["zero_quantity_unpriced"], "symbol": "NOPRICE", "quantity": 0.0},
        {"account_id": role["cash_row"], "symbol": "CASH", "quantity": 100.0},
    ]
    first = hold[hold["account_id"] == role["duplicate"]].index[0]
    hold.loc[first, "quantity"] = hold.loc[first, "quantity"] / 2
    extra.append(hold.loc[first].to_dict())  # the same (account, symbol) twice
    hold = pd.concat([hold, pd.DataFrame(extra)], ignore_index=True)
    hold.loc[hold["account_id"] == role["zero"], "quantity"] = 0.0
    acc.loc[acc["account_id"] == role["zero"], ["cash", "pending_cash_flow"]] = 0.0
    acc.loc[acc["account_id"] == role["negative"], "pending_cash_flow"] = -1e9
    # A model targeting a symbol with no price (held by nobody): its leg has no weight.
    base = acc.loc[acc["account_id"] == role["unpriced_target"], "model_id"].iloc[0]
    odd = models[models["model_id"] == base].assign(model_id="ODD-MODEL")
    odd.loc[odd["symbol"] == "CASH", "target_weight"] -= 0.01
    odd = pd.concat([odd, pd.DataFrame([{"model_id": "ODD-MODEL", "symbol": "NOPRICE2",
                                         "target_weight": 0.01}])])  # fmt: skip
    tables["model_portfolios"] = pd.concat([models, odd], ignore_index=True)
    acc.loc[acc["account_id"] == role["unpriced_target"], "model_id"] = "ODD-MODEL"
    tables["accounts"], tables["holdings"] = acc, hold
    return replace(chunk, tables=tables), role


@pytest.fixture(scope="module")
def odd(generated, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """(lake, roles): a copy of the generated lake (its run too) with an odd book version."""
    lake, _, chunk = generated
    root = tmp_path_factory.mktemp("book-sql-odd") / "lake"
    shutil.copytree(lake.root, root)
    copy = LocalLake(root)
    changed, role = _odd_chunk(chunk)
    write_book(copy, [changed])
    yield copy, role
    copy.close()


def _pandas_figures(lake: LocalLake, as_of: pd.Timestamp | None) -> tuple[Any, Any, list[str]]:
    """The old computation: every position of the book into pandas, then ``_priced``."""
    params = {"household_id": None}
    positions = lake.query(report_sql("positions"), params=params)
    accounts = lake.query(report_sql("accounts"), params=params)
    prices = load_prices(lake, as_of) if as_of is not None else pd.Series(dtype=float)
    per_account, per_position, unpriced = _priced(positions, accounts, prices)
    return per_account, per_position.merge(accounts[["account_id", "risk_profile"]]), unpriced


def _pandas_class_drift(per_position: pd.DataFrame, priced: pd.Index) -> pd.DataFrame:
    """The old ``_class_drift`` (pandas), over the priced accounts."""
    rows = per_position[per_position["account_id"].isin(priced)]
    by_class = rows.groupby(["account_id", "risk_profile", "asset_class"])[
        ["weight", "target_weight"]
    ].sum(min_count=1)
    by_class["dev"] = (by_class["weight"] - by_class["target_weight"]).abs()
    by_class = by_class.dropna(subset=["dev"]).reset_index()
    return (
        by_class.groupby(["asset_class", "risk_profile"])
        .agg(drift=("dev", "mean"), accounts=("account_id", "nunique"))
        .reset_index()
    )


def _assert_figures_match(lake: LocalLake, report: reports.BookReport) -> pd.DataFrame:
    expected, per_position, unpriced = _pandas_figures(lake, report.as_of)
    prices = load_prices(lake, report.as_of)
    mine = _book_query(lake, "accounts", prices, None).set_index("account_id")
    assert list(mine.index) == sorted(expected.index)
    expected = expected.loc[mine.index]
    for column in FIGURES:
        np.testing.assert_allclose(
            mine[column].astype(float), expected[column].astype(float), rtol=1e-12, atol=1e-12,
            err_msg=column,
        )  # fmt: skip
    shown = report.accounts.set_index("account_id")
    for column in ("value", "drift", "cash_to_deploy"):
        np.testing.assert_allclose(shown[column], expected[column], rtol=1e-12, atol=1e-12)
    assert report.unpriced == unpriced
    assert list(mine.index[mine["unpriced"]]) == list(expected.index[expected["value"].isna()])
    want = _pandas_class_drift(per_position, expected.index[expected["value"].notna()])
    got = report.class_drift
    assert list(got.columns) == ["asset_class", "risk_profile", "drift", "accounts"]
    assert got[["asset_class", "risk_profile"]].values.tolist() == (
        want[["asset_class", "risk_profile"]].values.tolist()
    )
    np.testing.assert_allclose(got["drift"], want["drift"], rtol=1e-12, atol=1e-12)
    assert got["accounts"].tolist() == want["accounts"].tolist()
    return mine


def test_sql_drift_is_the_engines(generated) -> None:  # type: ignore[no-untyped-def]
    lake, result, _ = generated
    report = reports.book_report(lake)
    engine = result.recommendation.accounts.set_index("account_id")
    mine = report.accounts.set_index("account_id")
    assert len(mine) == len(engine) == N_ACCOUNTS
    np.testing.assert_allclose(mine.loc[engine.index, "drift"], engine["drift_before"], atol=1e-12)
    np.testing.assert_allclose(mine.loc[engine.index, "value"], engine["account_value"], rtol=1e-12)
    assert report.unpriced == []
    _assert_figures_match(lake, report)


def test_sql_matches_pandas_on_odd_accounts(odd) -> None:  # type: ignore[no-untyped-def]
    lake, role = odd
    report = reports.book_report(lake)
    assert report.run.run_id is not None
    mine = _assert_figures_match(lake, report)
    assert report.unpriced == ["NOPRICE"]
    assert np.isnan(mine.loc[role["unpriced"], "value"])
    assert np.isnan(mine.loc[role["unpriced"], "drift"])
    assert mine.loc[role["unpriced"], "cash_to_deploy"] == 0.0
    assert not mine.loc[role["zero_quantity_unpriced"], "unpriced"]
    zero = mine.loc[role["zero"]]
    assert zero["value"] == 0.0 and zero["cash_weight"] == 0.0
    assert zero["drift"] == pytest.approx(0.5)  # every leg |0 - target|, targets sum to 1
    assert mine.loc[role["negative"], "value"] < 0
    assert mine.loc[role["negative"], "cash_to_deploy"] == 0.0
    assert (mine["cash_target"] > 0).all()  # every generated model has a CASH sleeve
    summary = report.summary()
    assert summary.accounts == N_ACCOUNTS
    assert summary.assets == pytest.approx(float(np.nansum(mine["value"])), rel=1e-12)


def test_household_path_agrees_with_the_book(odd) -> None:  # type: ignore[no-untyped-def]
    lake, role = odd
    book = reports.book_report(lake).accounts.set_index("account_id")
    for account_id in (role["duplicate"], role["cash_row"], role["unpriced"], role["zero"]):
        report = reports.account_report(lake, account_id)
        for column in ("value", "drift", "cash_to_deploy"):
            np.testing.assert_allclose(
                float(report.account[column] if report.account[column] is not None else np.nan),
                book.loc[account_id, column], rtol=1e-12, equal_nan=True,
            )  # fmt: skip
    # Holdings (per position, pandas) give the account's drift (the engine's measure).
    report = reports.account_report(lake, role["duplicate"])
    held = report.holdings
    legs = (held["weight"].astype(float) - held["target_weight"].astype(float)).abs().sum()
    assert report.account["drift"] == pytest.approx(legs / 2, rel=1e-12)


def test_no_prices_leaves_every_holding_account_unpriced(generated) -> None:  # type: ignore[no-untyped-def]
    lake, _, _ = generated
    empty = pd.Series(dtype=float)
    sql, params = _book_sql("accounts", empty, None)
    assert "/* price rows */\n" in sql  # no row after the typed NULL one
    assert params == {"household_id": None}
    mine = _book_query(lake, "accounts", empty, None).set_index("account_id")
    positions = lake.query(report_sql("positions"), params={"household_id": None})
    accounts = lake.query(report_sql("accounts"), params={"household_id": None})
    expected, _, unpriced = _priced(positions, accounts, empty)
    for column in FIGURES:
        np.testing.assert_allclose(mine[column], expected.loc[mine.index, column], atol=1e-12)
    found = _book_query(lake, "unpriced", empty, None)
    assert sorted(found["symbol"]) == unpriced and len(unpriced) > 5


def test_prices_go_through_params_not_the_text(generated) -> None:  # type: ignore[no-untyped-def]
    lake, result, _ = generated
    prices = load_prices(lake, result.as_of)
    odd = pd.concat([prices, pd.Series({"O'X; DROP": 1.5, "NAN": float("nan")})])
    sql, params = _book_sql("accounts", odd, "H1")
    assert "O'X" not in sql and "1.5" not in sql
    assert params["household_id"] == "H1"
    assert "O'X; DROP" in params.values() and len(params) == 1 + 2 * len(prices) + 2
    both = _book_query(lake, "accounts", odd, None).set_index("account_id")
    plain = _book_query(lake, "accounts", prices, None).set_index("account_id")
    pd.testing.assert_frame_equal(both, plain)


def test_book_sql_runs_per_household(generated) -> None:  # type: ignore[no-untyped-def]
    lake, result, _ = generated
    prices = load_prices(lake, result.as_of)
    book = _book_query(lake, "accounts", prices, None).set_index("account_id")
    household = str(book["household_id"].iloc[0])
    mine = _book_query(lake, "accounts", prices, household).set_index("account_id")
    assert set(mine["household_id"]) == {household}
    assert set(mine.index) == set(book.index[book["household_id"] == household])
    pd.testing.assert_frame_equal(mine, book.loc[mine.index])


def test_empty_book_sql(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "empty")
    assert _book_query(lake, "accounts", pd.Series({"SPY": 1.0}), None).empty
    assert _book_query(lake, "class_drift", pd.Series(dtype=float), None).empty


def test_before_any_run_drift_is_at_the_books_as_of(generated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lake, _, chunk = generated
    fresh = LocalLake(tmp_path / "fresh")
    seed_securities(fresh)
    fresh.write("market_prices", lake.read("market_prices"))
    write_book(fresh, [chunk])
    report = reports.book_report(fresh)
    assert report.run.run_id is None
    tables = chunk.tables
    symbols = set(tables["holdings"]["symbol"]) | set(tables["model_portfolios"]["symbol"])
    assert report.as_of == book_as_of(fresh, symbols - {"CASH"})
    assert (report.accounts["status"] == "no_run").all()
    _assert_figures_match(fresh, report)
    # One household: priced where its own symbols all have a close.
    first = tables["accounts"].iloc[0]
    mine = tables["accounts"][tables["accounts"]["household_id"] == first["household_id"]]
    held = tables["holdings"][tables["holdings"]["account_id"].isin(mine["account_id"])]
    models = tables["model_portfolios"]
    targeted = models[models["model_id"].isin(mine["model_id"])]
    own = (set(held["symbol"]) | set(targeted["symbol"])) - {"CASH"}
    assert reports.account_report(fresh, str(first["account_id"])).as_of == book_as_of(fresh, own)
    fresh.close()
