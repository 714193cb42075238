"""Validation of incoming bars: every bad row goes to ``ingest_rejects`` with a reason.

Checks, all vectorized (no per-row Python on the hot path), each a reason code:

``MISSING_VALUE``      symbol, ts or a price is missing / NaN
``BAD_TYPE``           a value that does not parse (text in a price, a non-timestamp ts)
``BAD_INTERVAL``       interval other than 5m / 1d
``NON_FINITE``         an infinite price or volume
``NON_POSITIVE_PRICE`` open, high, low or close <= 0
``OHLC_INCONSISTENT``  not ``low <= min(open, close)`` and ``max(open, close) <= high``
``NEGATIVE_VOLUME``    volume < 0
``OUT_OF_SLOT``        ts outside the window being ingested
``DUPLICATE``          a repeat of an identical (symbol, ts, interval) row (the first is kept)
``DUPLICATE_CONFLICT`` the same (symbol, ts, interval) with different values (all copies)
``PRICE_JUMP``         ``|close / previous close - 1|`` above the asset class limit
                       (:data:`JUMP_LIMITS`), previous close = the preceding bar of the batch,
                       or the last close in the lake for the first bar. A bar right after a
                       rejected spike is compared with the bar before the spike, so one bad
                       print does not take its honest successor down with it.

A row can carry several codes (comma-separated). The raw row is kept as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.market._provider import BAR_COLUMNS, INTERVALS, utc

JUMP_LIMITS: dict[str, dict[str, float]] = {
    "5m": {"equity": 0.20, "equity_etf": 0.10, "bond_etf": 0.05, "crypto": 0.25},
    "1d": {"equity": 0.60, "equity_etf": 0.25, "bond_etf": 0.15, "crypto": 0.50},
}
REJECT_COLUMNS = [
    "table_name",
    "symbol",
    "ts",
    "interval",
    "reason",
    "raw",
    "source",
    "rejected_at",
]
_PRICES = ["open", "high", "low", "close"]


@dataclass(frozen=True)
class Validated:
    """The rows that passed (``market_prices`` shape) and the rejects (``ingest_rejects``)."""

    good: pd.DataFrame
    rejects: pd.DataFrame


def _numeric(frame: pd.DataFrame, column: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(float values, mask of values present but unparseable)."""
    if column not in frame:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw.dtype):
        return np.full(n, np.nan), np.ones(n, dtype=bool)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = np.isnan(values) & raw.notna().to_numpy()
    return values, bad


def _limit_table(
    intervals: Sequence[object], symbols: Sequence[object], classes: Mapping[str, str]
) -> np.ndarray:
    """Jump limit by (interval code, symbol code); the extra last row/column serves code -1."""
    table = np.full((len(intervals) + 1, len(symbols) + 1), np.inf)
    for i, interval in enumerate(intervals):
        limits = JUMP_LIMITS.get(str(interval))
        if limits is None:
            continue
        table[i, :-1] = [
            limits.get(classes.get(str(sym), "equity"), limits["equity"]) for sym in symbols
        ]
    return table


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def validate_bars(
    bars: pd.DataFrame,
    *,
    source: str,
    rejected_at: pd.Timestamp,
    asset_classes: Mapping[str, str] | None = None,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    previous_close: Mapping[str, float] | None = None,
) -> Validated:
    """Split ``bars`` into rows to write and rows to reject (with reasons and raw values)."""
    frame = bars.reset_index(drop=True)
    n = len(frame)
    reasons: dict[str, np.ndarray] = {}

    def flag(code: str, mask: np.ndarray) -> None:
        reasons[code] = reasons.get(code, np.zeros(n, dtype=bool)) | mask

    symbol_raw = frame["symbol"] if "symbol" in frame else pd.Series([None] * n, dtype=object)
    symbol_ok = _non_empty_strings(symbol_raw)
    flag("MISSING_VALUE", ~symbol_ok & symbol_raw.isna().to_numpy())
    flag("BAD_TYPE", ~symbol_ok & symbol_raw.notna().to_numpy())

    ts_raw = frame["ts"] if "ts" in frame else pd.Series([None] * n, dtype=object)
    ts_utc = pd.to_datetime(ts_raw, utc=True, errors="coerce")
    ts = ts_utc.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    flag("MISSING_VALUE", ts_raw.isna().to_numpy())
    flag("BAD_TYPE", np.isnat(ts) & ts_raw.notna().to_numpy())

    interval_raw = frame["interval"] if "interval" in frame else pd.Series([None] * n, dtype=object)
    int_codes, int_uniques = pd.factorize(interval_raw, use_na_sentinel=True)
    known_interval = np.array([u in INTERVALS for u in int_uniques] + [False])  # [-1]: missing
    flag("BAD_INTERVAL", ~known_interval[int_codes])

    prices = {}
    for column in _PRICES:
        values, bad = _numeric(frame, column, n)
        prices[column] = values
        flag("BAD_TYPE", bad)
        flag("MISSING_VALUE", np.isnan(values) & ~bad)
        flag("NON_FINITE", np.isinf(values))
    volume, bad_volume = _numeric(frame, "volume", n)
    flag("BAD_TYPE", bad_volume)
    flag("NON_FINITE", np.isinf(volume))
    flag("NEGATIVE_VOLUME", volume < 0)

    o, h, lo, c = (prices[k] for k in _PRICES)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
        flag("NON_POSITIVE_PRICE", finite & ((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)))
        inconsistent = (lo > np.minimum(o, c)) | (np.maximum(o, c) > h) | (lo > h)
        flag("OHLC_INCONSISTENT", finite & inconsistent)

    if window is not None:
        start = np.datetime64(utc(window[0]).tz_localize(None), "us")
        end = np.datetime64(utc(window[1]).tz_localize(None), "us")
        flag("OUT_OF_SLOT", ~np.isnat(ts) & ((ts < start) | (ts >= end)))

    bad_so_far = np.zeros(n, dtype=bool)
    for mask in reasons.values():
        bad_so_far |= mask

    # one sort of the otherwise-good rows by (symbol, interval, ts) serves both the duplicate
    # check (equal keys are adjacent) and the jump check (predecessor = previous row)
    sym_codes, sym_uniques = pd.factorize(symbol_raw, use_na_sentinel=True)
    ts_int = ts.view("int64")
    cand = np.flatnonzero(~bad_so_far)
    order = cand[np.lexsort((ts_int[cand], int_codes[cand], sym_codes[cand]))]
    same_group = np.zeros(order.size, dtype=bool)
    if order.size > 1:
        same_group[1:] = (sym_codes[order][1:] == sym_codes[order][:-1]) & (
            int_codes[order][1:] == int_codes[order][:-1]
        )
    same_key = same_group.copy()
    same_key[1:] &= ts_int[order][1:] == ts_int[order][:-1]
    keep = np.ones(order.size, dtype=bool)
    if same_key.any():  # rare: only then compare the values inside each run of equal keys
        run_id = np.cumsum(~same_key) - 1
        run_start = np.flatnonzero(~same_key)
        values = np.column_stack([o, h, lo, c, volume])[order]
        first = values[run_start][run_id]
        equal = (values == first) | (np.isnan(values) & np.isnan(first))
        differs = ~equal.all(axis=1)
        run_conflict = np.zeros(run_start.size, dtype=bool)
        np.logical_or.at(run_conflict, run_id, differs)
        run_size = np.bincount(run_id)
        conflict = run_conflict[run_id] & (run_size[run_id] > 1)
        repeat = same_key & ~conflict
        flagged_conflict = np.zeros(n, dtype=bool)
        flagged_conflict[order[conflict]] = True
        flagged_repeat = np.zeros(n, dtype=bool)
        flagged_repeat[order[repeat]] = True
        flag("DUPLICATE_CONFLICT", flagged_conflict)
        flag("DUPLICATE", flagged_repeat)
        keep = ~(conflict | repeat)
        order = order[keep]
        same_group = _regroup(sym_codes[order], int_codes[order])

    # price jumps, per (symbol, interval) in time order
    limits = _limit_table(int_uniques, sym_uniques, asset_classes or {})
    if order.size:
        close_o = c[order]
        ref1 = np.full(order.size, np.nan)
        ref1[1:] = close_o[:-1]
        if previous_close:
            prev_of_code = np.array(
                [previous_close.get(sym, np.nan) for sym in sym_uniques] + [np.nan],
                dtype="float64",
            )
            ref1 = np.where(same_group, ref1, prev_of_code[sym_codes[order]])
        else:
            ref1[~same_group] = np.nan
        ref2 = np.full(order.size, np.nan)
        ref2[1:] = ref1[:-1]
        ref2[~same_group] = np.nan
        limit = limits[int_codes[order], sym_codes[order]]
        with np.errstate(invalid="ignore", divide="ignore"):
            jump1 = np.abs(close_o / ref1 - 1.0) > limit
            prev_flag = np.zeros(order.size, dtype=bool)
            prev_flag[1:] = jump1[:-1]
            prev_flag &= same_group
            back_to_normal = np.abs(close_o / ref2 - 1.0) <= limit
        jump = jump1 & ~(prev_flag & back_to_normal)
        flagged = np.zeros(n, dtype=bool)
        flagged[order[jump]] = True
        flag("PRICE_JUMP", flagged)

    rejected = np.zeros(n, dtype=bool)
    for mask in reasons.values():
        rejected |= mask
    good_idx = np.flatnonzero(~rejected)
    good = pd.DataFrame(
        {
            "symbol": symbol_raw.iloc[good_idx].reset_index(drop=True),
            "ts": ts[good_idx],
            "interval": interval_raw.iloc[good_idx].reset_index(drop=True),
            "open": o[good_idx],
            "high": h[good_idx],
            "low": lo[good_idx],
            "close": c[good_idx],
            "volume": pd.array(np.round(volume[good_idx]), dtype="Int64"),
            "source": source,
        },
        columns=BAR_COLUMNS,
    )
    interval_of = np.array([*map(_text_or_none, int_uniques), None], dtype=object)
    return Validated(
        good, _rejects(frame, reasons, rejected, ts, interval_of[int_codes], source, rejected_at)
    )


def _non_empty_strings(values: pd.Series) -> np.ndarray:
    """Mask of values that are non-empty strings (vectorized through the ``.str`` accessor)."""
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return (values.notna() & (values.str.len() > 0)).to_numpy(dtype=bool)
    try:
        lengths = values.astype(object).str.len()
    except AttributeError:  # no strings at all
        return np.zeros(len(values), dtype=bool)
    return (lengths.fillna(0) > 0).to_numpy(dtype=bool)


def _regroup(sym_codes: np.ndarray, int_codes: np.ndarray) -> np.ndarray:
    """True where a sorted row has the same (symbol, interval) as the row before it."""
    same = np.zeros(sym_codes.size, dtype=bool)
    same[1:] = (sym_codes[1:] == sym_codes[:-1]) & (int_codes[1:] == int_codes[:-1])
    return same


def _rejects(
    frame: pd.DataFrame,
    reasons: dict[str, np.ndarray],
    rejected: np.ndarray,
    ts: np.ndarray,
    interval: np.ndarray,
    source: str,
    rejected_at: pd.Timestamp,
) -> pd.DataFrame:
    idx = np.flatnonzero(rejected)
    if idx.size == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in REJECT_COLUMNS})
    codes = np.full(idx.size, "", dtype=object)
    for code, mask in reasons.items():
        hit = mask[idx]
        codes[hit] = codes[hit] + ("," + code)
    raw_rows = frame.iloc[idx]
    raw = raw_rows.to_json(orient="records", lines=True, date_format="iso", default_handler=str)
    symbol = raw_rows["symbol"] if "symbol" in raw_rows else pd.Series([None] * idx.size)
    interval_out = [v if isinstance(v, str) else None for v in interval[idx]]
    return pd.DataFrame(
        {
            "table_name": "market_prices",
            "symbol": [v if isinstance(v, str) else None for v in symbol],
            "ts": pd.Series(ts[idx]),
            "interval": interval_out,
            "reason": [c.lstrip(",") for c in codes],
            "raw": raw.strip().split("\n"),
            "source": source,
            "rejected_at": utc(rejected_at).tz_localize(None),
        },
        columns=REJECT_COLUMNS,
    )
