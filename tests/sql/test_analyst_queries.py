"""sql/queries/*.sql (the analyst queries Terraform publishes as Athena named queries) run on
the local backend and give what pandas computes independently from the same rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.lake import LocalLake
from tests.conftest import sample_frame

QUERIES = Path(__file__).resolve().parents[2] / "sql" / "queries"


def _sql(name: str) -> str:
    return (QUERIES / f"{name}.sql").read_text()


def _bars(interval: str, days: int, per_day: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-02")
    step = pd.Timedelta(minutes=5)
    for symbol, price in (("AAA", 100.0), ("BBB", 20.0)):
        for day in range(days):
            for slot in range(per_day):
                ts = start + pd.Timedelta(days=day) + slot * step
                price *= float(np.exp(rng.normal(0, 0.02)))
                rows.append(
                    {
                        "symbol": symbol,
                        "ts": ts,
                        "interval": interval,
                        "open": price,
                        "high": price * 1.01,
                        "low": price * 0.99,
                        "close": price,
                        "volume": int(rng.integers(1, 10_000)),
                        "source": "synthetic",
                        "ingested_at": ts + pd.Timedelta(minutes=1),
                    }
                )
    return pd.DataFrame(rows)


def test_every_query_file_has_a_description_line() -> None:
    files = sorted(QUERIES.glob("*.sql"))
    assert len(files) >= 3
    for path in files:
        first = path.read_text().splitlines()[0]
        assert first.startswith("-- ") and len(first) > 20, path.name  # Athena's description


def test_daily_volume_by_symbol(lake: LocalLake) -> None:
    bars = _bars("5m", days=3, per_day=12, seed=1)
    lake.write("market_prices", bars)
    lake.write("market_prices", _bars("1d", days=3, per_day=1, seed=2), name="daily")
    got = lake.query(_sql("daily_volume_by_symbol"))
    bars["dt"] = bars["ts"].dt.strftime("%Y-%m-%d")
    expected = (
        bars.groupby(["dt", "symbol"])
        .agg(
            bars=("ts", "size"), volume=("volume", "sum"), low=("low", "min"), high=("high", "max")
        )
        .reset_index()
        .sort_values(["dt", "symbol"], ascending=[False, True])
        .reset_index(drop=True)
    )
    assert list(got.columns) == ["dt", "symbol", "bars", "volume", "low", "high"]
    assert got["dt"].astype(str).tolist() == expected["dt"].tolist()
    assert got["symbol"].tolist() == expected["symbol"].tolist()
    assert got["bars"].tolist() == expected["bars"].tolist() == [12] * 6
    assert got["volume"].tolist() == expected["volume"].tolist()
    np.testing.assert_allclose(got["high"], expected["high"])


def test_volatility_20d(lake: LocalLake) -> None:
    bars = _bars("1d", days=30, per_day=1, seed=3)
    lake.write("market_prices", bars)
    got = lake.query(_sql("volatility_20d"))
    expected = []
    for symbol, group in bars.groupby("symbol"):
        returns = group["close"].pct_change()
        vol = returns.rolling(20, min_periods=20).std(ddof=1) * np.sqrt(252)
        for ts, value in zip(group["ts"], vol, strict=True):
            if not np.isnan(value):
                expected.append((symbol, ts.strftime("%Y-%m-%d"), value))
    # 30 closes -> 29 returns -> 10 full 20-return windows per symbol.
    assert len(expected) == 20
    assert list(zip(got["symbol"], got["dt"].astype(str), strict=True)) == [
        (s, d) for s, d, _ in expected
    ]
    np.testing.assert_allclose(got["volatility_20d"], [v for _, _, v in expected], rtol=1e-9)


def test_ingest_rejects_by_day(lake: LocalLake) -> None:
    rejects = sample_frame("ingest_rejects", rows=15, seed=4)
    lake.write("ingest_rejects", rejects)
    got = lake.query(_sql("ingest_rejects_by_day"))
    assert got["rejected_rows"].sum() == 15
    rejects["dt"] = rejects["rejected_at"].dt.strftime("%Y-%m-%d")
    expected = rejects.groupby(["dt", "source", "reason"]).size()
    as_got = got.set_index([got["dt"].astype(str), "source", "reason"])["rejected_rows"]
    assert as_got.sort_index().tolist() == expected.sort_index().tolist()


@pytest.mark.parametrize("latest_first", [True, False])
def test_latest_recommendations(lake: LocalLake, latest_first: bool) -> None:
    old = sample_frame("recommendations", rows=4, seed=5).assign(
        run_id="run-old", as_of=pd.Timestamp("2024-03-01 10:00")
    )
    new = sample_frame("recommendations", rows=3, seed=6).assign(
        run_id="run-new", as_of=pd.Timestamp("2024-03-02 10:00")
    )
    for name, frame in (("b", new), ("a", old)) if latest_first else (("a", old), ("b", new)):
        lake.write("recommendations", frame, name=name)
    got = lake.query(_sql("latest_recommendations"))
    assert set(got["run_id"]) == {"run-new"}
    assert len(got) == 3
    assert got["account_id"].tolist() == sorted(got["account_id"].tolist())
