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

from collections.abc import Mapping
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


def _jump_limit(classes: np.ndarray, interval: np.ndarray) -> np.ndarray:
    limits = np.full(classes.shape, np.inf)
    for name, table in JUMP_LIMITS.items():
        at = interval == name
        for asset_class, limit in table.items():
            limits[at & (classes == asset_class)] = limit
        default = at & np.isinf(limits)
        limits[default] = table["equity"]
    return limits


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

    interval = (
        frame["interval"].astype(object).to_numpy()
        if "interval" in frame
        else np.full(n, None, dtype=object)
    )
    flag("BAD_INTERVAL", ~np.isin(interval, list(INTERVALS)))

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

    # duplicates among rows that are otherwise fine
    symbols = symbol_raw.astype(object).to_numpy()
    keyed = pd.DataFrame(
        {
            "symbol": symbols,
            "ts": ts,
            "interval": interval,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": volume,
        }
    )
    candidates = keyed[~bad_so_far]
    dup_key = candidates.duplicated(["symbol", "ts", "interval"], keep=False)
    exact_repeat = candidates.duplicated(keep="first")
    conflict = pd.Series(False, index=candidates.index)
    if dup_key.any():  # rare: only then pay for the group-wise comparison
        dups = candidates[dup_key]
        distinct = dups.groupby(["symbol", "ts", "interval"], sort=False, dropna=False)[
            ["open", "high", "low", "close", "volume"]
        ].transform("nunique", dropna=False)
        conflict.loc[dups.index] = (distinct > 1).any(axis=1)
    flag("DUPLICATE_CONFLICT", _expand(conflict.to_numpy(), ~bad_so_far, n))
    flag("DUPLICATE", _expand((exact_repeat & ~conflict).to_numpy(), ~bad_so_far, n))
    bad_so_far |= reasons["DUPLICATE_CONFLICT"] | reasons["DUPLICATE"]

    # price jumps, per (symbol, interval) in time order
    classes_map = asset_classes or {}
    mapped = pd.Series(symbols, dtype=object).map(classes_map).astype(object)
    classes = mapped.where(mapped.notna(), "equity").to_numpy()
    clean = np.flatnonzero(~bad_so_far)
    if clean.size:
        order = clean[np.lexsort((ts[clean], interval[clean].astype(str), symbols[clean]))]
        sym_o, int_o, close_o = symbols[order], interval[order], c[order]
        same = np.zeros(order.size, dtype=bool)
        same[1:] = (sym_o[1:] == sym_o[:-1]) & (int_o[1:] == int_o[:-1])
        ref1 = np.full(order.size, np.nan)
        ref1[1:] = close_o[:-1]
        ref1[~same] = np.nan
        if previous_close:
            lake_prev = (
                pd.Series(sym_o, dtype=object)
                .map(dict(previous_close))
                .to_numpy(dtype="float64", na_value=np.nan)
            )
            ref1 = np.where(same, ref1, lake_prev)
        ref2 = np.full(order.size, np.nan)
        ref2[1:] = ref1[:-1]
        ref2[~same] = np.nan
        limit = _jump_limit(classes[order], int_o)
        with np.errstate(invalid="ignore", divide="ignore"):
            jump1 = np.abs(close_o / ref1 - 1.0) > limit
            prev_flag = np.zeros(order.size, dtype=bool)
            prev_flag[1:] = jump1[:-1]
            prev_flag &= same
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
            "symbol": symbols[good_idx],
            "ts": ts[good_idx],
            "interval": interval[good_idx],
            "open": o[good_idx],
            "high": h[good_idx],
            "low": lo[good_idx],
            "close": c[good_idx],
            "volume": pd.array(np.round(volume[good_idx]), dtype="Int64"),
            "source": source,
        },
        columns=BAR_COLUMNS,
    )
    return Validated(good, _rejects(frame, reasons, rejected, ts, interval, source, rejected_at))


def _non_empty_strings(values: pd.Series) -> np.ndarray:
    """Mask of values that are non-empty strings (vectorized through the ``.str`` accessor)."""
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return (values.notna() & (values.str.len() > 0)).to_numpy(dtype=bool)
    try:
        lengths = values.astype(object).str.len()
    except AttributeError:  # no strings at all
        return np.zeros(len(values), dtype=bool)
    return (lengths.fillna(0) > 0).to_numpy(dtype=bool)


def _expand(mask: np.ndarray, where: np.ndarray, n: int) -> np.ndarray:
    full = np.zeros(n, dtype=bool)
    full[np.flatnonzero(where)] = mask
    return full


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
