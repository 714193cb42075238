"""Athena SQL an analyst would write, run on the local lake, checked against pandas.

Every expected value is computed independently with pandas on the same rows, never by the
engine under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.errors import QueryError
from rebalancer.lake import LocalLake, athena_to_duckdb, joda_to_strftime

SYMBOLS = ["AAPL", "MSFT", "BTC-USD", "AGG"]


@pytest.fixture
def bars() -> pd.DataFrame:
    """Three days of 5-minute bars for four symbols (a random walk, seeded)."""
    rng = np.random.default_rng(42)
    stamps = pd.date_range("2024-03-04 14:30", periods=3 * 78, freq="5min")
    stamps = stamps[stamps.hour < 23]
    frames = []
    for i, symbol in enumerate(SYMBOLS):
        close = 100 * (i + 1) * np.exp(np.cumsum(rng.normal(0, 0.002, len(stamps))))
        open_ = close * (1 + rng.normal(0, 0.0005, len(stamps)))
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "ts": stamps,
                    "interval": "5m",
                    "open": open_,
                    "high": np.maximum(open_, close) * 1.001,
                    "low": np.minimum(open_, close) * 0.999,
                    "close": close,
                    "volume": rng.integers(100, 10_000, len(stamps)),
                    "source": "synthetic",
                    "ingested_at": pd.Timestamp("2024-03-08"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def daily(bars: pd.DataFrame) -> pd.DataFrame:
    frame = bars.copy()
    frame["day"] = frame["ts"].dt.floor("D")
    out = (
        frame.sort_values("ts")
        .groupby(["symbol", "day"], as_index=False)
        .agg(
            open=("open", "first"),
            high=("high", "max"),
            low=("low", "min"),
            close=("close", "last"),
            volume=("volume", "sum"),
        )
        .rename(columns={"day": "ts"})
    )
    out["interval"] = "1d"
    out["source"] = "history"
    out["ingested_at"] = pd.Timestamp("2024-03-08")
    return out


@pytest.fixture
def loaded(lake: LocalLake, bars: pd.DataFrame, daily: pd.DataFrame) -> LocalLake:
    lake.write("market_prices", bars, name="slots")
    lake.write("market_prices", daily, name="daily")
    return lake


def test_count_by_symbol(loaded: LocalLake, bars: pd.DataFrame) -> None:
    got = loaded.query(
        """SELECT symbol, count(*) AS n FROM market_prices WHERE "interval" = '5m'
           GROUP BY 1 ORDER BY 1"""
    )
    expected = bars.groupby("symbol").size().sort_index()
    assert got["symbol"].tolist() == expected.index.tolist()
    assert got["n"].tolist() == expected.tolist()


def test_date_trunc_hourly_ohlc(loaded: LocalLake, bars: pd.DataFrame) -> None:
    got = loaded.query(
        """SELECT symbol, date_trunc('hour', ts) AS hour, max(high) AS high, min(low) AS low,
                  sum(volume) AS volume
           FROM market_prices WHERE "interval" = '5m' GROUP BY 1, 2 ORDER BY 1, 2"""
    )
    frame = bars.assign(hour=bars["ts"].dt.floor("h"))
    expected = (
        frame.groupby(["symbol", "hour"], as_index=False)
        .agg(high=("high", "max"), low=("low", "min"), volume=("volume", "sum"))
        .sort_values(["symbol", "hour"])
        .reset_index(drop=True)
    )
    assert len(got) == len(expected)
    assert (pd.to_datetime(got["hour"]) == expected["hour"]).all()
    np.testing.assert_allclose(got["high"], expected["high"])
    np.testing.assert_allclose(got["low"], expected["low"])
    assert got["volume"].astype("int64").tolist() == expected["volume"].tolist()


def test_date_add_window(loaded: LocalLake, bars: pd.DataFrame) -> None:
    got = loaded.query(
        """SELECT symbol, count(*) AS n FROM market_prices
           WHERE "interval" = '5m'
             AND ts > date_add('hour', -2, (SELECT max(ts) FROM market_prices WHERE "interval" = '5m'))
           GROUP BY 1 ORDER BY 1"""
    )
    cutoff = bars["ts"].max() - pd.Timedelta(hours=2)
    expected = bars[bars["ts"] > cutoff].groupby("symbol").size().sort_index()
    assert got["n"].tolist() == expected.tolist()


def test_date_add_returns_timestamp(loaded: LocalLake) -> None:
    got = loaded.query("SELECT date_add('day', 1, timestamp '2024-03-04 10:00:00') AS t")
    assert pd.Timestamp(got["t"].iloc[0]) == pd.Timestamp("2024-03-05 10:00:00")


@pytest.mark.parametrize(
    ("unit", "start", "end", "expected"),
    [
        ("day", "2024-01-01 23:00:00", "2024-01-02 01:00:00", 0),  # Trino counts whole days
        ("day", "2024-01-01 00:00:00", "2024-01-03 00:00:00", 2),
        ("hour", "2024-01-01 23:00:00", "2024-01-02 01:30:00", 2),
        ("minute", "2024-01-01 00:00:00", "2024-01-01 00:04:59", 4),
        ("day", "2024-01-03 00:00:00", "2024-01-01 00:00:00", -2),
    ],
)
def test_date_diff_counts_complete_units(
    loaded: LocalLake, unit: str, start: str, end: str, expected: int
) -> None:
    got = loaded.query(f"SELECT date_diff('{unit}', timestamp '{start}', timestamp '{end}') AS d")
    assert int(got["d"].iloc[0]) == expected
    seconds = (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds()
    per_unit = {"day": 86400, "hour": 3600, "minute": 60}[unit]
    assert int(got["d"].iloc[0]) == int(seconds / per_unit)  # truncation toward zero


def test_date_diff_per_symbol(loaded: LocalLake, bars: pd.DataFrame) -> None:
    got = loaded.query(
        """SELECT symbol, date_diff('minute', min(ts), max(ts)) AS span
           FROM market_prices WHERE "interval" = '5m' GROUP BY 1 ORDER BY 1"""
    )
    spans = bars.groupby("symbol")["ts"].agg(lambda s: (s.max() - s.min()).total_seconds() // 60)
    assert got["span"].tolist() == spans.sort_index().astype(int).tolist()


def test_approx_percentile(loaded: LocalLake, bars: pd.DataFrame) -> None:
    got = loaded.query(
        """SELECT symbol, approx_percentile(close, 0.5) AS p50, approx_percentile(close, 0.9) AS p90
           FROM market_prices WHERE "interval" = '5m' GROUP BY 1 ORDER BY 1"""
    )
    expected = bars.groupby("symbol")["close"].quantile([0.5, 0.9]).unstack().sort_index()
    np.testing.assert_allclose(got["p50"], expected[0.5], rtol=0.01)
    np.testing.assert_allclose(got["p90"], expected[0.9], rtol=0.01)


def test_lag_lead_returns(loaded: LocalLake, daily: pd.DataFrame) -> None:
    got = loaded.query(
        """SELECT symbol, ts, close / lag(close) OVER (PARTITION BY symbol ORDER BY ts) - 1 AS ret,
                  lead(close) OVER (PARTITION BY symbol ORDER BY ts) AS next_close
           FROM market_prices WHERE "interval" = '1d' ORDER BY symbol, ts"""
    )
    frame = daily.sort_values(["symbol", "ts"]).reset_index(drop=True)
    expected_ret = frame.groupby("symbol")["close"].pct_change()
    expected_next = frame.groupby("symbol")["close"].shift(-1)
    np.testing.assert_allclose(got["ret"].astype(float), expected_ret, equal_nan=True)
    np.testing.assert_allclose(got["next_close"].astype(float), expected_next, equal_nan=True)


def test_row_number_latest_bar(loaded: LocalLake, bars: pd.DataFrame) -> None:
    got = loaded.query(
        """WITH ranked AS (
               SELECT symbol, ts, close,
                      row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) AS rn
               FROM market_prices WHERE "interval" = '5m')
           SELECT symbol, ts, close FROM ranked WHERE rn = 1 ORDER BY symbol"""
    )
    expected = bars.loc[bars.groupby("symbol")["ts"].idxmax()].sort_values("symbol")
    assert got["close"].tolist() == pytest.approx(expected["close"].tolist())
    assert (pd.to_datetime(got["ts"]).to_numpy() == expected["ts"].to_numpy()).all()


def test_rolling_stddev_over(loaded: LocalLake, bars: pd.DataFrame) -> None:
    got = loaded.query(
        """SELECT symbol, ts, stddev(close) OVER (PARTITION BY symbol ORDER BY ts
                  ROWS BETWEEN 11 PRECEDING AND CURRENT ROW) AS vol
           FROM market_prices WHERE "interval" = '5m' ORDER BY symbol, ts"""
    )
    frame = bars.sort_values(["symbol", "ts"]).reset_index(drop=True)
    expected = frame.groupby("symbol")["close"].transform(
        lambda s: s.rolling(12, min_periods=2).std()
    )
    np.testing.assert_allclose(got["vol"].astype(float), expected, rtol=1e-9, equal_nan=True)


def test_cte_join_latest_vs_first(loaded: LocalLake, daily: pd.DataFrame) -> None:
    got = loaded.query(
        """WITH first_day AS (SELECT symbol, min(ts) AS ts FROM market_prices WHERE "interval" = '1d' GROUP BY 1),
                last_day AS (SELECT symbol, max(ts) AS ts FROM market_prices WHERE "interval" = '1d' GROUP BY 1)
           SELECT f.symbol, l.close / f.close - 1 AS total_return
           FROM first_day d1
           JOIN market_prices f ON f.symbol = d1.symbol AND f.ts = d1.ts AND f."interval" = '1d'
           JOIN last_day d2 ON d2.symbol = d1.symbol
           JOIN market_prices l ON l.symbol = d2.symbol AND l.ts = d2.ts AND l."interval" = '1d'
           ORDER BY 1"""
    )
    frame = daily.sort_values("ts")
    expected = (
        frame.groupby("symbol")["close"].agg(lambda s: s.iloc[-1] / s.iloc[0] - 1).sort_index()
    )
    np.testing.assert_allclose(got["total_return"], expected)


def test_try_cast(loaded: LocalLake) -> None:
    got = loaded.query("SELECT try_cast('abc' AS double) AS bad, try_cast('1.5' AS double) AS good")
    assert pd.isna(got["bad"].iloc[0])
    assert got["good"].iloc[0] == 1.5


def _trino_div(a: int, b: int) -> int:
    """Trino's integer division: the quotient truncated toward zero (not floored)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("7/2", _trino_div(7, 2)),
        ("-7/2", _trino_div(-7, 2)),
        ("7/(-2)", _trino_div(7, -2)),
        ("-7/(-2)", _trino_div(-7, -2)),
        ("1/3", 0),
        ("CAST(7 AS bigint)/CAST(2 AS bigint)", 3),
        ("CAST(-9 AS smallint)/4", _trino_div(-9, 4)),
        ("7/2.0", 3.5),
        ("7.0/2", 3.5),
        ("CAST(7 AS double)/2", 3.5),
        ("-7 % 2", -1),
    ],
)
def test_integer_division_truncates_like_trino(
    loaded: LocalLake, expr: str, expected: float
) -> None:
    got = loaded.query(f"SELECT {expr} AS q")["q"].iloc[0]
    assert got == expected
    if isinstance(expected, int):
        assert float(got).is_integer() and np.issubdtype(np.asarray(got).dtype, np.integer)


def test_integer_division_by_zero_fails_like_trino(loaded: LocalLake) -> None:
    with pytest.raises(QueryError, match=r"[Dd]ivision by zero"):
        loaded.query("SELECT count(*) / 0 AS q FROM market_prices")


def test_analyst_integer_division(loaded: LocalLake, bars: pd.DataFrame) -> None:
    # Queries an analyst writes: bars per hour, average volume per bar, weeks of data.
    grouped = bars.groupby("symbol")["volume"]
    n, total = grouped.count(), grouped.sum()
    pivot = int(total.median())
    got = loaded.query(
        """SELECT symbol, count(*) / 12 AS hours, sum(volume) / count(*) AS volume_per_bar,
                  (sum(volume) - :pivot) / 7 AS shifted, avg(volume) AS mean_volume
           FROM market_prices WHERE "interval" = '5m' GROUP BY 1 ORDER BY 1""",
        params={"pivot": pivot},
    )
    assert got["hours"].tolist() == [_trino_div(int(v), 12) for v in n]
    assert got["volume_per_bar"].tolist() == [
        _trino_div(int(t), int(c)) for t, c in zip(total, n, strict=True)
    ]
    assert got["shifted"].tolist() == [_trino_div(int(t) - pivot, 7) for t in total]
    assert any(int(t) - pivot < -7 for t in total), "a negative dividend is exercised"
    assert np.issubdtype(got["hours"].dtype, np.integer)
    np.testing.assert_allclose(got["mean_volume"], grouped.mean())  # avg stays a double


def test_regexp_like(loaded: LocalLake, bars: pd.DataFrame) -> None:
    got = loaded.query(
        """SELECT DISTINCT symbol FROM market_prices WHERE regexp_like(symbol, '-USD$|^A') ORDER BY 1"""
    )
    expected = sorted(s for s in bars["symbol"].unique() if s.endswith("-USD") or s.startswith("A"))
    assert got["symbol"].tolist() == expected


@pytest.mark.parametrize("literal", ["2024-03-05T15:00:00Z", "2024-03-05T17:00:00+02:00"])
def test_from_iso8601_timestamp(loaded: LocalLake, bars: pd.DataFrame, literal: str) -> None:
    got = loaded.query(
        f"""SELECT count(*) AS n FROM market_prices
            WHERE "interval" = '5m' AND ts >= from_iso8601_timestamp('{literal}')"""
    )
    cutoff = pd.Timestamp(literal).tz_convert("UTC").tz_localize(None)
    assert int(got["n"].iloc[0]) == int((bars["ts"] >= cutoff).sum())


def test_format_datetime(loaded: LocalLake, bars: pd.DataFrame) -> None:
    got = loaded.query(
        """SELECT DISTINCT format_datetime(ts, 'yyyy-MM-dd HH:mm') AS label
           FROM market_prices WHERE "interval" = '5m' AND symbol = 'AAPL' ORDER BY 1 LIMIT 5"""
    )
    expected = sorted(
        bars.loc[bars["symbol"] == "AAPL", "ts"].dt.strftime("%Y-%m-%d %H:%M").unique()
    )[:5]
    assert got["label"].tolist() == expected


def test_daily_returns_view(loaded: LocalLake, daily: pd.DataFrame) -> None:
    got = loaded.query("SELECT symbol, ts, daily_return FROM daily_returns ORDER BY symbol, ts")
    frame = daily.sort_values(["symbol", "ts"]).reset_index(drop=True)
    np.testing.assert_allclose(
        got["daily_return"].astype(float),
        frame.groupby("symbol")["close"].pct_change(),
        equal_nan=True,
    )


def test_latest_prices_view(loaded: LocalLake, bars: pd.DataFrame) -> None:
    got = loaded.query(
        """SELECT symbol, close FROM latest_prices WHERE "interval" = '5m' ORDER BY symbol"""
    )
    expected = bars.loc[bars.groupby("symbol")["ts"].idxmax()].sort_values("symbol")
    assert got["close"].tolist() == pytest.approx(expected["close"].tolist())


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd", "%Y-%m-%d"),
        ("yyyy-MM-dd'T'HH:mm:ss", "%Y-%m-%dT%H:%M:%S"),
        ("dd MMM yyyy, hh:mm a", "%d %b %Y, %I:%M %p"),
        ("EEEE 100%", "%A 100%%"),
    ],
)
def test_joda_patterns(pattern: str, expected: str) -> None:
    assert joda_to_strftime(pattern) == expected


def test_unsupported_joda_letter() -> None:
    with pytest.raises(QueryError, match="unsupported pattern letters 'Q'"):
        joda_to_strftime("yyyy-Q")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM no_such_table", "unknown table no_such_table"),
        ("SELEC symbol FROM market_prices", "syntax error"),
        ("SELECT symbol FROM market_prices WHERE", "syntax error"),
        ("SELECT frobnicate(close) FROM market_prices", "unsupported function frobnicate"),
        ("SELECT no_such_column FROM market_prices", "no_such_column"),
        ("", "empty query"),
        ("   ", "empty query"),
        ("DROP VIEW market_prices", "only SELECT"),
        ("INSERT INTO holdings VALUES ('a', 'b', 1)", "only SELECT"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT format_datetime(ts, 'yyyy-Q') FROM market_prices", "unsupported pattern"),
    ],
)
def test_bad_queries_give_one_line(loaded: LocalLake, sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as info:
        loaded.query(sql)
    assert "\n" not in str(info.value)


def test_syntax_error_has_position() -> None:
    with pytest.raises(QueryError, match=r"line 1, column \d+"):
        athena_to_duckdb("SELECT symbol FROM market_prices WHERE (close > 1")


def test_bad_query_leaves_data_intact(
    loaded: LocalLake, bars: pd.DataFrame, daily: pd.DataFrame
) -> None:
    with pytest.raises(QueryError):
        loaded.query("SELECT 1; DROP VIEW market_prices")
    assert loaded.query("SELECT count(*) AS n FROM market_prices")["n"].iloc[0] == len(bars) + len(
        daily
    )
