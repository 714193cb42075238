"""Synthetic provider: deterministic, calibrated, trading-hours aware, 1d == aggregated 5m."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.errors import MarketDataError
from rebalancer.market import SyntheticProvider, default_universe, history_closes
from rebalancer.market._synthetic import ANCHOR, BASE_PRICES, CLASS_VOL

NOW = pd.Timestamp("2030-01-01", tz="UTC")


@pytest.fixture(scope="module")
def provider() -> SyntheticProvider:
    return SyntheticProvider(default_universe(), seed=7)


def day_bars(p: SyntheticProvider, symbols: list[str], day: str, interval: str) -> pd.DataFrame:
    start = pd.Timestamp(day, tz="UTC")
    return p.fetch(symbols, start, start + pd.Timedelta(days=1), interval, now=NOW).bars


def test_same_seed_same_bytes_and_a_slot_alone_matches_the_whole_day() -> None:
    a = SyntheticProvider(default_universe(), seed=3)
    b = SyntheticProvider(default_universe(), seed=3)
    whole = day_bars(a, ["AAPL", "BTC-USD"], "2024-03-05", "5m")
    slot = pd.Timestamp("2024-03-05 15:00", tz="UTC")
    alone = b.fetch(["AAPL", "BTC-USD"], slot, slot + pd.Timedelta(minutes=5), "5m", now=NOW).bars
    expected = whole[whole["ts"] == pd.Timestamp("2024-03-05 15:00")].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, expected)
    other = SyntheticProvider(default_universe(), seed=4)
    assert not np.allclose(
        day_bars(other, ["AAPL"], "2024-03-05", "5m")["close"],
        whole[whole.symbol == "AAPL"]["close"],
    )


def test_equities_trade_0930_to_1600_new_york_on_weekdays_crypto_around_the_clock(
    provider: SyntheticProvider,
) -> None:
    winter = day_bars(provider, ["AAPL", "BTC-USD"], "2024-03-05", "5m")  # EST
    summer = day_bars(provider, ["AAPL"], "2024-07-09", "5m")  # EDT
    aapl = winter[winter["symbol"] == "AAPL"]
    assert len(aapl) == 78
    assert aapl["ts"].min() == pd.Timestamp("2024-03-05 14:30")
    assert aapl["ts"].max() == pd.Timestamp("2024-03-05 20:55")
    assert summer["ts"].min() == pd.Timestamp("2024-07-09 13:30")
    assert len(winter[winter["symbol"] == "BTC-USD"]) == 288
    saturday = day_bars(provider, ["AAPL", "BTC-USD", "CASH"], "2024-03-09", "5m")
    assert set(saturday["symbol"]) == {"BTC-USD"}  # no weekend equity bars, never cash


def test_bars_are_consistent_and_the_path_is_continuous(provider: SyntheticProvider) -> None:
    bars = day_bars(provider, ["MSFT", "ETH-USD", "TLT"], "2024-03-05", "5m")
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars[["open", "high", "low", "close"]] > 0).all().all()
    assert (bars["volume"] >= 0).all()
    for _, g in bars.groupby("symbol"):
        g = g.sort_values("ts")
        np.testing.assert_allclose(g["open"].to_numpy()[1:], g["close"].to_numpy()[:-1])


def test_daily_bar_aggregates_the_days_intraday_bars(provider: SyntheticProvider) -> None:
    intraday = day_bars(provider, ["AAPL", "BTC-USD"], "2024-03-05", "5m")
    daily = day_bars(provider, ["AAPL", "BTC-USD"], "2024-03-05", "1d").set_index("symbol")
    for symbol, g in intraday.groupby("symbol"):
        g = g.sort_values("ts")
        row = daily.loc[symbol]
        assert row["open"] == pytest.approx(g["open"].iloc[0])
        assert row["close"] == pytest.approx(g["close"].iloc[-1])
        assert row["high"] == pytest.approx(g["high"].max())
        assert row["low"] == pytest.approx(g["low"].min())
        assert row["volume"] == pytest.approx(g["volume"].sum())


def test_anchor_price_is_the_documented_base(provider: SyntheticProvider) -> None:
    anchor = pd.Timestamp(ANCHOR, tz="UTC")
    daily = provider.fetch(["BTC-USD", "SHY"], anchor, anchor + pd.Timedelta(days=1), "1d", now=NOW)
    closes = daily.bars.set_index("symbol")["close"]
    assert closes["BTC-USD"] == pytest.approx(BASE_PRICES["BTC-USD"])
    assert closes["SHY"] == pytest.approx(BASE_PRICES["SHY"])


def test_daily_history_covers_years_with_calibrated_volatility(provider: SyntheticProvider) -> None:
    symbols = ["AAPL", "KO", "XOM", "AGG", "BTC-USD", "NEWCO"]
    bars = provider.fetch(
        symbols, pd.Timestamp("2019-01-01"), pd.Timestamp("2024-01-01"), "1d", now=NOW
    ).bars
    assert set(bars["symbol"]) == set(symbols)
    closes = bars.pivot(index="ts", columns="symbol", values="close")
    equity_days = closes["AAPL"].dropna()
    assert len(equity_days) > 1200  # weekdays over five years
    vol = lambda s: float(np.log(s.dropna()).diff().std() * np.sqrt(len(s.dropna()) / 5))  # noqa: E731
    assert 0.2 < vol(closes["KO"]) < 0.4  # equity target 29%
    assert 0.02 < vol(closes["AGG"]) < 0.09  # bond ETF target 5.5%
    assert 0.45 < vol(closes["BTC-USD"]) < 0.85  # crypto target 65%


def test_class_vols_are_the_bundled_history_medians() -> None:
    closes = history_closes()
    vols = np.log(closes).diff().std() * np.sqrt(252)
    etfs = ["MTUM", "QUAL", "SIZE", "USMV", "VLUE"]
    stocks = [c for c in closes.columns if c not in etfs]
    assert CLASS_VOL["equity"] == pytest.approx(float(vols[stocks].median()), abs=5e-4)
    assert CLASS_VOL["equity_etf"] == pytest.approx(float(vols[etfs].median()), abs=5e-4)


def test_forming_bar_is_not_returned(provider: SyntheticProvider) -> None:
    start = pd.Timestamp("2024-03-05 14:30", tz="UTC")
    now = pd.Timestamp("2024-03-05 14:42", tz="UTC")
    bars = provider.fetch(["AAPL"], start, start + pd.Timedelta(hours=1), "5m", now=now).bars
    assert list(bars["ts"].dt.strftime("%H:%M")) == ["14:30", "14:35"]


def test_out_of_range_dates_and_intervals_are_refused(provider: SyntheticProvider) -> None:
    with pytest.raises(MarketDataError, match="covers"):
        provider.fetch(
            ["AAPL"], pd.Timestamp("1995-01-01"), pd.Timestamp("1995-02-01"), "1d", now=NOW
        )
    with pytest.raises(MarketDataError, match="unsupported interval"):
        provider.fetch(
            ["AAPL"], pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02"), "1h", now=NOW
        )


def test_crypto_path_is_continuous_across_midnight(provider: SyntheticProvider) -> None:
    start = pd.Timestamp("2024-03-05 23:50", tz="UTC")
    bars = provider.fetch(["BTC-USD"], start, start + pd.Timedelta(minutes=20), "5m", now=NOW).bars
    assert len(bars) == 4
    np.testing.assert_allclose(bars["open"].to_numpy()[1:], bars["close"].to_numpy()[:-1])


def test_xnys_calendar_counts_and_holidays(provider: SyntheticProvider) -> None:
    from rebalancer.market._calendar import is_xnys_session, xnys_sessions

    for year, sessions in [(2021, 252), (2022, 251), (2023, 250), (2024, 252)]:
        days = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"))
        assert xnys_sessions(days).sum() == sessions  # NYSE's published session counts
    assert not is_xnys_session("2024-07-04")
    assert not is_xnys_session("2022-06-20")  # Juneteenth on a Sunday, observed Monday
    assert is_xnys_session("2021-06-18")  # before Juneteenth was an exchange holiday
    assert is_xnys_session("2021-12-31")  # New Year's Day 2022 fell on a Saturday: no make-up
    assert not is_xnys_session("2024-03-29")  # Good Friday
    july4 = day_bars(provider, ["AAPL", "BTC-USD"], "2024-07-04", "5m")
    assert set(july4["symbol"]) == {"BTC-USD"}
