"""backfill from providers: validation on the way in, failures reported, history provider."""

from __future__ import annotations

import pandas as pd
import pytest

from rebalancer.errors import MarketDataError
from rebalancer.lake import LocalLake
from rebalancer.market import (
    FetchResult,
    HistoryProvider,
    YFinanceProvider,
    backfill,
    default_universe,
)
from tests.market.yf_fixtures import replay

UNIVERSE = default_universe()
# GONE: a universe symbol the provider no longer serves (a delisting)
WITH_GONE = pd.concat(
    [UNIVERSE, UNIVERSE[UNIVERSE["symbol"] == "AAPL"].assign(symbol="GONE")], ignore_index=True
)
NOW = pd.Timestamp("2024-03-06", tz="UTC")


class Canned:
    """A provider returning fixed bars (with one bad row) for any window."""

    name = "canned"

    def __init__(self, bars: pd.DataFrame) -> None:
        self.bars = bars
        self.calls: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    def fetch(self, symbols, start, end, interval, *, now=None):  # type: ignore[no-untyped-def]
        self.calls.append((start, end))
        ts = self.bars["ts"]
        inside = (ts >= start.tz_localize(None)) & (ts < end.tz_localize(None))
        return FetchResult(self.bars[inside].reset_index(drop=True), {"GONE": "delisted"})


def daily(symbol: str, day: str, close: float, low: float | None = None) -> dict[str, object]:
    return {
        "symbol": symbol,
        "ts": pd.Timestamp(day),
        "interval": "1d",
        "open": close,
        "high": close + 1,
        "low": close - 1 if low is None else low,
        "close": close,
        "volume": 10,
        "source": "canned",
    }


def test_backfill_validates_writes_rejects_and_reports_failures(lake: LocalLake) -> None:
    bars = pd.DataFrame(
        [
            daily("AAPL", "2024-01-02", 100.0),
            daily("AAPL", "2024-01-03", 101.0, low=150.0),  # OHLC_INCONSISTENT
            daily("MSFT", "2024-01-02", 300.0),
        ]
    )
    provider = Canned(bars)
    result = backfill(
        lake,
        source="canned",
        provider=provider,
        interval="1d",
        start="2024-01-01",
        end="2024-01-05",
        symbols=["AAPL", "MSFT", "GONE"],
        securities=WITH_GONE,
        now=NOW,
    )
    assert result.rows == 2 and result.failed == {"GONE": "delisted"}
    rejects = lake.read("ingest_rejects")
    assert list(rejects["reason"]) == ["OHLC_INCONSISTENT"]
    names = {k.rsplit("/", 1)[-1] for k in lake.list_objects("market_prices")}
    assert names == {"backfill-canned-1d.parquet"}
    again = backfill(
        lake, source="canned", provider=provider, interval="1d", start="2024-01-01",
        end="2024-01-05", symbols=["AAPL", "MSFT"], securities=UNIVERSE, now=NOW,
    )  # fmt: skip
    assert again.rows == 2
    assert len(lake.read("market_prices")) == 2  # re-run replaces, never duplicates


def test_backfill_from_recorded_yfinance(lake: LocalLake) -> None:
    provider = YFinanceProvider(download=replay("full_success"), sleep=lambda s: None)
    result = backfill(
        lake,
        source="yfinance",
        provider=provider,
        interval="5m",
        start="2024-03-05",
        end="2024-03-05",
        symbols=["AAPL", "MSFT", "SPY"],
        securities=UNIVERSE,
        now=NOW,
    )
    assert result.rows == 6  # both recorded bars of each symbol are complete by NOW
    assert set(lake.read("market_prices")["source"]) == {"yfinance"}


def test_backfill_where_everything_fails_raises(lake: LocalLake) -> None:
    provider = YFinanceProvider(download=replay("empty_frame"), sleep=lambda s: None)
    with pytest.raises(MarketDataError, match="no usable bars"):
        backfill(
            lake,
            source="yfinance",
            provider=provider,
            interval="5m",
            start="2024-03-05",
            end="2024-03-05",
            symbols=["AAPL", "MSFT", "SPY"],
            securities=UNIVERSE,
            now=NOW,
        )
    assert lake.list_objects("market_prices") == []


def test_start_after_end_is_refused(lake: LocalLake) -> None:
    with pytest.raises(MarketDataError, match="after"):
        backfill(
            lake, source="synthetic", start="2024-02-01", end="2024-01-01", securities=UNIVERSE
        )


def test_history_provider_behind_the_protocol() -> None:
    provider = HistoryProvider()
    result = provider.fetch(
        ["AAPL", "BTC-USD"], pd.Timestamp("2022-01-03"), pd.Timestamp("2022-01-08"), "1d"
    )
    assert set(result.bars["symbol"]) == {"AAPL"}
    assert len(result.bars) == 5  # Monday to Friday
    assert result.failed == {"BTC-USD": "not in the bundled history"}
    with pytest.raises(MarketDataError, match="daily bars only"):
        provider.fetch(["AAPL"], pd.Timestamp("2022-01-03"), pd.Timestamp("2022-01-04"), "5m")
