"""yfinance: batched downloads of the universe, rate limited, failures reported per symbol.

``yfinance.download`` does not raise when a symbol fails: it logs ``N Failed download(s)`` on
the ``yfinance`` logger and returns NaN columns for it; offline it returns an empty frame. So
this provider listens to that logger during each call, turns its messages into a
``symbol -> reason`` map, and treats an empty frame as a failure of the whole batch (never as
"no data"). Rate limiting (``YFRateLimitError``, HTTP 429, "Too Many Requests") is retried with
exponential backoff; every request waits for the client-side token bucket
(``Settings.yfinance_requests_per_second``).

The download function is injected (``download=``), so tests replay recorded frames shaped
exactly like yfinance 1.7 output: ``(Price, Ticker)`` columns with ``group_by="column"``,
``(Ticker, Price)`` with ``group_by="ticker"``, a tz-aware exchange-time index for intraday
bars and a naive date index for daily bars.
"""

from __future__ import annotations

import ast
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from rebalancer._optional import require
from rebalancer.errors import MarketDataError
from rebalancer.market._provider import (
    BAR_COLUMNS,
    FetchResult,
    check_interval,
    complete_only,
    empty_bars,
    utc,
)

SOURCE = "yfinance"
PRICE_FIELDS = ("Open", "High", "Low", "Close", "Volume")
_FAILED_LIST = re.compile(r"^\s*(\[.*?\]):\s*(.+)$", re.DOTALL)
_FAILED_ONE = re.compile(r"Failed to get ticker '([^']+)' reason:\s*(.+)$", re.DOTALL)
_RATE_LIMIT = re.compile(r"YFRateLimitError|Too Many Requests|Rate limited|\b429\b", re.IGNORECASE)

Download = Callable[..., pd.DataFrame | None]


class RateLimiter:
    """Spaces calls at least ``1 / rate`` seconds apart (thread-safe)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise MarketDataError(f"requests per second must be positive, got {rate}")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = -float("inf")
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until the next request may go out."""
        with self._lock:
            now = self._clock()
            wait = self._next - now
            if wait > 0:
                self._sleep(wait)
                now += wait
            self._next = now + self.interval


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:
            self.messages.append(str(record.msg))


@contextmanager
def _capture_yfinance_log() -> Iterator[_Capture]:
    logger = logging.getLogger("yfinance")
    handler = _Capture()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def parse_failures(messages: Sequence[str]) -> dict[str, str]:
    """``symbol -> reason`` from yfinance's error log lines."""
    failed: dict[str, str] = {}
    for message in messages:
        if match := _FAILED_ONE.search(message):
            failed.setdefault(match[1].upper(), " ".join(match[2].split())[:300])
            continue
        if match := _FAILED_LIST.match(message):
            try:
                symbols = ast.literal_eval(match[1])
            except (ValueError, SyntaxError):
                continue
            if isinstance(symbols, list):
                for symbol in symbols:
                    failed[str(symbol).upper()] = " ".join(match[2].split())[:300]
    return failed


def is_rate_limited(error: BaseException | str) -> bool:
    """True for yfinance's rate-limit error, an HTTP 429 or its message."""
    if isinstance(error, BaseException):
        if type(error).__name__ == "YFRateLimitError":
            return True
        response = getattr(error, "response", None)
        if getattr(response, "status_code", None) == 429:
            return True
        error = f"{type(error).__name__}: {error}"
    return bool(_RATE_LIMIT.search(error))


def normalize_download(frame: pd.DataFrame | None, interval: str) -> pd.DataFrame:
    """yfinance output (either column layout) -> long bars in the ``market_prices`` shape.

    Timestamps become naive UTC; a naive daily index is taken as the trading date at 00:00 UTC.
    Rows where every price field is NaN (the symbol had no bar there: halted, not listed yet,
    or padding from aligning symbols) carry no data and are dropped; rows with *some* NaN are
    kept for validation to reject.
    """
    if frame is None or frame.empty:
        return empty_bars()
    if not isinstance(frame.columns, pd.MultiIndex) or frame.columns.nlevels != 2:
        raise MarketDataError("yfinance output has no (Price, Ticker) column levels")
    level0 = set(map(str, frame.columns.get_level_values(0)))
    price_level = 0 if level0 & set(PRICE_FIELDS) else 1
    ticker_level = 1 - price_level
    tickers = list(dict.fromkeys(map(str, frame.columns.get_level_values(ticker_level))))
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        stamps = index.tz_convert("UTC").tz_localize(None)
    else:
        stamps = index.normalize() if interval == "1d" else index
    ts = stamps.to_numpy(dtype="datetime64[us]")
    n_ts, n_tk = len(ts), len(tickers)
    values: dict[str, np.ndarray] = {}
    for field in PRICE_FIELDS:
        if field in frame.columns.get_level_values(price_level):
            block = frame.xs(field, axis=1, level=price_level).reindex(columns=tickers)
            values[field] = block.to_numpy(dtype="float64", na_value=np.nan).reshape(-1)
        else:
            values[field] = np.full(n_ts * n_tk, np.nan)
    long = pd.DataFrame(
        {
            "symbol": np.tile(np.array([t.upper() for t in tickers], dtype=object), n_ts),
            "ts": np.repeat(ts, n_tk),
            "interval": interval,
            "open": values["Open"],
            "high": values["High"],
            "low": values["Low"],
            "close": values["Close"],
            "volume": values["Volume"],
            "source": SOURCE,
        },
        columns=BAR_COLUMNS,
    )
    prices = long[["open", "high", "low", "close"]].to_numpy()
    has_data = ~np.isnan(prices).all(axis=1)
    return long[has_data].reset_index(drop=True)


class YFinanceProvider:
    """Bars from Yahoo Finance through ``yfinance.download``.

    Parameters
    ----------
    download
        The download function (default ``yfinance.download``); tests inject recorded frames.
    requests_per_second
        Client-side rate limit shared by every batch.
    batch_size
        Symbols per request.
    max_retries
        Retries of a batch that was rate limited, with backoff ``backoff * 2**attempt``.
    sleep, clock
        Injected for tests (no real waiting).
    """

    name = SOURCE

    def __init__(
        self,
        *,
        download: Download | None = None,
        requests_per_second: float = 2.0,
        batch_size: int = 100,
        max_retries: int = 3,
        backoff: float = 2.0,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1:
            raise MarketDataError(f"batch_size must be at least 1, got {batch_size}")
        self._download = download
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
        self._sleep = sleep
        self.limiter = RateLimiter(requests_per_second, clock=clock, sleep=sleep)

    def _download_fn(self) -> Download:
        if self._download is None:
            self._download = require("yfinance").download
        return self._download

    def _call(
        self, batch: list[str], start: pd.Timestamp, end: pd.Timestamp, interval: str
    ) -> tuple[pd.DataFrame | None, dict[str, str], BaseException | None]:
        download = self._download_fn()
        self.limiter.acquire()
        kwargs: dict[str, Any] = {
            "start": start.to_pydatetime(),
            "end": end.to_pydatetime(),
            "interval": interval,
            "group_by": "ticker",
            "auto_adjust": True,
            "progress": False,
            "threads": True,
            "timeout": self.timeout,
            "multi_level_index": True,
        }
        if interval == "1d":
            kwargs["start"], kwargs["end"] = start.date().isoformat(), end.date().isoformat()
        with _capture_yfinance_log() as log, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yfinance's pandas deprecation noise
            try:
                frame = download(batch, **kwargs)
            except Exception as exc:
                return None, parse_failures(log.messages), exc
        failures = parse_failures(log.messages)
        if any(is_rate_limited(m) for m in log.messages):
            return frame, failures, RuntimeError("YFRateLimitError: Too Many Requests")
        return frame, failures, None

    def _fetch_batch(
        self, batch: list[str], start: pd.Timestamp, end: pd.Timestamp, interval: str
    ) -> tuple[pd.DataFrame, dict[str, str]]:
        pending = list(batch)
        collected: list[pd.DataFrame] = []
        failed: dict[str, str] = {}
        for attempt in range(self.max_retries + 1):
            frame, failures, error = self._call(pending, start, end, interval)
            bars = normalize_download(frame, interval)
            bars = bars[bars["symbol"].isin(pending)]
            collected.append(bars)
            got = set(bars["symbol"])
            if error is not None and is_rate_limited(error):
                limited = [s for s in pending if s not in got]
                if attempt < self.max_retries and limited:
                    self._sleep(self.backoff * 2**attempt)
                    pending = limited
                    continue
                for symbol in limited:
                    failed[symbol] = f"rate limited after {attempt + 1} attempt(s)"
                break
            for symbol in pending:
                if symbol in got:
                    continue
                if symbol in failures:
                    failed[symbol] = failures[symbol]
                elif error is not None:
                    failed[symbol] = f"{type(error).__name__}: {error}"[:300]
                elif frame is None or frame.empty:
                    failed[symbol] = "empty response (offline, or every symbol unknown)"
            break
        return pd.concat(collected, ignore_index=True), failed

    def fetch(
        self,
        symbols: Sequence[str],
        start: pd.Timestamp,
        end: pd.Timestamp,
        interval: str,
        *,
        now: pd.Timestamp | None = None,
    ) -> FetchResult:
        """Download ``[start, end)`` in batches; raises when no symbol could be fetched."""
        check_interval(interval)
        lo, hi = utc(start), utc(end)
        wanted = list(dict.fromkeys(s.upper() for s in symbols))
        if not wanted or hi <= lo:
            return FetchResult(empty_bars())
        frames: list[pd.DataFrame] = []
        failed: dict[str, str] = {}
        for i in range(0, len(wanted), self.batch_size):
            bars, batch_failed = self._fetch_batch(
                wanted[i : i + self.batch_size], lo, hi, interval
            )
            frames.append(bars)
            failed.update(batch_failed)
        bars = pd.concat(frames, ignore_index=True) if frames else empty_bars()
        if len(failed) == len(wanted):
            reasons = sorted(set(failed.values()))
            raise MarketDataError(
                f"yfinance returned nothing for all {len(wanted)} symbol(s): {reasons[0]}"
            )
        # Yahoo routinely returns bars after ``end`` (the forming bar, or later ones when a run
        # is late): they belong to later slots, which fetch them themselves. Bars before
        # ``start`` are not expected at all: they stay for validation to reject (OUT_OF_SLOT).
        ts = bars["ts"].to_numpy(dtype="datetime64[us]")
        bars = bars[ts < np.datetime64(hi.tz_localize(None), "us")]
        bars = complete_only(bars, interval, now if now is not None else pd.Timestamp.now("UTC"))
        return FetchResult(bars.reset_index(drop=True), failed)
