"""ingest_slot: slots, keys, rejects, partial and total failure, idempotence, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.errors import MarketDataError
from rebalancer.lake import LocalLake
from rebalancer.market import (
    SyntheticProvider,
    YFinanceProvider,
    default_universe,
    ingest_slot,
    open_calendars,
    slot_for,
)
from rebalancer.market._ingest import parse_every, schedule
from tests.market.yf_fixtures import SLOT_EVENT, replay

UNIVERSE = default_universe()
YF_UNIVERSE = UNIVERSE[UNIVERSE["symbol"].isin(["AAPL", "MSFT", "SPY"])].reset_index(drop=True)


def yf(*names: str) -> YFinanceProvider:
    return YFinanceProvider(download=replay(*names), sleep=lambda s: None)


def run(lake: LocalLake, provider: object, event: pd.Timestamp, **kwargs: object):  # type: ignore[no-untyped-def]
    """Ingest as if the clock read the event time (the fixtures were recorded then)."""
    return ingest_slot(lake, provider, event, now=event, **kwargs)  # type: ignore[arg-type]


def count_rows(lake: LocalLake, where: str = "true") -> int:
    return int(lake.query(f"SELECT count(*) AS n FROM market_prices WHERE {where}")["n"].item())


def test_slot_is_the_latest_complete_five_minutes() -> None:
    assert slot_for("2024-03-05T14:35:07Z") == pd.Timestamp("2024-03-05 14:30", tz="UTC")
    assert slot_for("2024-03-05T14:35:00Z") == pd.Timestamp("2024-03-05 14:30", tz="UTC")
    assert slot_for("2024-03-06T00:02:00+00:00") == pd.Timestamp("2024-03-05 23:55", tz="UTC")
    assert slot_for("2024-03-05T09:37:00-05:00") == pd.Timestamp("2024-03-05 14:30", tz="UTC")


def test_calendars_open_by_slot() -> None:
    assert open_calendars(pd.Timestamp("2024-03-05 14:30", tz="UTC")) == {"24/7", "XNYS"}
    assert open_calendars(pd.Timestamp("2024-03-05 14:25", tz="UTC")) == {"24/7"}  # 09:25 NY
    assert open_calendars(pd.Timestamp("2024-03-05 20:55", tz="UTC")) == {"24/7", "XNYS"}
    assert open_calendars(pd.Timestamp("2024-03-05 21:00", tz="UTC")) == {"24/7"}  # 16:00 NY
    assert open_calendars(pd.Timestamp("2024-03-09 15:00", tz="UTC")) == {"24/7"}  # Saturday
    assert open_calendars(pd.Timestamp("2024-07-09 13:30", tz="UTC")) == {"24/7", "XNYS"}  # EDT


def test_full_success_writes_one_object_at_the_slot_key(lake: LocalLake) -> None:
    summary = run(lake, yf("full_success"), SLOT_EVENT, securities=YF_UNIVERSE)
    assert summary.rows_written == 3 and summary.rejected == 0
    assert summary.slot == "2024-03-05T14:30:00+00:00"
    assert [Path(k).name for k in summary.keys] == ["slot-1430.parquet"]
    assert Path(summary.keys[0]).parent.name == "dt=2024-03-05"
    assert count_rows(lake, "ts = TIMESTAMP '2024-03-05 14:30:00'") == 3


def test_partial_failure_writes_the_good_rows_and_reports_the_rest(lake: LocalLake) -> None:
    universe = pd.concat(
        [YF_UNIVERSE, YF_UNIVERSE.iloc[:1].assign(symbol="ZZZZ", name="gone")], ignore_index=True
    )
    summary = run(lake, yf("partial_failure"), SLOT_EVENT, securities=universe)
    assert summary.rows_written == 3
    assert list(summary.failed_symbols) == ["ZZZZ"]
    assert count_rows(lake) == 3


@pytest.mark.parametrize("fixture", ["empty_frame", "timeout", "rate_limited"])
def test_total_failure_raises_and_writes_nothing(lake: LocalLake, fixture: str) -> None:
    provider = YFinanceProvider(download=replay(fixture), sleep=lambda s: None, max_retries=1)
    with pytest.raises(MarketDataError):
        run(lake, provider, SLOT_EVENT, securities=YF_UNIVERSE)
    assert lake.list_objects("market_prices") == []


@pytest.mark.parametrize(
    ("fixture", "reason", "good"),
    [
        ("nan_prices", "MISSING_VALUE", 1),  # MSFT halted (no bar, not a reject), SPY close NaN
        ("duplicate_rows", "DUPLICATE", 2),  # AAPL repeated: one kept; MSFT conflicting: none
        ("out_of_slot", "OUT_OF_SLOT", 3),  # the 14:25 bars rejected, the 14:30 bars kept
    ],
)
def test_bad_rows_go_to_ingest_rejects(
    lake: LocalLake, fixture: str, reason: str, good: int
) -> None:
    summary = run(lake, yf(fixture), SLOT_EVENT, securities=YF_UNIVERSE)
    rejects = lake.read("ingest_rejects")
    assert summary.rejected == len(rejects) > 0
    assert any(reason in r for r in rejects["reason"])
    assert summary.rows_written == good == count_rows(lake)
    assert (rejects["raw"].str.startswith("{")).all()


def test_nan_fixture_reports_the_halted_symbol_as_missing(lake: LocalLake) -> None:
    summary = run(lake, yf("nan_prices"), SLOT_EVENT, securities=YF_UNIVERSE)
    assert summary.missing_symbols == ["MSFT"]
    rejects = lake.read("ingest_rejects")
    assert list(rejects["symbol"]) == ["SPY"]


def test_ninety_percent_jump_vs_the_previous_slot_in_the_lake(lake: LocalLake) -> None:
    run(lake, yf("full_success"), SLOT_EVENT, securities=YF_UNIVERSE)
    later = SLOT_EVENT + pd.Timedelta(minutes=5)
    summary = run(lake, yf("price_jump"), later, securities=YF_UNIVERSE)
    rejects = lake.read("ingest_rejects")
    jumped = rejects[rejects["reason"] == "PRICE_JUMP"]
    assert list(jumped["symbol"]) == ["AAPL"]
    assert summary.rows_written == 2
    assert count_rows(lake, "symbol = 'AAPL'") == 1


def test_same_slot_twice_leaves_each_row_once(lake: LocalLake) -> None:
    provider = SyntheticProvider(UNIVERSE, seed=1)
    first = ingest_slot(lake, provider, SLOT_EVENT, securities=UNIVERSE)
    again = ingest_slot(lake, provider, SLOT_EVENT, securities=UNIVERSE)
    assert first.keys == again.keys
    assert count_rows(lake) == first.rows_written == 40
    dupes = lake.query(
        'SELECT symbol, ts, "interval", count(*) AS n FROM market_prices '
        "GROUP BY 1, 2, 3 HAVING count(*) > 1"
    )
    assert dupes.empty


def test_two_writers_at_once_leave_each_row_once(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        try:
            own = LocalLake(root)  # separate lake objects, same directory
            ingest_slot(own, SyntheticProvider(UNIVERSE, seed=1), SLOT_EVENT, securities=UNIVERSE)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    lake = LocalLake(root)
    assert count_rows(lake) == 40
    assert len(lake.list_objects("market_prices")) == 1


def test_closed_market_requests_only_crypto(lake: LocalLake) -> None:
    saturday = pd.Timestamp("2024-03-09 15:02", tz="UTC")
    summary = ingest_slot(lake, SyntheticProvider(UNIVERSE), saturday, securities=UNIVERSE)
    assert summary.requested == 2
    assert set(lake.read("market_prices")["symbol"]) == {"BTC-USD", "ETH-USD"}


def test_inactive_symbols_are_skipped(lake: LocalLake) -> None:
    universe = UNIVERSE.assign(active=UNIVERSE["symbol"] != "AAPL")
    summary = ingest_slot(lake, SyntheticProvider(universe), SLOT_EVENT, securities=universe)
    assert summary.requested == 39
    assert "AAPL" not in set(lake.read("market_prices")["symbol"])


def test_ingest_seeds_securities_when_empty(lake: LocalLake) -> None:
    ingest_slot(lake, SyntheticProvider(UNIVERSE), SLOT_EVENT)
    assert len(lake.read("securities")) == len(UNIVERSE)


def test_schedule_catches_up_then_stops() -> None:
    times = list(schedule(every=parse_every("5m"), start="2024-03-05T14:37:00Z", max_slots=3))
    assert [t.strftime("%H:%M") for t in times] == ["14:37", "14:40", "14:45"]
    stop = threading.Event()
    stop.set()
    assert list(schedule(every=parse_every("5m"), stop=stop)) == []


def test_schedule_waits_for_the_next_boundary() -> None:
    clock = [pd.Timestamp("2024-03-05 14:37", tz="UTC")]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += pd.Timedelta(seconds=seconds)

    times = list(
        schedule(every=parse_every("5m"), max_slots=2, clock=lambda: clock[0], sleep=sleep)
    )
    assert times[1] == pd.Timestamp("2024-03-05 14:40", tz="UTC")
    assert sum(slept) == pytest.approx(180.0)


@pytest.mark.parametrize("text", ["0s", "-5m", "soon", ""])
def test_bad_periods_are_refused(text: str) -> None:
    from rebalancer.errors import ConfigError

    with pytest.raises(ConfigError):
        parse_every(text)


def test_exchange_holiday_requests_only_crypto() -> None:
    assert open_calendars(pd.Timestamp("2024-12-25 15:00", tz="UTC")) == {"24/7"}
    assert open_calendars(pd.Timestamp("2024-11-28 15:00", tz="UTC")) == {"24/7"}  # Thanksgiving
