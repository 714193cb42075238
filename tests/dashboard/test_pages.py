"""Every page under Streamlit's AppTest on the generated lake: no exception, and the figures
the lake holds; an empty lake and a failing API show a message instead of a traceback."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path

import pytest

from rebalancer.usecases import reports
from tests.dashboard.conftest import app_on, metrics

PAGES = ["views/book.py", "views/account.py", "views/market.py", "views/runs.py",
         "views/model.py", "views/backtests.py"]  # fmt: skip


def test_book_page(dash_lake, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    lake, result = dash_lake
    at = app_on(lake.root, monkeypatch)
    assert at.title[0].value == "Book"
    shown = metrics(at)
    traded = result.rows["account_id"].nunique()
    assert shown["Accounts"] == "60"
    assert shown["Outside bands"] == str(traded)
    assert shown["Last run"] == result.run_id[:8]
    worst = result.recommendation.accounts["drift_before"].max()
    assert shown["Worst drift"] == f"{100 * worst:.2f}%"
    table = at.dataframe[0].value
    assert len(table) == traded  # "outside bands only" is on by default
    assert set(table["account_id"]) == set(result.rows["account_id"])
    assert (table["open"] == "account?account_id=" + table["account_id"]).all()
    at.toggle(key="filter_outside").set_value(False).run()
    assert len(at.dataframe[0].value) == 60
    first = table.iloc[0]
    at.text_input(key="filter_household_id").input(first["household_id"]).run()
    assert set(at.dataframe[0].value["household_id"]) == {first["household_id"]}


def test_account_page_from_query_param(dash_lake, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    lake, result = dash_lake
    rows = result.rows
    account_id = str(rows["account_id"].iloc[0])
    mine = rows[rows["account_id"] == account_id]
    at = app_on(lake.root, monkeypatch, "views/account.py", account_id=account_id)
    assert not at.error, [e.value for e in at.error]
    assert at.text_input(key="account_id_input").value == account_id
    shown = metrics(at)
    assert shown["Trades"] == str(len(mine))
    summary = result.recommendation.accounts.set_index("account_id").loc[account_id]
    assert shown["Drift"] == f"{100 * summary['drift_before']:.2f}%"
    assert shown["Drift after"] == f"{100 * summary['drift_after']:.2f}%"
    trades = next(d.value for d in at.dataframe if "lots" in d.value.columns)
    assert sorted(trades["symbol"]) == sorted(mine["symbol"])
    assert trades["est_tax"].sum() == pytest.approx(mine["est_tax"].sum())


def test_account_page_unknown_account(dash_lake, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    at = app_on(dash_lake[0].root, monkeypatch, "views/account.py", account_id="NOPE")
    assert any("not found" in e.value for e in at.error)


def test_market_page(dash_lake, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    lake, _ = dash_lake
    at = app_on(lake.root, monkeypatch, "views/market.py")
    bars = lake.read("market_prices")
    assert metrics(at)["Newest day"] == str(bars["ts"].max().date())
    assert any("No ingest rejects" in s.value for s in at.success)
    symbol = at.multiselect[0].value[0]
    assert any(f"{len(bars[bars['symbol'] == symbol])} 1d bars" in c.value for c in at.caption)


def test_runs_page(dash_lake, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    lake, result = dash_lake
    at = app_on(lake.root, monkeypatch, "views/runs.py")
    runs = at.dataframe[0].value
    assert list(runs["run_id"]) == [result.run_id]
    assert runs["trades"].iloc[0] == len(result.rows)
    assert runs["turnover"].iloc[0] == pytest.approx(result.rows["value"].sum())
    assert any(f"No violations in run {result.run_id}" in s.value for s in at.success)


def test_model_and_backtests_say_what_is_missing(
    dash_lake, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    lake, _ = dash_lake
    at = app_on(lake.root, monkeypatch, "views/model.py")
    assert any("No model to show: no model registered" in i.value for i in at.info)
    at = app_on(lake.root, monkeypatch, "views/backtests.py")
    if not reports.backtest_runs(lake).ready:
        assert any("No backtests to show" in i.value for i in at.info)


@pytest.mark.parametrize("view", PAGES)
def test_empty_lake_every_page_explains(
    view: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_on(tmp_path / "empty", monkeypatch, view, account_id="A1")
    said = [m.value for m in (*at.info, *at.error, *at.caption)]
    assert said, "an empty lake must say something"
    if view == "views/book.py":
        assert any("no accounts yet" in s for s in said)
    if view == "views/account.py":
        assert any("not found" in s for s in said)


@pytest.mark.skipif(not reports.decisions_available(), reason="schemas/decisions.json not landed")
def test_approve_writes_one_decision_per_holding(
    lake_copy, dash_lake, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    _, result = dash_lake
    account_id = str(result.rows["account_id"].iloc[0])
    at = app_on(lake_copy.root, monkeypatch, "views/account.py", account_id=account_id)
    assert not lake_copy.list_objects("decisions")
    at.text_area[0].input("rebalance as proposed")
    next(b for b in at.button if b.label == "Approve").click().run()
    assert not at.exception
    assert any("Approved run" in s.value for s in at.success), [e.value for e in at.error]
    stored = lake_copy.read("decisions")
    assert len(lake_copy.list_objects("decisions")) == 1
    mine = result.rows[result.rows["account_id"] == account_id]
    assert set(stored.loc[stored["action"] != "HOLD", "symbol"]) == set(mine["symbol"])
    assert set(stored["decided_by"]) == {getpass.getuser()}
    assert set(stored["note"]) == {f"run={result.run_id} approve: rebalance as proposed"}


def test_what_if_panel_in_process(dash_lake, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    lake, result = dash_lake
    rows = result.rows
    account_id = str(rows.loc[rows["side"] == "SELL", "account_id"].iloc[0])
    at = app_on(lake.root, monkeypatch, "views/account.py", account_id=account_id)
    next(t for t in at.toggle if t.label.startswith("Buy only")).set_value(True)
    next(b for b in at.button if b.label == "Re-ask").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert metrics(at)["Source"] == "in-process"
    merged = at.dataframe[-1].value
    assert "SELL" not in set(merged["side (what-if)"].dropna())
    assert "SELL" in set(merged["side (default)"].dropna())


def test_what_if_with_the_api_down(dash_lake, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    lake, result = dash_lake
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("REBALANCER_API_URL", f"http://127.0.0.1:{port}")
    account_id = str(result.rows["account_id"].iloc[0])
    at = app_on(lake.root, monkeypatch, "views/account.py", account_id=account_id)
    next(b for b in at.button if b.label == "Re-ask").click().run()
    assert not at.exception
    assert any("ConnectError" in e.value for e in at.error), [e.value for e in at.error]


def test_a_bad_api_url_stops_the_page_with_one_line(
    dash_lake, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The API URL is a setting like the others: a bad one is named, nothing is read."""
    monkeypatch.setenv("REBALANCER_API_URL", "ftp://api.example.com")
    at = app_on(dash_lake[0].root, monkeypatch)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("REBALANCER_API_URL: "), errors
    assert not at.dataframe and not at.metric


def test_oidc_configured_gates_every_page(dash_lake, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP

    monkeypatch.setenv("REBALANCER_LAKE", str(dash_lake[0].root))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s" * 32,
        "client_id": "id", "client_secret": "secret",
        "server_metadata_url": "https://issuer.example.com/.well-known/openid-configuration",
    }  # fmt: skip
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.metric and not at.dataframe  # nothing of the book before a login


def test_no_login_says_local(dash_lake, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    at = app_on(dash_lake[0].root, monkeypatch)
    assert any(
        f"local, no login (decisions recorded as {getpass.getuser()})" in c.value
        for c in at.sidebar.caption
    )


def _has_backtests_schema() -> bool:
    from rebalancer.errors import UnknownTableError
    from rebalancer.lake import get_schema

    try:
        get_schema("backtests")
    except UnknownTableError:
        return False
    return True


@pytest.mark.skipif(not _has_backtests_schema(), reason="schemas/backtests.json not landed")
def test_backtests_page_compares_policies(lake_copy, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from tests.conftest import sample_frame

    days = pd.date_range("2020-01-01", periods=5, freq="D")
    rows = []
    for run_id, policy, final in (("r-never", "never", 1.30), ("r-cal", "calendar:90", 1.25)):
        frame = sample_frame("backtests", rows=len(days), seed=len(rows))
        frame = frame.assign(**{c: frame[c].iloc[0] for c in frame.columns})  # run-level values
        frame = frame.assign(
            run_id=run_id, policy=policy, symbols="SPY,AGG", account_type="ira",
            created_at=pd.Timestamp("2024-01-01"), period_start=days[0], period_end=days[-1],
            day=days, equity=[1.0, 1.1, 1.2, 1.25, final], final_value=final,
        )  # fmt: skip
        rows.append(frame)
    lake_copy.write("backtests", pd.concat(rows, ignore_index=True))
    runs = reports.backtest_runs(lake_copy)
    assert runs.ready
    assert sorted(runs.frame["run_id"]) == ["r-cal", "r-never"]
    assert reports.comparison_set(runs.frame) == list(runs.frame["run_id"])
    at = app_on(lake_copy.root, monkeypatch, "views/backtests.py")
    assert any("2 backtest runs" in c.value for c in at.caption)
    table = at.dataframe[0].value.set_index("run_id")
    assert table.loc["r-never", "final_value"] == pytest.approx(1.30)
    assert at.subheader[0].value.startswith("Policies on SPY,AGG (ira, 2020-01-01 to 2020-01-05)")


def test_a_failing_query_is_a_message(lake_copy, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # A corrupt holdings object: the book's queries fail; the pages say so in one line.
    for key in lake_copy.list_objects("holdings"):
        Path(key).write_bytes(b"not parquet")
    at = app_on(lake_copy.root, monkeypatch)
    assert not at.metric
    assert [e.value.split(":")[0] for e in at.error] == ["Reading the book"]
    at = app_on(lake_copy.root, monkeypatch, "views/account.py", account_id="A00000001")
    assert any(e.value.startswith("Account A00000001:") for e in at.error)
