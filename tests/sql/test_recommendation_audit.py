"""sql/queries/recommendation_violations.sql: the audit finds each planted violation, and a
real run over a generated book has none."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rebalancer.lake import LocalLake
from rebalancer.usecases import run_recommendations
from tests.engine.books import account, holdings, model

AUDIT = (
    Path(__file__).resolve().parents[2] / "sql" / "queries" / "recommendation_violations.sql"
).read_text()
AS_OF = pd.Timestamp("2024-12-31 16:00")


def _trade(
    account_id: str, symbol: str, side: str, quantity: float, price: float = 100.0, **extra: object
) -> dict[str, object]:
    row: dict[str, object] = {
        "run_id": "R1", "as_of": AS_OF, "account_id": account_id, "symbol": symbol, "side": side,
        "quantity": quantity, "price": price, "value": quantity * price, "est_tax": 0.0,
        "cost": 0.0, "reason": "TEST", "engine_version": "test", "model_version": None,
        "drift_before": 0.10, "drift_after": 0.05, "realized_gain": None, "lots": None,
        "target_weight": None, "post_weight": None, "policy": None,
        "model_action": None, "model_confidence": None, "model_reasons": None,
    }  # fmt: skip
    row.update(extra)
    return row


@pytest.fixture
def planted(lake: LocalLake) -> LocalLake:
    lake.write(
        "accounts",
        pd.DataFrame([
            account("OK", cash=1_000.0),
            account("SHORT", household_id="H2", cash=500.0),
            account("RESTR", household_id="H3", cash=1_000.0),
            account("WASH", household_id="H4", cash=1_000.0),
            account("CASH", household_id="H5", cash=100.0, pending_cash_flow=-50.0),
            account("DRIFT", household_id="H6", cash=1_000.0),
            account("LOSS", household_id="H7", account_type="taxable", cash=0.0),
            account("SIB", household_id="H7", cash=1_000.0),
            account("GAIN", household_id="H8", account_type="taxable", cash=0.0),
            account("SIB2", household_id="H8", cash=1_000.0),
            account("WDRAW", household_id="H9", cash=100.0, pending_cash_flow=-300.0),
            account("RSRV", household_id="H10", cash=100.0),
        ]),
    )  # fmt: skip
    lake.write("model_portfolios", model())
    lake.write(
        "holdings",
        pd.concat(
            [
                holdings("OK", VTI=10),
                holdings("SHORT", VTI=3),
                holdings("RESTR", VTI=10, BND=5),
                holdings("LOSS", VXUS=10),
                holdings("GAIN", VXUS=10),
                holdings("WDRAW", VTI=5),
                holdings("RSRV", VTI=5),
            ]
        ),
    )
    # LOSS's VXUS lot cost 120 a unit, GAIN's 80: at 100 the first sale is a loss, the second
    # a gain.
    lake.write(
        "tax_lots",
        pd.DataFrame({"account_id": ["LOSS", "GAIN"], "symbol": ["VXUS", "VXUS"],
                      "lot_id": ["L-under", "L-over"], "quantity": [10.0, 10.0],
                      "cost_basis": [1_200.0, 800.0], "acquired": [pd.Timestamp("2024-06-03").date()] * 2}),
    )  # fmt: skip
    lake.write(
        "restrictions",
        pd.DataFrame({"account_id": ["RESTR", "RESTR"], "symbol": ["VXUS", "BND"],
                      "restriction": ["restricted", "do_not_trade"], "reason": [None, None]}),
    )  # fmt: skip
    lake.write(
        "transactions",
        pd.DataFrame({
            "transaction_id": ["T1", "T2"], "account_id": ["OTHER", "OTHER"], "household_id": ["H4", "H4"],
            "symbol": ["VTI", "BND"], "side": ["SELL", "SELL"], "quantity": [1.0, 1.0], "price": [90.0, 90.0],
            "trade_date": [pd.Timestamp("2024-12-20").date(), pd.Timestamp("2024-10-01").date()],
            "realized_gain": [-50.0, -50.0],
        }),
    )  # fmt: skip
    lake.write(
        "recommendations",
        pd.DataFrame([
            _trade("OK", "VTI", "SELL", 2),                      # fine
            _trade("OK", "BND", "BUY", 2),                       # fine: funded by cash + the sale
            _trade("SHORT", "VTI", "SELL", 4),                   # holds 3
            _trade("RESTR", "VXUS", "BUY", 1),                   # restricted: no buys
            _trade("RESTR", "BND", "SELL", 1),                   # do not trade: no sells either
            _trade("WASH", "VTI", "BUY", 1),                     # loss sale 11 days earlier
            _trade("WASH", "BND", "BUY", 1),                     # loss sale 91 days earlier: fine
            _trade("CASH", "VTI", "BUY", 1, cost=1.0),           # 100 - 50 - 100 - 1 < 0
            _trade("DRIFT", "VTI", "BUY", 1, drift_after=0.2),   # drift went up
            _trade("LOSS", "VXUS", "SELL", 5, lots="L-under:5.0"),  # a loss sale ...
            _trade("SIB", "VXUS", "BUY", 5),                     # ... its sibling buys: wash
            _trade("GAIN", "VXUS", "SELL", 5, lots="L-over:5.0"),   # a gain sale ...
            _trade("SIB2", "VXUS", "BUY", 5),                    # ... its sibling may buy
            _trade("WDRAW", "VTI", "SELL", 2, drift_after=0.2),  # funds a withdrawal: exempt
            _trade("RSRV", "VTI", "SELL", 1, drift_after=0.2, reason="CASH_RAISE+FORCED"),  # a reserve: exempt
        ]),
    )  # fmt: skip
    return lake


def test_audit_finds_exactly_the_planted_violations(planted: LocalLake) -> None:
    found = planted.query(AUDIT)
    got = {
        (r.account_id, None if pd.isna(r.symbol) else r.symbol, r.violation)
        for r in found.itertuples()
    }
    assert got == {
        ("SHORT", "VTI", "SELL_MORE_THAN_HELD"),
        ("RESTR", "VXUS", "RESTRICTED_BUY"),
        ("RESTR", "BND", "RESTRICTED_SELL"),
        ("WASH", "VTI", "WASH_SALE_BUY"),
        ("CASH", None, "CASH_OVERSPENT"),
        ("DRIFT", None, "DRIFT_INCREASED"),
        ("SIB", "VXUS", "SAME_RUN_WASH_SALE"),
    }
    assert set(found["run_id"]) == {"R1"}


def test_generated_book_passes_the_audit(lake: LocalLake) -> None:
    from rebalancer.book import DEFAULT_MODELS, generate_book, write_book
    from rebalancer.market import backfill, load_price_panel, load_securities, seed_securities

    seed_securities(lake)
    backfill(lake, source="history", start="2021-06-01", end="2022-12-28")
    backfill(lake, source="synthetic", start="2021-06-01", end="2022-12-28", interval="1d",
             exclude_history=True, securities=load_securities(lake))  # fmt: skip
    prices = load_price_panel(lake, DEFAULT_MODELS.symbols)
    write_book(lake, generate_book(3_000, seed=11, prices=prices), total_accounts=3_000)
    run = run_recommendations(lake)
    assert run.summary()["trades"] > 1_000
    violations = lake.query(AUDIT)
    assert violations.empty, violations.groupby("violation").size().to_dict()
