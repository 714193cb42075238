"""`rebalancer backtest` and its use case on a lake holding the bundled real history."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.errors import ConfigError, MarketDataError, OutOfRangeError
from rebalancer.lake import LocalLake
from rebalancer.market import backfill, history_closes
from rebalancer.usecases import run_backtest, run_backtests
from tests.cli.conftest import invoke, run

ARGS = ["--symbols", "AAPL,KO", "--weights", "0.6,0.4", "--start", "2014-01-01",
        "--end", "2014-06-30"]  # fmt: skip


@pytest.fixture(scope="module")
def history_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real daily closes of AAPL, KO (from 2013-10) and MTUM (from its first day, 2014-01-02)
    to 2014-06-30, loaded by the backfill users run."""
    root = tmp_path_factory.mktemp("history") / "lake"
    lake = LocalLake(root)
    backfill(lake, source="history", start="2013-10-01", end="2014-06-30",
             symbols=["AAPL", "KO", "MTUM"])  # fmt: skip
    lake.close()
    return root


def test_json_report_has_metrics_and_the_daily_curve(history_lake: Path) -> None:
    code, out, err = invoke(history_lake, "backtest", *ARGS, "--policy", "monthly",
                            "--format", "json", "--no-write")  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    closes = history_closes()[["AAPL", "KO"]].loc["2014-01-01":"2014-06-30"]
    assert report["curve"]["date"][0] == "2014-01-02"
    assert len(report["curve"]["equity"]) == len(closes)
    assert report["metrics"]["final_value"] == report["curve"]["equity"][-1]
    # Whole shares, 5 bps: day 0 costs about 5 bps; the curve then follows the market.
    assert report["curve"]["equity"][0] == pytest.approx(1.0, abs=1e-3)
    assert 0 < report["metrics"]["rebalances"] <= 5  # Feb..Jun starts, tax-aware skips allowed
    assert report["rebalance_dates"][0] == "2014-01-02"
    assert not LocalLake(history_lake).list_objects("backtests")


def test_table_run_lands_in_the_backtests_table_once(history_lake: Path, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    for _ in range(2):  # a re-run overwrites its own object
        code, out, err = invoke(history_lake, "backtest", *ARGS, "--policy", "never",
                                "--policy", "absolute:0.05", "--account-type", "ira",
                                "--report", str(html))  # fmt: skip
        assert code == 0, err
    assert "after_tax_final_value" in out and "threshold:absolute:0.05:target" in out
    lake = LocalLake(history_lake)
    rows = lake.query(
        "SELECT run_id, policy, count(*) AS days, max(final_value) AS final_value "
        "FROM backtests WHERE account_type = :t GROUP BY run_id, policy ORDER BY policy",
        params={"t": "ira"},
    )
    assert list(rows["policy"]) == ["never", "threshold:absolute:0.05:target"]
    assert set(rows["days"]) == {len(history_closes().loc["2014-01-01":"2014-06-30"])}
    page = html.read_text()
    assert "plotly" in page and "Total drift" in page and "after_tax_final_value" in page


def test_the_use_case_matches_the_engine_on_the_same_closes(history_lake: Path) -> None:
    from rebalancer.backtest import Backtest, make_trigger

    lake = LocalLake(history_lake)
    report = run_backtest(lake, symbols=["AAPL", "KO"], weights=[0.6, 0.4], policy="quarterly",
                          start=date(2014, 1, 1), end=date(2014, 6, 30), write=False)  # fmt: skip
    closes = history_closes()[["AAPL", "KO"]].loc["2014-01-01":"2014-06-30"]
    direct = Backtest(make_trigger("quarterly"), {"AAPL": 0.6, "KO": 0.4}).fit(closes).result_
    assert list(report.result.equity) == pytest.approx(list(direct.equity), rel=1e-12)
    rows = lake.query("SELECT count(*) AS n FROM market_prices WHERE symbol = :s", {"s": "KO"})
    assert int(rows["n"].iloc[0]) > len(closes)  # the lake held more than the range asked


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"weights": [0.6, 0.5]}, ConfigError, "weights must sum to 1, got 1.1"),
        ({"symbols": ["AAPL", "ZZZ"]}, MarketDataError, "no daily prices for ZZZ"),
        ({"policy": "sometimes"}, ConfigError, "unknown policy 'sometimes'"),
        ({"start": date(2019, 1, 1), "end": date(2019, 6, 30)}, OutOfRangeError,
         "no daily prices between 2019-01-01 and 2019-06-30"),
        ({"start": date(2012, 1, 1)}, OutOfRangeError, "near --start 2012-01-01"),
        ({"end": date(2015, 6, 30)}, OutOfRangeError, "near --end 2015-06-30"),
        ({"symbols": ["AAPL", "MTUM"], "start": date(2013, 12, 2)}, OutOfRangeError,
         "no close on 2013-12-02 for MTUM .* start on or after 2014-01-02"),
        ({"end": date(2013, 12, 1)}, ConfigError, "must be after --start"),
        ({"account_type": "roth401k"}, ConfigError, "taxable or ira"),
        ({"weights": [1.0]}, ConfigError, "1 weight"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(
    history_lake: Path, change: dict[str, object], error: type[Exception], message: str
) -> None:
    kw: dict[str, object] = {"symbols": ["AAPL", "KO"], "weights": [0.6, 0.4],
                             "policy": "monthly", "start": date(2014, 1, 1),
                             "end": date(2014, 6, 30)}  # fmt: skip
    kw.update(change)
    lake = LocalLake(history_lake)
    before = lake.list_objects("backtests")
    with pytest.raises(error, match=message) as info:
        run_backtest(lake, **kw)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert lake.list_objects("backtests") == before  # nothing written


def test_an_empty_lake_says_to_backfill(lake: LocalLake) -> None:
    with pytest.raises(MarketDataError, match="rebalancer backfill"):
        run_backtests(lake, symbols=["AAPL"], weights=[1.0], policies=["never"],
                      start=date(2014, 1, 1), end=date(2014, 6, 30))  # fmt: skip


def test_the_command_as_a_user_runs_it(history_lake: Path) -> None:
    ok = run(["backtest", *ARGS, "--policy", "5/25", "--format", "csv", "--no-write"],
             history_lake)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    frame = pd.read_csv(pd.io.common.StringIO(ok.stdout))
    assert list(frame["policy"]) == ["5/25:0.05:0.25"]
    bad = run(["backtest", "--symbols", "AAPL,KO", "--weights", "0.7,0.4", "--start",
               "2014-01-01", "--end", "2014-06-30"], history_lake)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: weights must sum to 1, got 1.1"
    assert "Traceback" not in bad.stderr
