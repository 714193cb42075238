"""Validation: every bad row is rejected with its reason and raw values, good rows pass."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.market import validate_bars
from rebalancer.market._validate import JUMP_LIMITS

SLOT = pd.Timestamp("2024-03-05 14:30", tz="UTC")
WINDOW = (SLOT, SLOT + pd.Timedelta(minutes=5))
STAMP = pd.Timestamp("2024-03-05 14:35:07", tz="UTC")


def bar(symbol: str = "AAPL", **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "symbol": symbol,
        "ts": pd.Timestamp("2024-03-05 14:30"),
        "interval": "5m",
        "open": 100.0,
        "high": 101.0,
        "low": 99.0,
        "close": 100.5,
        "volume": 1000.0,
        "source": "test",
    }
    row.update(overrides)
    return row


def check(rows: list[dict[str, object]], **kwargs: object):  # type: ignore[no-untyped-def]
    return validate_bars(
        pd.DataFrame(rows), source="test", rejected_at=STAMP, window=WINDOW, **kwargs
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"low": 100.8}, "OHLC_INCONSISTENT"),  # low above open
        ({"high": 100.2}, "OHLC_INCONSISTENT"),  # high below close
        ({"open": -1.0, "low": -2.0}, "NON_POSITIVE_PRICE"),
        ({"close": 0.0, "low": 0.0}, "NON_POSITIVE_PRICE"),
        ({"volume": -5.0}, "NEGATIVE_VOLUME"),
        ({"close": np.nan}, "MISSING_VALUE"),
        ({"symbol": None}, "MISSING_VALUE"),
        ({"ts": None}, "MISSING_VALUE"),
        ({"close": "abc"}, "BAD_TYPE"),
        ({"ts": "not a time"}, "BAD_TYPE"),
        ({"symbol": 12}, "BAD_TYPE"),
        ({"high": np.inf}, "NON_FINITE"),
        ({"interval": "7m"}, "BAD_INTERVAL"),
        ({"ts": pd.Timestamp("2024-03-05 14:35")}, "OUT_OF_SLOT"),  # the next slot
        ({"ts": pd.Timestamp("2024-03-05 14:25")}, "OUT_OF_SLOT"),
    ],
)
def test_each_bad_row_is_rejected_with_its_reason(
    overrides: dict[str, object], reason: str
) -> None:
    result = check([bar("GOOD"), {**bar("AAPL"), **overrides}])
    assert list(result.good["symbol"]) == ["GOOD"]
    assert len(result.rejects) == 1
    assert reason in result.rejects["reason"].item().split(",")
    raw = json.loads(result.rejects["raw"].item())
    assert raw["interval"] == overrides.get("interval", "5m")
    assert result.rejects["table_name"].item() == "market_prices"


def test_a_row_with_several_problems_lists_every_reason() -> None:
    result = check([bar(open=-1.0, volume=-1.0, ts=pd.Timestamp("2024-03-06"))])
    reasons = set(result.rejects["reason"].item().split(","))
    assert {"NON_POSITIVE_PRICE", "NEGATIVE_VOLUME", "OUT_OF_SLOT"} <= reasons


def test_identical_duplicates_keep_one_and_reject_the_rest() -> None:
    result = check([bar(), bar(), bar()])
    assert len(result.good) == 1
    assert list(result.rejects["reason"]) == ["DUPLICATE", "DUPLICATE"]


def test_conflicting_duplicates_are_all_rejected() -> None:
    result = check([bar(), bar(close=100.7, high=101.0)])
    assert result.good.empty
    assert list(result.rejects["reason"]) == ["DUPLICATE_CONFLICT"] * 2


def test_price_jump_against_the_lake_close_is_flagged() -> None:
    result = check([bar(close=190.0, high=191.0)], previous_close={"AAPL": 100.0})
    assert result.good.empty
    assert result.rejects["reason"].item() == "PRICE_JUMP"


def test_jump_limit_depends_on_the_asset_class() -> None:
    rows = [bar("ETF", close=115.0, high=116.0), bar("STK", close=115.0, high=116.0)]
    result = check(
        rows,
        previous_close={"ETF": 100.0, "STK": 100.0},
        asset_classes={"ETF": "equity_etf", "STK": "equity"},
    )
    assert JUMP_LIMITS["5m"]["equity_etf"] < 0.15 < JUMP_LIMITS["5m"]["equity"]
    assert list(result.good["symbol"]) == ["STK"]
    assert list(result.rejects["symbol"]) == ["ETF"]


def test_a_single_spike_inside_a_batch_does_not_reject_the_next_honest_bar() -> None:
    day = pd.Timestamp("2024-03-05 14:30")
    closes = [100.0, 100.5, 190.0, 100.7, 100.9]
    rows = [
        bar(ts=day + pd.Timedelta(minutes=5 * i), open=c, high=c + 0.5, low=c - 0.5, close=c)
        for i, c in enumerate(closes)
    ]
    frame = pd.DataFrame(rows)
    result = validate_bars(
        frame, source="t", rejected_at=STAMP, window=(SLOT, SLOT + pd.Timedelta(hours=1))
    )
    assert result.rejects["reason"].tolist() == ["PRICE_JUMP"]
    assert result.rejects["ts"].item() == day + pd.Timedelta(minutes=10)
    assert len(result.good) == 4


def test_nothing_is_silently_dropped() -> None:
    rows = [bar("A"), bar("B", close=-1.0), bar("C", low=200.0), bar("A")]
    result = check(rows)
    assert len(result.good) + len(result.rejects) == len(rows)


def test_good_rows_fit_the_market_prices_schema(lake) -> None:  # type: ignore[no-untyped-def]
    result = check([bar("A"), bar("B")])
    written = lake.write("market_prices", result.good.assign(ingested_at=STAMP))
    assert len(written) == 1
    rejects = check([bar("C", close=-3.0)]).rejects
    assert lake.write("ingest_rejects", rejects)


def test_missing_column_rejects_every_row_instead_of_crashing() -> None:
    frame = pd.DataFrame([bar()]).drop(columns=["close"])
    result = validate_bars(frame, source="t", rejected_at=STAMP)
    assert result.good.empty
    assert "MISSING_VALUE" in result.rejects["reason"].item()


def test_empty_input_gives_empty_outputs() -> None:
    result = validate_bars(pd.DataFrame([bar()]).iloc[:0], source="t", rejected_at=STAMP)
    assert result.good.empty and result.rejects.empty


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.floats(-10, 1000), st.just(float("nan"))),
            st.one_of(st.floats(-10, 1000), st.just(float("nan"))),
            st.one_of(st.floats(-10, 1000), st.just(float("nan"))),
            st.one_of(st.floats(-10, 1000), st.just(float("nan"))),
            st.one_of(st.floats(-10, 1e6), st.just(float("nan"))),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_accepted_rows_always_satisfy_every_invariant(values: list[tuple[float, ...]]) -> None:
    rows = [
        bar(f"S{i}", open=o, high=h, low=lo, close=c, volume=v)
        for i, (o, h, lo, c, v) in enumerate(values)
    ]
    result = check(rows)
    good = result.good
    assert len(good) + len(result.rejects) == len(rows)
    assert (good[["open", "high", "low", "close"]] > 0).all().all()
    assert (good["low"] <= good[["open", "close"]].min(axis=1)).all()
    assert (good["high"] >= good[["open", "close"]].max(axis=1)).all()
    assert (good["volume"].fillna(0) >= 0).all()
