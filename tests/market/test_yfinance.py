"""The yfinance provider against recorded yfinance 1.7 output (no network)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.errors import MarketDataError
from rebalancer.market import YFinanceProvider, normalize_download
from rebalancer.market._yfinance import RateLimiter, is_rate_limited, parse_failures
from tests.market.yf_fixtures import SLOT_EVENT, RecordedDownload, load_fixture, replay

SLOT = pd.Timestamp("2024-03-05 14:30", tz="UTC")
END = SLOT + pd.Timedelta(minutes=5)


def provider(download: RecordedDownload, **kwargs: object) -> YFinanceProvider:
    sleeps: list[float] = []
    p = YFinanceProvider(download=download, sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]
    p.sleeps = sleeps  # type: ignore[attr-defined]
    return p


@pytest.mark.parametrize("name", ["full_success", "partial_failure"])
def test_both_column_layouts_normalize_to_the_same_utc_bars(name: str) -> None:
    recorded = load_fixture(name)
    bars = normalize_download(recorded.frame, "5m")
    ok = bars[bars["symbol"].isin(["AAPL", "MSFT", "SPY"])]
    assert sorted(ok["symbol"].unique()) == ["AAPL", "MSFT", "SPY"]
    # index was 09:30 New York (EST): UTC 14:30, naive
    assert ok["ts"].min() == pd.Timestamp("2024-03-05 14:30")
    aapl = ok[(ok["symbol"] == "AAPL") & (ok["ts"] == pd.Timestamp("2024-03-05 14:35"))]
    assert aapl["close"].item() == 170.5
    assert "ZZZZ" not in set(bars["symbol"])  # all-NaN columns are not bars


def test_full_success_keeps_only_complete_bars() -> None:
    result = provider(replay("full_success")).fetch(
        ["AAPL", "MSFT", "SPY"], SLOT, END, "5m", now=SLOT_EVENT
    )
    assert result.failed == {}
    assert len(result.bars) == 3  # the 14:35 bar is still forming at 14:35:07
    assert set(result.bars["ts"]) == {pd.Timestamp("2024-03-05 14:30")}
    assert (result.bars["source"] == "yfinance").all()


def test_partial_failure_reports_the_failed_symbol_and_keeps_the_rest() -> None:
    result = provider(replay("partial_failure")).fetch(
        ["AAPL", "MSFT", "SPY", "ZZZZ"], SLOT, END, "5m", now=SLOT_EVENT
    )
    assert set(result.failed) == {"ZZZZ"}
    assert "delisted" in result.failed["ZZZZ"]
    assert sorted(result.bars["symbol"]) == ["AAPL", "MSFT", "SPY"]


@pytest.mark.parametrize("name", ["empty_frame", "timeout"])
def test_empty_frame_is_a_failure_not_no_data(name: str) -> None:
    with pytest.raises(MarketDataError, match="all 3 symbol"):
        provider(replay(name)).fetch(["AAPL", "MSFT", "SPY"], SLOT, END, "5m", now=SLOT_EVENT)


def test_empty_frame_without_any_log_line_is_still_a_failure() -> None:
    silent = load_fixture("empty_frame")
    silent.log = []
    with pytest.raises(MarketDataError, match="empty response"):
        provider(RecordedDownload([silent])).fetch(["AAPL"], SLOT, END, "5m", now=SLOT_EVENT)


def test_a_raised_timeout_fails_the_batch_with_its_reason() -> None:
    dl = RecordedDownload([TimeoutError("read timed out")])
    with pytest.raises(MarketDataError, match="read timed out"):
        provider(dl).fetch(["AAPL", "MSFT"], SLOT, END, "5m", now=SLOT_EVENT)


def test_rate_limit_backs_off_and_retries_the_limited_symbols() -> None:
    dl = RecordedDownload([load_fixture("rate_limited"), load_fixture("full_success")])
    p = provider(dl, backoff=1.5)
    result = p.fetch(["AAPL", "MSFT", "SPY"], SLOT, END, "5m", now=SLOT_EVENT)
    assert len(dl.calls) == 2
    assert sorted(dl.calls[1]["tickers"]) == ["AAPL", "MSFT", "SPY"]
    assert 1.5 in p.sleeps  # type: ignore[attr-defined]
    assert len(result.bars) == 3 and result.failed == {}


def test_rate_limit_that_never_ends_gives_up_after_max_retries() -> None:
    dl = RecordedDownload([load_fixture("rate_limited")])
    p = provider(dl, max_retries=2, backoff=1.0)
    with pytest.raises(MarketDataError, match="rate limited"):
        p.fetch(["AAPL", "MSFT", "SPY"], SLOT, END, "5m", now=SLOT_EVENT)
    assert len(dl.calls) == 3
    backoffs = [s for s in p.sleeps if s in (1.0, 2.0)]  # type: ignore[attr-defined]
    assert backoffs == [1.0, 2.0]  # exponential


def test_http_429_exception_is_rate_limiting() -> None:
    class Response:
        status_code = 429

    class HTTPError(Exception):
        response = Response()

    assert is_rate_limited(HTTPError("boom"))
    assert not is_rate_limited(ValueError("bad ticker"))


def test_batches_respect_batch_size_and_the_rate_limiter() -> None:
    dl = replay("full_success")
    ticks = iter(np.arange(0.0, 100.0, 0.01))
    p = YFinanceProvider(
        download=dl,
        batch_size=1,
        requests_per_second=2.0,
        sleep=lambda s: None,
        clock=lambda: float(next(ticks)),
    )
    sleeps: list[float] = []
    p.limiter._sleep = sleeps.append
    p.fetch(["AAPL", "MSFT", "SPY"], SLOT, END, "5m", now=SLOT_EVENT)
    assert [c["tickers"] for c in dl.calls] == [["AAPL"], ["MSFT"], ["SPY"]]
    # clock reads 0.00, 0.01, 0.02: requests go out at 0.0, 0.5 and 1.0
    assert np.allclose(sleeps, [0.49, 0.98])
    assert dl.calls[0]["group_by"] == "ticker" and dl.calls[0]["progress"] is False


def test_rate_limiter_spaces_calls() -> None:
    now = [0.0]
    waited: list[float] = []

    def sleep(s: float) -> None:
        waited.append(s)
        now[0] += s

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.acquire()
    assert waited == [0.25, 0.25]
    with pytest.raises(MarketDataError):
        RateLimiter(0)


def test_parse_failures_reads_yfinance_log_lines() -> None:
    lines = [
        "\n2 Failed downloads:",
        "['AAA', 'BBB']: YFTzMissingError('possibly delisted')",
        "Failed to get ticker 'CCC' reason: Expecting value",
        "['not', a list]: junk",
    ]
    failed = parse_failures(lines)
    assert set(failed) == {"AAA", "BBB", "CCC"}
    assert "delisted" in failed["AAA"]


def test_daily_naive_index_is_the_trading_date_at_midnight_utc() -> None:
    index = pd.DatetimeIndex(["2024-03-04", "2024-03-05"], name="Date")
    cols = pd.MultiIndex.from_product([["AAPL"], ["Open", "High", "Low", "Close", "Volume"]])
    frame = pd.DataFrame([[1, 2, 0.5, 1.5, 10], [1.5, 2, 1, 1.8, 12]], index=index, columns=cols)
    bars = normalize_download(frame, "1d")
    assert list(bars["ts"]) == [pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-05")]
    assert (bars["interval"] == "1d").all()


def test_output_without_column_levels_is_rejected() -> None:
    frame = pd.DataFrame({"Close": [1.0]}, index=pd.DatetimeIndex(["2024-03-04"]))
    with pytest.raises(MarketDataError, match="column levels"):
        normalize_download(frame, "1d")
