"""`rebalancer backtest --accounts N --seed S`: a sample of the book's accounts replayed over
lake history (each account's model, tax treatment and share rule), and `--policy learned`
through the use case and the command on a lake of real history."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.backtest import Backtest, make_trigger, metrics
from rebalancer.book import BookTables, generate_book, write_book
from rebalancer.errors import ConfigError, OutOfRangeError
from rebalancer.lake import LocalLake
from rebalancer.market import backfill, history_closes, seed_securities
from rebalancer.usecases import run_backtest, run_book_backtests
from tests.cli.conftest import invoke
from tests.model.conftest import make_panel

START, END = date(2024, 1, 2), date(2024, 6, 28)


def _daily_bars(panel: pd.DataFrame) -> pd.DataFrame:
    rows = panel.stack().dropna().rename("close").reset_index()
    rows.columns = ["ts", "symbol", "close"]
    return rows.assign(
        interval="1d", open=rows["close"], high=rows["close"], low=rows["close"], volume=1000,
        source="synthetic", ingested_at=rows["ts"] + pd.Timedelta(days=1),
    )[["symbol", "ts", "interval", "open", "high", "low", "close", "volume", "source",
       "ingested_at"]]  # fmt: skip


@pytest.fixture(scope="module")
def book_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated book of 12 accounts and six months of synthetic daily bars after it."""
    root = tmp_path_factory.mktemp("book") / "lake"
    panel = make_panel(seed=4)
    lake = LocalLake(root)
    seed_securities(lake)
    lake.write("market_prices", _daily_bars(panel.loc["2023-12-15":]))
    write_book(lake, generate_book(12, seed=7, prices=panel.loc[:"2023-12-29"], chunk_size=12))
    lake.close()
    return root


def test_a_seeded_sample_replays_each_accounts_model(book_root: Path) -> None:
    lake = LocalLake(book_root)
    book = BookTables.from_lake(lake)
    runs = run_book_backtests(lake, accounts=3, seed=1, policies=["never", "monthly"],
                              start=START, end=END, write=False)  # fmt: skip
    ids = [r.account_id for r in runs]
    assert len(runs) == 6 and len(set(ids)) == 3 and set(ids) <= set(book.accounts["account_id"])
    assert [r.policy for r in runs] == ["never", "calendar:monthly"] * 3
    again = run_book_backtests(lake, accounts=3, seed=1, policies=["never"], start=START,
                               end=END, write=False)  # fmt: skip
    assert [r.account_id for r in again] == ids[::2]  # same seed, same sample
    other = run_book_backtests(lake, accounts=3, seed=2, policies=["never"], start=START,
                               end=END, write=False)  # fmt: skip
    assert [r.account_id for r in other] != ids[::2]
    accounts = book.accounts.set_index("account_id")
    closes = None
    for r in runs:
        row = accounts.loc[r.account_id]
        model = book.model_portfolios[book.model_portfolios["model_id"] == row["model_id"]]
        sleeves = model[model["symbol"] != "CASH"].set_index("symbol")["target_weight"]
        assert r.weights == pytest.approx((sleeves / sleeves.sum()).to_dict())
        assert r.account_type == ("taxable" if row["account_type"] == "taxable" else "ira")
        assert r.fractional == bool(row["fractional_shares"])
        # The same run as the engine's on the lake's closes (read directly here).
        if closes is None:
            closes = lake.query(
                "SELECT symbol, CAST(ts AS DATE) AS day, close FROM market_prices"
            ).pivot(index="day", columns="symbol", values="close")
            closes.index = pd.to_datetime(closes.index)
        window = closes.loc[str(START) : str(END), list(r.weights)]
        direct = Backtest(make_trigger("monthly" if "monthly" in r.policy else "never"),
                          r.weights, account_type=r.account_type,
                          fractional=r.fractional).fit(window).result_  # fmt: skip
        assert r.metrics == pytest.approx(metrics(direct), rel=1e-12)


def test_the_command_averages_the_sample_per_policy(book_root: Path) -> None:
    args = ["backtest", "--accounts", "2", "--seed", "3", "--policy", "quarterly", "--start",
            str(START), "--end", str(END)]  # fmt: skip
    code, out, err = invoke(book_root, *args, "--format", "json", "--no-write")
    assert code == 0, err
    runs = json.loads(out)
    assert len(runs) == 2 and {r["policy"] for r in runs} == {"calendar:quarterly"}
    code, out, err = invoke(book_root, *args, "--format", "csv", "--no-write")
    assert code == 0, err
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert list(table["accounts"]) == [2]
    mean = np.mean([r["metrics"]["final_value"] for r in runs])
    assert table["final_value"].iloc[0] == pytest.approx(mean, rel=1e-9)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--accounts", "0"], "--accounts must be at least 1"),
        (["--accounts", "2", "--symbols", "AAPL"], "drop --symbols/--weights"),
        ([], "give --symbols and --weights"),
        (["--accounts", "2", "--policy", "sometimes"], "unknown policy 'sometimes'"),
    ],
)
def test_bad_sample_arguments_are_one_line(book_root: Path, extra: list[str], message: str) -> None:
    code, _, err = invoke(book_root, "backtest", "--start", str(START), "--end", str(END),
                          "--no-write", *extra)  # fmt: skip
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def real_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real closes of KO and PEP, 2007 to mid-2010 (enough before 2010 to train)."""
    root = tmp_path_factory.mktemp("real") / "lake"
    lake = LocalLake(root)
    backfill(lake, source="history", start="2007-01-01", end="2010-06-30",
             symbols=["KO", "PEP"])  # fmt: skip
    lake.close()
    return root


def test_learned_trains_before_start_and_runs_through_the_command(real_root: Path) -> None:
    args = ["backtest", "--symbols", "KO,PEP", "--weights", "0.5,0.5", "--start", "2010-01-04",
            "--end", "2010-06-30", "--no-write"]  # fmt: skip
    code, out, err = invoke(real_root, *args, "--policy", "learned", "--policy", "never",
                            "--format", "json")  # fmt: skip
    assert code == 0, err
    learned, never = json.loads(out)
    assert learned["policy"] == "learned:0.5" and never["policy"] == "never"
    assert any("best rule in sample (history to 2009-" in n for n in learned["notes"])
    assert "best rule in sample" in err  # the notes go to stderr, stdout stays JSON
    assert learned["curve"]["date"] == never["curve"]["date"]
    closes = history_closes()[["KO", "PEP"]].loc["2010-01-04":"2010-06-30"]
    assert len(learned["curve"]["equity"]) == len(closes)
    assert learned["metrics"]["rebalances"] == len(learned["rebalance_dates"]) - 1
    # Too little history before --start is one line and names what is needed.
    lake = LocalLake(real_root)
    with pytest.raises(OutOfRangeError, match="needs 651 trading days before 2008-06-02") as e:
        run_backtest(lake, symbols=["KO", "PEP"], weights=[0.5, 0.5], policy="learned",
                     start=date(2008, 6, 1), end=date(2008, 12, 31), write=False)  # fmt: skip
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        run_backtest(lake, symbols=["KO", "PEP"], weights=[0.5, 0.5], policy="learned:2",
                     start=date(2010, 1, 4), end=date(2010, 6, 30), write=False)  # fmt: skip
