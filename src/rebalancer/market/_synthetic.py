"""Synthetic market data: offline, seeded, deterministic per (seed, symbol, time).

How a price is made
-------------------
* **Day level.** Each symbol follows a geometric random walk over *calendar* days from
  :data:`EPOCH` (2000-01-01): ``log P(d) - log P(d-1) = (mu - vol^2/2)/365 + vol/sqrt(365) * Z``.
  The walk is anchored at :data:`ANCHOR` (2022-12-28, the last day of the bundled history):
  ``P(ANCHOR)`` is the symbol's base price (:data:`BASE_PRICES`: the bundled history's last close
  for the 20 stocks and factor ETFs, a documented early-2023 level for the others, a hashed
  20..200 for unknown symbols). Weekends are walked too, so Monday opens with a weekend gap.
* **Intraday.** A day's 5-minute bars bridge ``P(d-1)`` to ``P(d)``: for XNYS symbols an
  overnight gap (20% of the day's variance) then 78 bars from 09:30 to 16:00 America/New_York
  on XNYS sessions (DST-aware; weekdays minus NYSE holidays, see ``_calendar``; early closes
  are not modelled); for crypto 288 bars around the clock (UTC days), no gap. High/low add a
  half-normal excursion beyond max/min(open, close); volume is a per-symbol level times a
  U-shaped intraday profile times lognormal noise.
* **Daily bars** aggregate that day's intraday bars (open, max high, min low, close, sum volume),
  so the 1d and 5m series of a symbol agree exactly.
* **CASH** gets no bars: cash is valued at 1.0 by whoever holds it, never priced from the lake.

Every random number is a counter-based hash (splitmix64) of ``(seed, symbol, day, bar,
channel)``: no generator state, fully vectorized, and any slot can be produced alone with the
same values a multi-year backfill gives it.

Volatility (annualized): ``equity`` 29.3% and ``equity_etf`` 18.6% are the medians of the bundled
history's stocks and factor ETFs (``tests/market/test_synthetic.py`` recomputes them);
``bond_etf`` 7% and ``crypto`` 70% are typical realized vols (2015-2023), with per-symbol values in
:data:`SYMBOL_VOL` (TLT 16%, SHY 2%, BTC 65%, ETH 80%, ...).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from rebalancer.errors import MarketDataError
from rebalancer.market._calendar import xnys_sessions
from rebalancer.market._provider import (
    BAR_COLUMNS,
    FetchResult,
    check_interval,
    complete_only,
    empty_bars,
    utc,
)

SOURCE = "synthetic"
EPOCH = date(2000, 1, 1)
ANCHOR = date(2022, 12, 28)
LAST_DAY = date(2100, 12, 31)
CLASS_VOL = {"equity": 0.2932, "equity_etf": 0.1858, "bond_etf": 0.07, "crypto": 0.70}
CLASS_DRIFT = {"equity": 0.07, "equity_etf": 0.06, "bond_etf": 0.02, "crypto": 0.10}
SYMBOL_VOL = {
    "SPY": 0.18,
    "VTI": 0.185,
    "QQQ": 0.24,
    "IWM": 0.24,
    "VEA": 0.17,
    "VWO": 0.20,
    "AGG": 0.055,
    "BND": 0.055,
    "TLT": 0.16,
    "IEF": 0.08,
    "SHY": 0.02,
    "TIP": 0.065,
    "LQD": 0.09,
    "BTC-USD": 0.65,
    "ETH-USD": 0.80,
}
BASE_PRICES = {  # price on ANCHOR (2022-12-28)
    "AAPL": 125.7, "AMD": 62.6, "BAC": 32.3, "BBY": 78.3, "CVX": 173.7, "GE": 63.9,
    "HD": 311.2, "JNJ": 174.1, "JPM": 129.6, "KO": 62.6, "LLY": 363.1, "MRK": 109.6,
    "MSFT": 233.4, "PEP": 179.3, "PFE": 49.2, "PG": 149.1, "RRC": 24.5, "UNH": 524.4,
    "WMT": 140.2, "XOM": 106.6, "MTUM": 143.7, "QUAL": 111.9, "SIZE": 111.1, "USMV": 71.1,
    "VLUE": 88.5, "SPY": 376.7, "VTI": 187.5, "QQQ": 263.9, "IWM": 172.1, "VEA": 41.4,
    "VWO": 38.9, "AGG": 96.3, "BND": 71.5, "TLT": 99.6, "IEF": 94.6, "SHY": 80.8,
    "TIP": 106.4, "LQD": 103.9, "BTC-USD": 16_650.0, "ETH-USD": 1_190.0,
}  # fmt: skip
DAILY_VOLUME = {"equity": 8e6, "equity_etf": 5e6, "bond_etf": 3e6, "crypto": 2e4}
XNYS_OPEN = pd.Timedelta(hours=9, minutes=30)
XNYS_BARS = 78
CRYPTO_BARS = 288
GAP_SHARE = 0.2
_BAR = np.timedelta64(5, "m")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_CHUNK_CELLS = 2_000_000


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on a uint64 array (wraps silently, as intended)."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def _uniform(key: np.ndarray, counter: np.ndarray, channel: int) -> np.ndarray:
    """Uniform (0, 1) from a hash of (key, counter, channel); broadcasts key and counter."""
    salt = np.uint64((channel + 1) * 0x632BE59BD9B4E019 % 2**64)
    h = _mix(key ^ _mix(counter.astype(np.uint64) * _GOLDEN + salt))
    return ((h >> _S11).astype(np.float64) + 0.5) / 9007199254740992.0


def _normal(key: np.ndarray, counter: np.ndarray, channel: int) -> np.ndarray:
    """Standard normal by Box-Muller on two hashed uniforms."""
    u1 = _uniform(key, counter, 2 * channel)
    u2 = _uniform(key, counter, 2 * channel + 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def symbol_key(seed: int, symbol: str) -> np.uint64:
    """A 64-bit key for (seed, symbol), stable across processes and platforms."""
    digest = hashlib.blake2b(f"{seed}:{symbol}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


@dataclass(frozen=True)
class SymbolModel:
    """The parameters of one symbol's walk."""

    symbol: str
    asset_class: str
    calendar: str
    vol: float
    drift: float
    base: float
    daily_volume: float
    key: np.uint64


def symbol_model(seed: int, symbol: str, asset_class: str, calendar: str | None) -> SymbolModel:
    """Vol, drift, base price and volume level for a symbol (documented defaults)."""
    cls = asset_class if asset_class in CLASS_VOL else "equity"
    key = symbol_key(seed, symbol)
    spread = float(_uniform(np.array([key]), np.array([0]), 99)[0])
    base = BASE_PRICES.get(symbol, 20.0 + 180.0 * spread)
    return SymbolModel(
        symbol=symbol,
        asset_class=cls,
        calendar=calendar or ("24/7" if cls == "crypto" else "XNYS"),
        vol=SYMBOL_VOL.get(symbol, CLASS_VOL[cls]),
        drift=CLASS_DRIFT[cls],
        base=base,
        daily_volume=DAILY_VOLUME[cls] * (0.5 + spread),
        key=key,
    )


def _day_number(day: date | pd.Timestamp) -> int:
    return (pd.Timestamp(day).normalize() - pd.Timestamp(EPOCH)).days


class SyntheticProvider:
    """Offline bars for any symbol, 5m or 1d, deterministic for (seed, symbol, time).

    Parameters
    ----------
    securities
        Frame with ``symbol``, ``asset_class`` and optionally ``calendar``; symbols it lacks
        are modelled as XNYS equities. ``cash`` symbols never get bars.
    seed
        Same seed, same prices, to the bit.
    """

    name = SOURCE

    def __init__(self, securities: pd.DataFrame | None = None, *, seed: int = 0) -> None:
        self.seed = int(seed)
        self._classes: dict[str, str] = {}
        self._calendars: dict[str, str] = {}
        if securities is not None and not securities.empty:
            self._classes = dict(zip(securities["symbol"], securities["asset_class"], strict=True))
            if "calendar" in securities:
                self._calendars = dict(
                    zip(securities["symbol"], securities["calendar"], strict=True)
                )
        self._models: dict[str, SymbolModel] = {}
        self._paths: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ model
    def model(self, symbol: str) -> SymbolModel:
        """The (cached) parameters of ``symbol``."""
        if symbol not in self._models:
            self._models[symbol] = symbol_model(
                self.seed,
                symbol,
                self._classes.get(symbol, "equity"),
                self._calendars.get(symbol),
            )
        return self._models[symbol]

    def _log_paths(self, models: Sequence[SymbolModel], last_day: int) -> None:
        """Make sure log P(d) for days 0..last_day is cached for every model."""
        need = max(last_day, _day_number(ANCHOR)) + 1
        missing = [m for m in models if self._paths.get(m.symbol, np.empty(0)).size < need]
        if missing:
            size = max(need, 366 * 30)
            keys = np.array([m.key for m in missing], dtype=np.uint64)[:, None]
            days = np.arange(size, dtype=np.int64)[None, :]
            vol = np.array([m.vol for m in missing])[:, None]
            drift = np.array([m.drift for m in missing])[:, None]
            steps = (drift - 0.5 * vol**2) / 365.0 + vol / np.sqrt(365.0) * _normal(
                keys, days << 10, 0
            )
            steps[:, 0] = 0.0
            logp = np.cumsum(steps, axis=1)
            anchor = _day_number(ANCHOR)
            base = np.log(np.array([m.base for m in missing]))[:, None]
            logp += base - logp[:, anchor : anchor + 1]
            for model, row in zip(missing, logp, strict=True):
                self._paths[model.symbol] = row

    def _log_prices_at(self, models: Sequence[SymbolModel], days: np.ndarray) -> np.ndarray:
        """log P at the given day numbers, shaped (models, days): only those columns are copied."""
        self._log_paths(models, int(days.max()))
        return np.stack([self._paths[m.symbol][days] for m in models])

    # ------------------------------------------------------------------ bars
    def _session_bars(
        self, models: Sequence[SymbolModel], days: np.ndarray, calendar: str
    ) -> tuple[np.ndarray, ...]:
        """Intraday (ts, open, high, low, close, volume) arrays shaped (symbols, days, bars)."""
        n_bars = CRYPTO_BARS if calendar == "24/7" else XNYS_BARS
        gap_share = 0.0 if calendar == "24/7" else GAP_SHARE
        both = self._log_prices_at(models, np.concatenate([days - 1, days]))
        prev, close = both[:, : days.size], both[:, days.size :]
        keys = np.array([m.key for m in models], dtype=np.uint64)[:, None, None]
        bars = np.arange(n_bars, dtype=np.int64)
        counter = (days[:, None].astype(np.int64) << 10) | bars[None, :]
        day_counter = (days.astype(np.int64) << 10) | 1023
        sigma_d = (np.array([m.vol for m in models]) / np.sqrt(365.0))[:, None]
        gap = sigma_d * np.sqrt(gap_share) * _normal(keys[:, :, 0], day_counter[None, :], 1)
        first = prev + gap
        sigma_bar = (sigma_d * np.sqrt((1.0 - gap_share) / n_bars))[:, :, None]
        walk = np.cumsum(sigma_bar * _normal(keys, counter[None], 2), axis=2)
        frac = (bars + 1.0) / n_bars
        closes = first[:, :, None] + walk - frac * (walk[:, :, -1:] - (close - first)[:, :, None])
        opens = np.concatenate([first[:, :, None], closes[:, :, :-1]], axis=2)
        high = np.maximum(opens, closes) + 0.5 * sigma_bar * np.abs(_normal(keys, counter[None], 3))
        low = np.minimum(opens, closes) - 0.5 * sigma_bar * np.abs(_normal(keys, counter[None], 4))
        centred = (bars - (n_bars - 1) / 2) / ((n_bars - 1) / 2)
        profile: np.ndarray = (
            np.ones(n_bars) if calendar == "24/7" else 1.0 + 1.5 * centred.astype(np.float64) ** 2
        )
        profile = profile / profile.mean()
        level = np.array([m.daily_volume for m in models])[:, None, None] / n_bars
        noise = np.exp(0.35 * _normal(keys, counter[None], 5) - 0.35**2 / 2)
        volume = np.round(level * profile * noise)
        day_start = np.datetime64(EPOCH, "us") + days.astype("timedelta64[D]")
        if calendar == "24/7":
            session_open = day_start
        else:
            local = pd.DatetimeIndex(day_start + np.timedelta64(XNYS_OPEN))
            session_open = (
                local.tz_localize("America/New_York").tz_convert("UTC").tz_localize(None)
            ).to_numpy(dtype="datetime64[us]")
        ts = session_open[:, None] + bars[None, :] * _BAR
        return ts, np.exp(opens), np.exp(high), np.exp(low), np.exp(closes), volume

    def _frame(
        self,
        models: Sequence[SymbolModel],
        ts: np.ndarray,
        arrays: tuple[np.ndarray, ...],
        interval: str,
    ) -> pd.DataFrame:
        n_symbols = len(models)
        per_symbol = ts.size
        symbols = np.repeat(np.array([m.symbol for m in models], dtype=object), per_symbol)
        o, h, lo, c, v = (a.reshape(-1) for a in arrays)
        return pd.DataFrame(
            {
                "symbol": symbols,
                "ts": np.tile(ts.reshape(-1), n_symbols),
                "interval": interval,
                "open": o,
                "high": h,
                "low": lo,
                "close": c,
                "volume": v,
                "source": SOURCE,
            },
            columns=BAR_COLUMNS,
        )

    def bars_for_days(
        self, symbols: Sequence[str], days: Sequence[date], interval: str
    ) -> pd.DataFrame:
        """All bars of ``symbols`` on the given UTC days (5m) or their daily bars (1d)."""
        check_interval(interval)
        numbers = np.array(sorted({_day_number(d) for d in days}), dtype=np.int64)
        if numbers.size == 0:
            return empty_bars()
        if numbers[0] < 1 or numbers[-1] > _day_number(LAST_DAY):
            raise MarketDataError(
                f"synthetic data covers {EPOCH.isoformat()} .. {LAST_DAY.isoformat()} only"
            )
        frames: list[pd.DataFrame] = []
        by_calendar: dict[str, list[SymbolModel]] = {}
        for symbol in dict.fromkeys(symbols):
            model = self.model(symbol)
            if model.calendar == "none" or self._classes.get(symbol) == "cash":
                continue
            by_calendar.setdefault("24/7" if model.calendar == "24/7" else "XNYS", []).append(model)
        for calendar, models in sorted(by_calendar.items()):
            session_days = numbers
            if calendar == "XNYS":
                weekday = (np.datetime64(EPOCH, "D") + numbers.astype("timedelta64[D]")).astype(
                    "datetime64[D]"
                )
                session_days = numbers[xnys_sessions(weekday)]
            if session_days.size == 0:
                continue
            n_bars = CRYPTO_BARS if calendar == "24/7" else XNYS_BARS
            step = max(1, _CHUNK_CELLS // (len(models) * n_bars))
            for i in range(0, session_days.size, step):
                chunk = session_days[i : i + step]
                ts, o, h, lo, c, v = self._session_bars(models, chunk, calendar)
                if interval == "5m":
                    frames.append(self._frame(models, ts, (o, h, lo, c, v), interval))
                else:
                    daily_ts = np.datetime64(EPOCH, "us") + chunk.astype("timedelta64[D]")
                    daily = (o[:, :, 0], h.max(axis=2), lo.min(axis=2), c[:, :, -1], v.sum(axis=2))
                    frames.append(self._frame(models, daily_ts, daily, interval))
        if not frames:
            return empty_bars()
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)

    def fetch(
        self,
        symbols: Sequence[str],
        start: pd.Timestamp,
        end: pd.Timestamp,
        interval: str,
        *,
        now: pd.Timestamp | None = None,
    ) -> FetchResult:
        """Bars with ``start <= ts < end``, complete at ``now`` (default: the clock)."""
        check_interval(interval)
        lo, hi = utc(start), utc(end)
        if hi <= lo:
            return FetchResult(empty_bars())
        days = pd.date_range(lo.normalize(), (hi - pd.Timedelta(microseconds=1)).normalize())
        bars = self.bars_for_days(symbols, [d.date() for d in days], interval)
        ts = bars["ts"].to_numpy(dtype="datetime64[us]")
        window = (ts >= np.datetime64(lo.tz_localize(None), "us")) & (
            ts < np.datetime64(hi.tz_localize(None), "us")
        )
        bars = bars[window].reset_index(drop=True)
        bars = complete_only(bars, interval, now if now is not None else pd.Timestamp.now("UTC"))
        return FetchResult(bars.reset_index(drop=True))


def synthetic_universe(count: int, *, prefix: str = "SYN") -> pd.DataFrame:
    """``count`` made-up XNYS equities (SYN000, SYN001, ...) for benchmarks and load tests."""
    width = max(3, len(str(count - 1)))
    symbols = [f"{prefix}{i:0{width}d}" for i in range(count)]
    return pd.DataFrame(
        {
            "symbol": symbols,
            "name": [f"Synthetic equity {s}" for s in symbols],
            "asset_class": "equity",
            "currency": "USD",
            "calendar": "XNYS",
            "active": True,
        }
    )


def class_vols() -> Mapping[str, float]:
    """The annualized vol per asset class the generator uses."""
    return dict(CLASS_VOL)
