"""The Account page with a registered model: each holding shows the model's action, confidence
and reasons, the same advice the engine's run with ``policy.model=advise`` gives that account
(the what-if report carries it from the API or the in-process use case alike)."""

# ruff: noqa: F811 - the model tests' fixtures are imported by name and requested as arguments

from __future__ import annotations

import pandas as pd
import pytest

from rebalancer.book import BookTables
from rebalancer.engine import Policy
from rebalancer.lake import LocalLake
from rebalancer.usecases import reports, run_recommendations
from tests.dashboard.conftest import app_on
from tests.model.conftest import (  # noqa: F401 - fixtures: a small simulated lake + model
    book,
    panel,
    registered,
    sim_dates,
    sim_lake,
    simulation,
)
from tests.model.test_advise import AS_OF, _book_lake
from tests.model.test_serving_paths import copy_models


@pytest.fixture(scope="module")
def advised_lake(
    tmp_path_factory: pytest.TempPathFactory,
    book: BookTables,
    panel: pd.DataFrame,
    sim_lake: LocalLake,
    registered: dict,
) -> LocalLake:
    """The book, its prices, the small model (current) and one written run (model off)."""
    lake = _book_lake(tmp_path_factory.mktemp("advice") / "lake", book, panel)
    copy_models(sim_lake, lake)
    run_recommendations(lake, as_of=AS_OF, policy=Policy())
    return lake


def _expected(lake: LocalLake, account_id: str) -> pd.DataFrame:
    result = run_recommendations(
        lake, as_of=AS_OF, account_id=account_id, policy=Policy(model="advise"), write=False
    )
    advice = result.recommendation.advice
    assert advice is not None
    mine = advice[advice["account_id"] == account_id]
    return mine.sort_values("symbol").reset_index(drop=True)


def test_what_if_report_carries_the_models_advice(advised_lake: LocalLake) -> None:
    account_id = str(BookTables.from_lake(advised_lake).accounts["account_id"].iloc[0])
    expected = _expected(advised_lake, account_id)
    got = reports.what_if(advised_lake, account_id, Policy(model="advise"), as_of=AS_OF)
    assert len(got.advice) == len(expected) > 0
    assert list(got.advice["symbol"]) == list(expected["symbol"])
    assert list(got.advice["model_action"]) == list(expected["model_action"])
    assert got.advice["model_confidence"].tolist() == pytest.approx(
        expected["model_confidence"].astype(float).tolist()
    )
    assert not got.advice["pinned"].any()
    plain = reports.what_if(advised_lake, account_id, Policy(), as_of=AS_OF)
    assert plain.advice.empty  # model off: no advice


def test_account_page_shows_each_holdings_model_action(
    advised_lake: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REBALANCER_API_URL", raising=False)  # in process, no API
    account_id = str(BookTables.from_lake(advised_lake).accounts["account_id"].iloc[0])
    at = app_on(advised_lake.root, monkeypatch, "views/account.py", account_id=account_id)
    assert not at.error, [e.value for e in at.error]
    table = next(d.value for d in at.dataframe if "model_action" in d.value.columns)
    expected = _expected(advised_lake, account_id).set_index("symbol")
    shown = table.dropna(subset=["model_action"]).set_index("symbol")
    assert len(shown) > 0
    assert set(shown.index) <= set(expected.index)
    for symbol, row in shown.iterrows():
        assert row["model_action"] == expected.loc[symbol, "model_action"]
        assert float(row["model_confidence"]) == pytest.approx(
            float(expected.loc[symbol, "model_confidence"])
        )
    assert any("advice" in c.value for c in at.caption)
