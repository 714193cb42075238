"""The latest-prices object: every price write (ingest, backfill) refreshes it; it answers the
default as-of and the prices exactly as the queries do, or declines; a warm process reads it
once; a lake without it is rebuilt with one query."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.lake import LocalLake
from rebalancer.market import SyntheticProvider, book_as_of, ingest_slot, load_prices
from rebalancer.market._latest import (
    LATEST_KEY,
    prices_from_latest,
    read_latest_prices,
    refresh_latest_prices,
)

SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]


def _bars(symbols: list[str], interval: str, stamps: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = pd.DataFrame([(s, t) for s in symbols for t in stamps], columns=["symbol", "ts"]).assign(
        close=lambda f: rng.uniform(10, 500, len(f))
    )
    return rows.assign(
        interval=interval, open=rows["close"], high=rows["close"], low=rows["close"],
        volume=1_000, source="synthetic", ingested_at=pd.Timestamp("2024-03-20"),
    )  # fmt: skip


@pytest.fixture
def priced(tmp_path: Path) -> LocalLake:
    """Daily bars for all symbols, 5-minute bars for two; DDD's feed stops two days early."""
    lake = LocalLake(tmp_path / "lake")
    days = pd.bdate_range("2024-02-20", "2024-03-15")
    lake.write("market_prices", _bars(SYMBOLS[:3], "1d", days, 1), name="daily")
    lake.write("market_prices", _bars(["DDD"], "1d", days[:-2], 2), name="ddd")
    minutes = pd.date_range("2024-03-15 14:30", "2024-03-15 20:55", freq="5min")
    lake.write("market_prices", _bars(["AAA", "BBB"], "5m", minutes, 3), name="minutes")
    return lake


def _same(lake: LocalLake, symbols: list[str], as_of: pd.Timestamp | None) -> bool:
    """The object's answer equals the queries' when it answers; True when it answered."""
    got = prices_from_latest(lake, symbols, as_of)
    if got is None:
        return False
    when = as_of if as_of is not None else book_as_of(lake, symbols)
    assert got[0] == when
    want = load_prices(lake, when)
    pd.testing.assert_series_equal(got[1].sort_index(), want.sort_index(), check_names=False)
    return True


def test_price_writes_refresh_the_object_and_it_answers_like_the_queries(
    priced: LocalLake,
) -> None:
    assert (Path(priced.root) / LATEST_KEY).is_file()
    latest = read_latest_prices(priced)
    assert latest is not None
    assert len(latest) == 4 + 2  # one row per (symbol, interval)
    assert _same(priced, ["AAA", "BBB", "CCC"], None)  # as-of at the daily bars' close
    # DDD's stale close sets the as-of, where the others' newest bars closed later: their
    # price is an older bar the object does not hold, so it declines (the queries answer).
    assert prices_from_latest(priced, SYMBOLS, None) is None
    assert prices_from_latest(priced, SYMBOLS, book_as_of(priced, SYMBOLS)) is None
    answered = 0
    for as_of in pd.date_range("2024-03-12", "2024-03-18", freq="7h"):
        answered += _same(priced, ["AAA", "CCC"], as_of)
    assert answered > 0
    assert prices_from_latest(priced, ["AAA"], pd.Timestamp("2024-03-13")) is None

    # A newer bar written later (an ingest) moves the object and this process's cache at once.
    newer = _bars(["AAA"], "5m", pd.DatetimeIndex(["2024-03-18 14:30"]), 9)
    priced.write("market_prices", newer, name="newer")
    got = prices_from_latest(priced, ["AAA"], None)
    assert got is not None and got[1]["AAA"] == newer["close"].iloc[0]
    assert _same(priced, ["AAA"], None)


def test_ingest_refreshes_the_object(tmp_path: Path) -> None:
    from rebalancer.market import default_universe

    lake = LocalLake(tmp_path / "lake")
    universe = default_universe()
    slot = pd.Timestamp("2024-03-14 15:02", tz="UTC")
    summary = ingest_slot(lake, SyntheticProvider(universe, seed=1), slot, securities=universe)
    latest = read_latest_prices(lake)
    assert latest is not None and len(latest) == summary.rows_written
    bars = lake.read("market_prices")
    assert set(latest["symbol"]) == set(bars["symbol"].astype(str))
    ingest_slot(lake, SyntheticProvider(universe, seed=1), slot + pd.Timedelta("5min"),
                securities=universe)  # fmt: skip
    latest = read_latest_prices(lake)
    assert latest is not None and latest["ts"].max() == lake.read("market_prices")["ts"].max()
    assert _same(lake, sorted(set(latest["symbol"])), None)


def test_a_lake_without_the_object_is_rebuilt_with_one_query(priced: LocalLake) -> None:
    before = read_latest_prices(priced)
    (Path(priced.root) / LATEST_KEY).unlink()
    priced.close()
    lake = LocalLake(priced.root)
    refresh_latest_prices(lake)  # the one-time rebuild (a lake older than the object)
    after = read_latest_prices(lake)
    assert before is not None and after is not None
    cols = ["symbol", "interval", "ts", "close"]
    pd.testing.assert_frame_equal(
        after[cols].sort_values(cols[:2], ignore_index=True),
        before[cols].sort_values(cols[:2], ignore_index=True),
    )
    # A write to a lake whose object is missing but which holds older bars rebuilds too.
    (Path(lake.root) / LATEST_KEY).unlink()
    lake.write("market_prices", _bars(["CCC"], "1d", pd.DatetimeIndex(["2024-03-18"]), 5), name="c")
    again = read_latest_prices(lake)
    assert again is not None and set(again["symbol"]) == set(SYMBOLS)
