"""The dashboard's report queries against a generated lake, checked against the engine's own
figures and against sums computed here from the lake's tables."""

from __future__ import annotations

import getpass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.engine import Policy
from rebalancer.errors import NotFoundError
from rebalancer.lake import LocalLake
from rebalancer.market import load_prices
from rebalancer.usecases import reports


@pytest.fixture(scope="module")
def book(dash_lake):  # type: ignore[no-untyped-def]
    lake, result = dash_lake
    return reports.book_report(lake), result


def _traded(result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(result.rows["account_id"].astype(str).unique())


def test_book_drift_is_the_engines(book) -> None:  # type: ignore[no-untyped-def]
    report, result = book
    engine = result.recommendation.accounts.set_index("account_id")["drift_before"]
    mine = report.accounts.set_index("account_id")["drift"]
    assert len(mine) == len(engine) == 60
    np.testing.assert_allclose(mine.loc[engine.index], engine, atol=1e-12)


def test_summary_matches_the_lake(book, dash_lake) -> None:  # type: ignore[no-untyped-def]
    report, result = book
    lake, _ = dash_lake
    summary = report.summary()
    assert summary.accounts == 60
    assert summary.run_id == result.run_id
    assert summary.as_of == result.as_of
    assert summary.outside_bands == len(_traded(result))
    # Assets: every holding at the run's prices plus cash and pending flows, from raw tables.
    prices = load_prices(lake, result.as_of)
    holdings = lake.read("holdings")
    accounts = lake.read("accounts")
    held = float((holdings["quantity"] * holdings["symbol"].map(prices)).sum())
    cash = float((accounts["cash"] + accounts["pending_cash_flow"]).sum())
    assert summary.assets == pytest.approx(held + cash, rel=1e-9)
    engine = result.recommendation.accounts
    worst = engine.loc[engine["drift_before"].idxmax()]
    assert summary.worst_account == worst["account_id"]
    assert summary.worst_drift == pytest.approx(worst["drift_before"])


def test_attention_filters(book) -> None:  # type: ignore[no-untyped-def]
    report, result = book
    outside = report.attention(only_outside_bands=True)
    assert sorted(outside["account_id"]) == _traded(result)
    assert outside["drift"].is_monotonic_decreasing
    first = report.accounts.iloc[0]
    mine = report.attention(household_id=first["household_id"], account_type=first["account_type"])
    assert len(mine) >= 1
    assert set(mine["household_id"]) == {first["household_id"]}
    assert set(mine["account_type"]) == {first["account_type"]}
    assert report.attention(advisor_id="nobody").empty


def test_class_drift_cell(book, dash_lake) -> None:  # type: ignore[no-untyped-def]
    report, result = book
    lake, _ = dash_lake
    # One cell by hand: equity ETFs of the 'moderate' risk profile.
    accounts = lake.read("accounts").merge(lake.read("clients")[["client_id", "risk_profile"]])
    securities = lake.read("securities").set_index("symbol")["asset_class"]
    models = lake.read("model_portfolios")
    holdings = lake.read("holdings")
    prices = load_prices(lake, result.as_of)
    devs = []
    for _, acc in accounts[accounts["risk_profile"] == "moderate"].iterrows():
        mine = holdings[holdings["account_id"] == acc["account_id"]]
        values = mine["quantity"] * mine["symbol"].map(prices).astype(float)
        total = values.sum() + acc["cash"] + acc["pending_cash_flow"]
        w = values[mine["symbol"].map(securities) == "equity_etf"].sum() / total
        target = models[models["model_id"] == acc["model_id"]]
        t = target[target["symbol"].map(securities) == "equity_etf"]["target_weight"].sum()
        devs.append(abs(w - t))
    cell = report.class_drift.set_index(["asset_class", "risk_profile"]).loc[
        ("equity_etf", "moderate")
    ]
    assert cell["drift"] == pytest.approx(float(np.mean(devs)), rel=1e-9)
    assert cell["accounts"] == len(devs)


def test_account_report_after_weights_are_the_runs(dash_lake) -> None:  # type: ignore[no-untyped-def]
    lake, result = dash_lake
    rows = result.rows
    account_id = str(rows["account_id"].iloc[0])
    report = reports.account_report(lake, account_id)
    mine = rows[rows["account_id"] == account_id]
    assert len(report.trades) == len(mine)
    assert set(report.trades["run_id"]) == {result.run_id}
    after = report.holdings.set_index("symbol")["weight_after"]
    for _, trade in mine.iterrows():
        assert after[trade["symbol"]] == pytest.approx(trade["post_weight"], abs=1e-9)
    accounts = lake.read("accounts")
    household = accounts.loc[accounts["account_id"] == account_id, "household_id"].iloc[0]
    siblings = set(accounts.loc[accounts["household_id"] == household, "account_id"])
    assert set(report.household["account_id"]) == siblings - {account_id}
    csv = reports.trades_csv(report.trades).decode()
    assert csv.count("\n") == len(mine) + 1
    assert len(reports.run_trades(lake, result.run_id)) == len(rows)


def test_unknown_account_is_not_found(dash_lake) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match="NOPE' OR 1=1"):
        reports.account_report(dash_lake[0], "NOPE' OR 1=1")


def test_audit_finds_an_oversold_trade(lake_copy: LocalLake, dash_lake) -> None:  # type: ignore[no-untyped-def]
    _, result = dash_lake
    assert reports.run_violations(lake_copy, result.run_id).violations.empty
    bad = result.rows.iloc[[0]].copy()
    holdings = lake_copy.read("holdings")
    held = holdings[holdings["account_id"] == bad["account_id"].iloc[0]].iloc[0]
    bad = bad.assign(run_id="tampered", symbol=held["symbol"], side="SELL",
                     quantity=held["quantity"] + 5, reason="DRIFT_SELL")  # fmt: skip
    lake_copy.write("recommendations", bad, name="run-tampered")
    audit = reports.run_violations(lake_copy, "tampered")
    assert audit.missing == []
    assert list(audit.violations["violation"]) == ["SELL_MORE_THAN_HELD"]
    assert reports.run_violations(lake_copy, result.run_id).violations.empty


def test_market_freshness_and_rejects(lake_copy: LocalLake, dash_lake) -> None:  # type: ignore[no-untyped-def]
    bars = lake_copy.read("market_prices")
    fresh = reports.market_freshness(lake_copy, now=pd.Timestamp("2023-01-01", tz="UTC"))
    assert fresh.day == str(pd.Timestamp(bars["ts"].max()).date())
    daily = fresh.intervals.set_index("interval").loc["1d"]
    assert daily["bars"] == len(bars[bars["ts"].dt.date == bars["ts"].max().date()])
    assert fresh.age == pd.Timestamp("2023-01-01", tz="UTC") - pd.Timestamp(
        bars["ingested_at"].max(), tz="UTC"
    )
    assert fresh.latest_slot is None  # daily backfill only
    day = pd.Timestamp(bars["ts"].max()).normalize()
    live = bars[bars["ts"] == bars["ts"].max()].assign(
        interval="5m", ts=day + pd.Timedelta("15:05:00"), ingested_at=day + pd.Timedelta("15:10:00")
    )
    lake_copy.write("market_prices", live.iloc[:3], name="slot-1505")
    lake_copy.write("market_prices", live.iloc[:3].assign(ts=day + pd.Timedelta("15:00:00")),
                    name="slot-1500")  # fmt: skip
    fresh = reports.market_freshness(lake_copy)
    assert fresh.latest_slot == "slot-1505"
    five = fresh.intervals.set_index("interval").loc["5m"]
    assert (five["bars"], five["symbols"]) == (6, 3)
    assert five["last_bar"] == day + pd.Timedelta("15:05:00")
    lake_copy.write("market_prices", live.iloc[:3], name="compacted")
    assert reports.market_freshness(lake_copy).latest_slot == "compacted"
    assert reports.latest_rejects(lake_copy).day is None
    rejects = pd.DataFrame(
        {"table_name": "market_prices", "symbol": ["AAA", "AAA", "BBB"],
         "ts": pd.Timestamp("2024-03-01 14:30"), "interval": "5m",
         "reason": ["non_positive_price", "non_positive_price", "high_below_low"],
         "raw": "{}", "source": "synthetic", "rejected_at": pd.Timestamp("2024-03-01 14:36")}
    )  # fmt: skip
    lake_copy.write("ingest_rejects", rejects)
    latest = reports.latest_rejects(lake_copy)
    assert latest.day == "2024-03-01"
    counts = latest.by_reason.set_index("reason")["rejected_rows"].to_dict()
    assert counts == {"non_positive_price": 2, "high_below_low": 1}


def test_empty_lake_reports_say_so(tmp_path: Path) -> None:
    empty = LocalLake(tmp_path / "empty")
    report = reports.book_report(empty)
    assert report.accounts.empty
    assert report.summary().accounts == 0
    assert reports.market_freshness(empty).day is None
    assert reports.run_trades(empty, None).empty
    with pytest.raises(NotFoundError):
        reports.account_report(empty, "A1")
    assert not reports.backtest_runs(empty).ready


def test_model_status_says_no_model_is_registered(dash_lake) -> None:  # type: ignore[no-untyped-def]
    # The generated lake has no model (with or without the model registry installed).
    status = reports.model_status(dash_lake[0])
    assert not status.ready
    assert "no model registered" in status.missing


@pytest.mark.skipif(not reports.decisions_available(), reason="schemas/decisions.json not landed")
def test_approve_then_reject_replaces_the_decision(lake_copy: LocalLake, dash_lake) -> None:  # type: ignore[no-untyped-def]
    _, result = dash_lake
    rows = result.rows
    account_id = str(rows["account_id"].iloc[0])
    note = "ok; it's fine -- \\ 'quoted' ünï"
    written = reports.record_decision(lake_copy, account_id, approve=True, note=note)
    stored = lake_copy.read("decisions")
    assert len(stored) == len(written)
    held = lake_copy.read("holdings")
    held = set(held.loc[(held["account_id"] == account_id) & (held["quantity"] != 0), "symbol"])
    mine = rows[rows["account_id"] == account_id]
    assert set(stored["symbol"]) == held | set(mine["symbol"])
    sides = dict(zip(mine["symbol"], mine["side"], strict=True))
    for _, row in stored.iterrows():
        assert row["action"] == sides.get(row["symbol"], "HOLD")
    assert set(stored["source"]) == {"dashboard"}
    assert set(stored["decided_by"]) == {getpass.getuser()}
    assert set(stored["note"]) == {f"run={result.run_id} approve: {note}"}
    assert (stored["as_of"] == result.as_of).all()
    shown = reports.account_decisions(lake_copy, account_id)
    assert len(shown) == len(written)
    # Deciding again (reject) replaces the approval: same key, all HOLD.
    reports.record_decision(lake_copy, account_id, approve=False, decided_by="ana@example.com")
    stored = lake_copy.read("decisions")
    assert len(stored) == len(written)
    assert set(stored["action"]) == {"HOLD"}
    assert set(stored["decided_by"]) == {"ana@example.com"}
    assert set(stored["note"]) == {f"run={result.run_id} reject"}


def test_what_if_in_process(dash_lake) -> None:  # type: ignore[no-untyped-def]
    lake, result = dash_lake
    rows = result.rows
    account_id = str(rows.loc[rows["side"] == "SELL", "account_id"].iloc[0])
    base = reports.what_if(lake, account_id, Policy(), as_of=result.as_of)
    mine = rows[rows["account_id"] == account_id]
    assert base.source == "in-process"
    assert base.traded_value == pytest.approx(float(mine["value"].sum()))
    assert sorted(base.trades["symbol"]) == sorted(mine["symbol"])
    buy_only = reports.what_if(lake, account_id, Policy(buy_only=True), as_of=result.as_of)
    assert "SELL" not in set(buy_only.trades["side"])


def test_what_if_through_the_api_matches(dash_lake) -> None:  # type: ignore[no-untyped-def]
    from rebalancer.api import create_app
    from rebalancer.api.client import RebalancerClient
    from rebalancer.config import Settings
    from tests.api.conftest import KEY, running

    lake, result = dash_lake
    account_id = str(result.rows["account_id"].iloc[0])
    policy = Policy(rebalance_to="target")
    local = reports.what_if(lake, account_id, policy, as_of=result.as_of)
    app = create_app(Settings(lake=lake.root, api_key=KEY), lake=lake)
    with running(app) as url, RebalancerClient(url, api_key=KEY) as client:
        remote = reports.what_if(lake, account_id, policy, as_of=result.as_of, client=client)
    assert remote.source == "api"
    pd.testing.assert_frame_equal(
        remote.trades[["symbol", "side"]], local.trades[["symbol", "side"]], check_dtype=False
    )
    np.testing.assert_allclose(remote.trades["quantity"], local.trades["quantity"])
    assert remote.summary["drift_after"] == pytest.approx(local.summary["drift_after"])
