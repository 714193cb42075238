"""The price panel: validation, as_of bounds, and loading it from market_prices with SQL."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from rebalancer.book import prepare_panel
from rebalancer.errors import ConfigError, MarketDataError
from rebalancer.lake import LocalLake
from rebalancer.market import load_price_panel, price_panel_sql


def _panel(days: int = 600, symbols: tuple[str, ...] = ("AAA", "BBB")) -> pd.DataFrame:
    index = pd.date_range("2020-01-01", periods=days, freq="D")
    rng = np.random.default_rng(0)
    data = {s: 10 * np.exp(np.cumsum(rng.normal(0, 0.01, days))) for s in symbols}
    return pd.DataFrame(data, index=index)


def test_weekends_dropped_gaps_filled_window_cut() -> None:
    raw = _panel()
    weekdays = raw.index[raw.index.day_of_week < 5]
    gap = weekdays[70:73]  # three weekdays without an AAA close
    raw.loc[gap, "AAA"] = np.nan
    raw.loc[: weekdays[49], "BBB"] = np.nan  # BBB starts later: the window starts with it
    panel = prepare_panel(raw, ["AAA", "BBB"])
    days = pd.DatetimeIndex(panel.dates)
    assert (days.day_of_week < 5).all()
    assert days[0] == weekdays[50] and days[-1] == weekdays[-1]
    assert panel.as_of == weekdays[-1].date()
    assert np.isfinite(panel.closes).all() and (panel.closes > 0).all()
    before_gap = raw["AAA"].loc[: gap[0]].dropna().iloc[-1]
    assert (panel.closes[days.isin(gap), 0] == before_gap).all()


def test_optional_symbols_without_full_coverage_are_dropped() -> None:
    raw = _panel(symbols=("AAA", "BBB", "NEW"))
    raw.loc[: raw.index[300], "NEW"] = np.nan
    panel = prepare_panel(raw, ["AAA"])
    assert panel.symbols == ["AAA", "BBB"]


def test_missing_required_symbol_names_it_and_the_backfill() -> None:
    raw = _panel()
    raw["CCC"] = np.nan
    with pytest.raises(MarketDataError, match=r"CCC, ZZZ; run `rebalancer backfill"):
        prepare_panel(raw, ["AAA", "CCC", "ZZZ"])


@pytest.mark.parametrize(
    ("as_of", "message"),
    [(date(2019, 1, 1), "outside"), (date(2030, 1, 1), "outside"), (date(2020, 6, 1), "needs")],
)
def test_as_of_outside_or_too_early(as_of: date, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        prepare_panel(_panel(), ["AAA"], as_of)


def test_weekend_as_of_snaps_to_friday() -> None:
    panel = prepare_panel(_panel(), ["AAA"], date(2021, 5, 16))  # a Sunday
    assert panel.as_of == date(2021, 5, 14)


@pytest.mark.parametrize("bad", [0.0, -3.0])
def test_non_positive_prices_are_rejected(bad: float) -> None:
    raw = _panel()
    raw.iloc[5, 0] = bad
    with pytest.raises(MarketDataError, match="negative"):
        prepare_panel(raw, ["AAA"])


def test_garbage_panels_are_rejected() -> None:
    with pytest.raises(MarketDataError, match="empty"):
        prepare_panel(pd.DataFrame(), ["AAA"])
    with pytest.raises(MarketDataError, match="dates"):
        prepare_panel(pd.DataFrame({"AAA": [1.0]}, index=["not a date"]), ["AAA"])


def test_hostile_symbols_never_reach_sql() -> None:
    with pytest.raises(ConfigError, match="malformed symbol"):
        price_panel_sql(["AAA", "X'); DROP TABLE market_prices; --"])
    with pytest.raises(ConfigError, match="no symbols"):
        price_panel_sql([])


def _bars(symbol: str, days: pd.DatetimeIndex, close: np.ndarray, stamp: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": symbol,
            "ts": days + pd.Timedelta(hours=21),
            "interval": "1d",
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": pd.array([None] * len(days), dtype="Int64"),
            "source": "test",
            "ingested_at": pd.Timestamp(stamp),
        }
    )


def test_load_price_panel_takes_the_latest_daily_bar(lake: LocalLake) -> None:
    days = pd.date_range("2024-01-01", periods=4, freq="D")
    lake.write("market_prices", _bars("AAA", days, np.array([1.0, 2, 3, 4]), "2024-02-01"))
    # a re-ingested (later) bar for the same day wins; a 5m bar is ignored
    lake.write(
        "market_prices", _bars("AAA", days[1:2], np.array([20.0]), "2024-03-01"), name="again"
    )
    five = _bars("AAA", days[2:3], np.array([99.0]), "2024-03-01").assign(interval="5m")
    lake.write("market_prices", five, name="intraday")
    lake.write(
        "market_prices", _bars("BBB", days[:2], np.array([7.0, 8]), "2024-02-01"), name="bbb"
    )
    panel = load_price_panel(lake, ["AAA", "BBB", "CASH"])
    assert list(panel.columns) == ["AAA", "BBB"]
    assert panel["AAA"].tolist() == [1.0, 20.0, 3.0, 4.0]
    assert panel["BBB"].iloc[:2].tolist() == [7.0, 8.0] and panel["BBB"].iloc[2:].isna().all()
    with pytest.raises(
        MarketDataError, match=r"no daily prices for CCC; run `rebalancer backfill` first"
    ):
        load_price_panel(lake, ["AAA", "CCC"])


def test_load_price_panel_on_an_empty_lake(lake: LocalLake) -> None:
    with pytest.raises(MarketDataError, match="AAA, BBB"):
        load_price_panel(lake, ["BBB", "AAA"])


def test_as_of_defaults_to_the_last_day_every_symbol_has_a_close() -> None:
    raw = _panel(days=900)
    raw.loc[raw.index[700] :, "AAA"] = np.nan  # e.g. bundled history ends, a backfill goes on
    panel = prepare_panel(raw, ["AAA", "BBB"])
    last_weekday = raw.index[:700][raw.index[:700].day_of_week < 5][-1]
    assert panel.as_of == last_weekday.date()
    assert prepare_panel(raw, ["BBB"]).as_of > panel.as_of  # only the required symbols count


def test_stale_prices_are_never_frozen_forward() -> None:
    raw = _panel(days=900)
    raw.loc[raw.index[700] :, "AAA"] = np.nan
    with pytest.raises(MarketDataError, match=r"prices end before as_of .* for AAA \(20"):
        prepare_panel(raw, ["AAA", "BBB"], raw.index[-3].date())
