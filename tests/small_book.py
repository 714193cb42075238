"""A small hand-written book on a lake: three accounts (one invalid) and prices as 5m and daily
bars around the as-of time, shared by the recommend use-case and CLI tests."""

from __future__ import annotations

import pandas as pd

from rebalancer.lake import LocalLake
from tests.engine.books import SECURITIES, account, holdings, lots, model

#: The market time the book's tests recommend at.
AS_OF = "2024-12-31T16:00:00"


def price_bars(symbol: str, closes: list[tuple[str, str, float]]) -> pd.DataFrame:
    """market_prices rows of one symbol from (ts, interval, close) triples."""
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


def write_three_accounts(lake: LocalLake) -> LocalLake:
    """A1 drifted (75/25 vs 60/40, taxable), A2 with a 10k deposit pending, A3 invalid
    (negative quantity); VTI priced by 5m bars (the 16:00 one still open), BND by daily."""
    lake.write("securities", SECURITIES)
    lake.write(
        "market_prices",
        pd.concat(
            [
                # VTI: the 15:50 bar closed at 15:55 (100); the 16:00 bar is still open (999).
                price_bars(
                    "VTI",
                    [
                        ("2024-12-31 15:50", "5m", 100.0),
                        ("2024-12-31 16:00", "5m", 999.0),
                        ("2024-12-30", "1d", 90.0),
                    ],
                ),
                # BND: only a daily bar of 12-30 (closed 12-31 00:00) and one of 12-31 (still open).
                price_bars("BND", [("2024-12-30", "1d", 100.0), ("2024-12-31", "1d", 555.0)]),
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
