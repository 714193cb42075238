"""`rebalancer recommend` end to end on a small hand-written lake, and the lake I/O under it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from rebalancer.engine import Policy
from rebalancer.errors import ConfigError, InvalidAccountError, NotFoundError
from rebalancer.lake import LocalLake
from rebalancer.recommend import load_prices, parse_as_of, run_recommendations
from tests.engine.books import SECURITIES, account, holdings, lots, model

CLI = [sys.executable, "-m", "rebalancer.cli"]
AS_OF = "2024-12-31T16:00:00"


def _bars(symbol: str, closes: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": symbol,
            "ts": pd.to_datetime([ts for ts, _, _ in closes], format="ISO8601"),
            "interval": [iv for _, iv, _ in closes],
            "open": [c for _, _, c in closes],
            "high": [c for _, _, c in closes],
            "low": [c for _, _, c in closes],
            "close": [c for _, _, c in closes],
            "volume": 1000,
            "source": "synthetic",
            "ingested_at": pd.Timestamp("2025-01-01"),
        }
    )


@pytest.fixture
def book_lake(lake: LocalLake) -> LocalLake:
    """Three accounts (one invalid), prices as 5m and daily bars around the as-of time."""
    lake.write("securities", SECURITIES)
    lake.write(
        "market_prices",
        pd.concat(
            [
                # VTI: the 15:50 bar closed at 15:55 (100); the 16:00 bar is still open (999).
                _bars(
                    "VTI",
                    [
                        ("2024-12-31 15:50", "5m", 100.0),
                        ("2024-12-31 16:00", "5m", 999.0),
                        ("2024-12-30", "1d", 90.0),
                    ],
                ),
                # BND: only a daily bar of 12-30 (closed 12-31 00:00) and one of 12-31 (still open).
                _bars("BND", [("2024-12-30", "1d", 100.0), ("2024-12-31", "1d", 555.0)]),
            ]
        ),
    )
    accts = pd.DataFrame(
        [
            account("A1", account_type="taxable"),
            account("A2", household_id="H2", pending_cash_flow=10_000.0),
            account("A3", household_id="H3"),
        ]
    )
    lake.write("accounts", accts)
    lake.write("model_portfolios", model())
    lake.write(
        "holdings",
        pd.concat(
            [
                holdings("A1", VTI=750, BND=250),
                holdings("A2", VTI=650, BND=350),
                holdings("A3", VTI=-3),
            ]
        ),
    )
    lake.write(
        "tax_lots",
        lots(
            [
                ("A1", "VTI", "A1-VTI-1", 750, 80.0, "2020-01-02"),
                ("A1", "BND", "A1-BND-1", 250, 110.0, "2023-05-01"),
            ]
        ),
    )
    lake.write("restrictions", pd.DataFrame({"account_id": ["A2"], "symbol": ["VXUS"],
                                             "restriction": ["restricted"], "reason": ["client"]}))  # fmt: skip
    lake.write("transactions", pd.DataFrame({
        "transaction_id": ["T1"], "account_id": ["A9"], "household_id": ["H9"], "symbol": ["VTI"],
        "side": ["BUY"], "quantity": [1.0], "price": [100.0],
        "trade_date": [pd.Timestamp("2024-12-20").date()], "realized_gain": [None]}))  # fmt: skip
    return lake


def cli(args: list[str], lake: LocalLake) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCER_")}
    env["REBALANCER_LAKE"] = lake.root
    env["COLUMNS"] = "200"
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def test_recommend_all_writes_the_audit_trail(book_lake: LocalLake) -> None:
    result = cli(["recommend", "--all", "--as-of", AS_OF, "--rebalance-to", "target"], book_lake)
    assert result.returncode == 0, result.stderr
    assert "2 account(s), 2 traded, 4 trade(s)" in result.stdout
    assert "skipped 1 invalid account(s)" in result.stderr
    assert "account A3: negative or missing quantity of VTI" in result.stderr
    rows = book_lake.query(
        "SELECT account_id, symbol, side, quantity, price, value, est_tax, cost, reason, lots, "
        "engine_version, model_version, run_id, as_of, dt FROM recommendations "
        "ORDER BY account_id, symbol"
    )
    got = {(r.account_id, r.symbol, r.side): r.quantity for r in rows.itertuples()}
    # A1 75/25 -> 60/40 at VTI 100 (the open 16:00 bar is not used), BND 100 (12-30 daily close):
    # sell 150 VTI; the 5 bps costs leave room for 149 BND. A2: 65/35 plus a 10k deposit ->
    # buys only (cash first): 10 VTI + 90 BND would cost $10,005, so VTI drops to 9.
    assert got == {("A1", "BND", "BUY"): 149.0, ("A1", "VTI", "SELL"): 150.0,
                   ("A2", "BND", "BUY"): 90.0, ("A2", "VTI", "BUY"): 9.0}  # fmt: skip
    assert set(rows["price"]) == {100.0}
    a1_sell = rows[(rows["account_id"] == "A1") & (rows["side"] == "SELL")].iloc[0]
    assert a1_sell["lots"] == "A1-VTI-1:150.0"
    assert a1_sell["est_tax"] == pytest.approx(150 * 20 * 0.15)  # long-term gain of 20/unit
    assert (rows["cost"] == rows["value"] * 5e-4).all()
    assert rows["run_id"].nunique() == 1 and rows["model_version"].isna().all()
    assert set(rows["dt"]) == {"2024-12-31"}
    assert str(pd.Timestamp(rows["as_of"].iloc[0])) == "2024-12-31 16:00:00"

    # Same inputs, same run id, same object: a rerun does not duplicate rows.
    again = CliRunner().invoke(
        app,
        [
            "--lake",
            book_lake.root,
            "recommend",
            "--all",
            "--as-of",
            AS_OF,
            "--rebalance-to",
            "target",
        ],
    )
    assert again.exit_code == 0, again.output
    assert len(book_lake.query("SELECT * FROM recommendations")) == 4
    assert len(book_lake.list_objects("recommendations")) == 1


def test_recommend_one_account_and_bad_input_give_one_line_errors(book_lake: LocalLake) -> None:
    ok = CliRunner().invoke(
        app, ["--lake", book_lake.root, "recommend", "--account", "A2", "--as-of", AS_OF]
    )
    assert ok.exit_code == 0, ok.output
    assert "1 account(s), 1 traded, 2 trade(s)" in " ".join(ok.stdout.split())
    bad = CliRunner().invoke(
        app, ["--lake", book_lake.root, "recommend", "--account", "A3", "--as-of", AS_OF]
    )
    assert bad.exit_code == InvalidAccountError.exit_code
    assert "account A3: negative or missing quantity of VTI" in bad.stderr
    runner = CliRunner()
    for args, code in [
        (["recommend", "--account", "NOPE", "--as-of", AS_OF], NotFoundError.exit_code),
        (["recommend", "--all", "--account", "A1"], ConfigError.exit_code),
        (["recommend"], ConfigError.exit_code),
        (["recommend", "--all", "--band", "wide"], ConfigError.exit_code),
        (["recommend", "--all", "--as-of", "yesterday-ish"], ConfigError.exit_code),
        (["recommend", "--all", "--relative-band", "-1"], ConfigError.exit_code),
        (["recommend", "--all", "--strict", "--as-of", AS_OF], InvalidAccountError.exit_code),
    ]:
        result = runner.invoke(app, ["--lake", book_lake.root, *args])
        assert result.exit_code == code, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.output


def test_prices_never_look_ahead(book_lake: LocalLake) -> None:
    prices = load_prices(book_lake, parse_as_of(AS_OF))  # type: ignore[arg-type]
    assert prices.to_dict() == {"BND": 100.0, "VTI": 100.0}
    # A day later every bar has closed: the 16:00 VTI bar (999) and BND's 12-31 daily (555).
    later = load_prices(book_lake, pd.Timestamp("2025-01-01T12:00"))
    assert later.to_dict() == {"BND": 555.0, "VTI": 999.0}


def test_default_as_of_is_the_newest_close_and_dry_run_writes_nothing(book_lake: LocalLake) -> None:
    result = run_recommendations(book_lake, policy=Policy(), write=False)
    # Newest bar: BND's 12-31 daily bar, closed at 2025-01-01 00:00.
    assert result.as_of == pd.Timestamp("2025-01-01")
    assert book_lake.list_objects("recommendations") == []
    assert len(result.rows) == len(result.recommendation.trades)


def test_run_id_changes_with_the_policy(book_lake: LocalLake) -> None:
    a = run_recommendations(book_lake, as_of=AS_OF, policy=Policy(), write=False)
    b = run_recommendations(
        book_lake, as_of=AS_OF, policy=Policy(rebalance_to="target"), write=False
    )
    c = run_recommendations(book_lake, as_of=AS_OF, policy=Policy(), write=False)
    assert a.run_id != b.run_id and a.run_id == c.run_id


def test_empty_book_and_missing_prices_are_clear_errors(lake: LocalLake) -> None:
    from rebalancer.errors import MarketDataError

    with pytest.raises(MarketDataError, match="market_prices is empty"):
        run_recommendations(lake)
    lake.write("market_prices", _bars("VTI", [("2024-12-31 15:50", "5m", 100.0)]))
    with pytest.raises(NotFoundError, match="accounts table is empty"):
        run_recommendations(lake, as_of=AS_OF)


def test_default_as_of_reads_only_the_newest_partition(lake: LocalLake) -> None:
    # The newest close comes from the listing plus the newest partition: an unreadable object
    # in an older partition (33 years of history in a real lake) is never opened.
    from rebalancer.recommend import latest_close_time

    for day, close in (("2024-12-27", 98.0), ("2024-12-30", 99.0), ("2024-12-31", 100.0)):
        lake.write("market_prices", _bars("VTI", [(f"{day} 15:50", "5m", close)]))
    # Not the first object: DuckDB binds the table's view on that one.
    old = [k for k in lake.list_objects("market_prices") if "dt=2024-12-30" in k]
    with open(old[0], "wb") as f:
        f.write(b"not parquet")
    assert latest_close_time(lake) == pd.Timestamp("2024-12-31 15:55")


def test_default_as_of_skips_a_newest_partition_without_rows(lake: LocalLake) -> None:
    import pyarrow.parquet as pq

    from rebalancer.recommend import latest_close_time

    lake.write("market_prices", _bars("VTI", [("2024-12-30 15:50", "5m", 99.0)]))
    # An object with no rows (another writer's, say) in a newer partition.
    (older,) = lake.list_objects("market_prices")
    newer = Path(older).parent.parent / "dt=2024-12-31" / "part-empty.parquet"
    newer.parent.mkdir()
    pq.write_table(pq.read_table(older).slice(0, 0), newer)
    assert lake.list_objects("market_prices", dt="2024-12-31")
    assert latest_close_time(lake) == pd.Timestamp("2024-12-30 15:55")
