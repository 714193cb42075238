"""The recommend use cases (lake I/O around the engine) on a small hand-written lake (the verb
itself: tests/cli/test_recommend.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rebalancer.engine import Policy
from rebalancer.errors import NotFoundError
from rebalancer.lake import LocalLake
from rebalancer.usecases import load_prices, parse_as_of, run_recommendations
from tests.engine.books import SECURITIES, account, holdings, model
from tests.small_book import AS_OF, price_bars, write_three_accounts


@pytest.fixture
def book_lake(lake: LocalLake) -> LocalLake:
    """Three accounts (one invalid), prices as 5m and daily bars around the as-of time."""
    return write_three_accounts(lake)


def test_prices_never_look_ahead(book_lake: LocalLake) -> None:
    prices = load_prices(book_lake, parse_as_of(AS_OF))  # type: ignore[arg-type]
    assert prices.to_dict() == {"BND": 100.0, "VTI": 100.0}
    # A day later every bar has closed: the 16:00 VTI bar (999) and BND's 12-31 daily (555).
    later = load_prices(book_lake, pd.Timestamp("2025-01-01T12:00"))
    assert later.to_dict() == {"BND": 555.0, "VTI": 999.0}


def test_default_as_of_is_the_last_time_every_book_symbol_has_a_close_and_dry_run_writes_nothing(
    book_lake: LocalLake,
) -> None:
    result = run_recommendations(book_lake, policy=Policy(), write=False)
    # Newest bar: BND's 12-31 daily bar, closed at 2025-01-01 00:00; but VTI's newest bar (the
    # 16:00 5m one) closed at 16:05: the book is priced where both have a close.
    assert result.as_of == pd.Timestamp("2024-12-31 16:05")
    assert book_lake.list_objects("recommendations") == []
    assert len(result.rows) == len(result.recommendation.trades)


def test_run_id_changes_with_the_policy(book_lake: LocalLake) -> None:
    a = run_recommendations(book_lake, as_of=AS_OF, policy=Policy(), write=False)
    b = run_recommendations(
        book_lake, as_of=AS_OF, policy=Policy(rebalance_to="target"), write=False
    )
    c = run_recommendations(book_lake, as_of=AS_OF, policy=Policy(), write=False)
    assert a.run_id != b.run_id and a.run_id == c.run_id


def test_empty_book_and_missing_prices_are_clear_errors(lake: LocalLake) -> None:
    from rebalancer.errors import MarketDataError

    with pytest.raises(MarketDataError, match="market_prices is empty"):
        run_recommendations(lake)
    lake.write("market_prices", price_bars("VTI", [("2024-12-31 15:50", "5m", 100.0)]))
    with pytest.raises(NotFoundError, match="accounts table is empty"):
        run_recommendations(lake, as_of=AS_OF)


def test_default_as_of_reads_only_the_newest_partition(lake: LocalLake) -> None:
    # The newest close comes from the listing plus the newest partition: an unreadable object
    # in an older partition (33 years of history in a real lake) is never opened.
    from rebalancer.usecases import latest_close_time

    for day, close in (("2024-12-27", 98.0), ("2024-12-30", 99.0), ("2024-12-31", 100.0)):
        lake.write("market_prices", price_bars("VTI", [(f"{day} 15:50", "5m", close)]))
    # Not the first object: DuckDB binds the table's view on that one.
    old = [k for k in lake.list_objects("market_prices") if "dt=2024-12-30" in k]
    with open(old[0], "wb") as f:
        f.write(b"not parquet")
    assert latest_close_time(lake) == pd.Timestamp("2024-12-31 15:55")


def test_default_as_of_skips_a_newest_partition_without_rows(lake: LocalLake) -> None:
    import pyarrow.parquet as pq

    from rebalancer.usecases import latest_close_time

    lake.write("market_prices", price_bars("VTI", [("2024-12-30 15:50", "5m", 99.0)]))
    # An object with no rows (another writer's, say) in a newer partition.
    (older,) = lake.list_objects("market_prices")
    newer = Path(older).parent.parent / "dt=2024-12-31" / "part-empty.parquet"
    newer.parent.mkdir()
    pq.write_table(pq.read_table(older).slice(0, 0), newer)
    assert lake.list_objects("market_prices", dt="2024-12-31")
    assert latest_close_time(lake) == pd.Timestamp("2024-12-30 15:55")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-12-31", pd.Timestamp("2024-12-31")),
        ("2024-12-31T16:00", pd.Timestamp("2024-12-31 16:00")),  # no zone: UTC
        ("2024-12-31T11:00-05:00", pd.Timestamp("2024-12-31 16:00")),
        (None, None),
    ],
)
def test_as_of_is_naive_utc(value: str | None, expected: pd.Timestamp | None) -> None:
    assert parse_as_of(value) == expected


@pytest.mark.parametrize("value", ["0001-01-05", "0001-01-01T00:00:00", "9999-12-31", "1899-12-31"])
def test_as_of_outside_the_supported_range_is_a_clear_error(value: str) -> None:
    from rebalancer.errors import OutOfRangeError

    with pytest.raises(OutOfRangeError, match="outside the supported range") as info:
        parse_as_of(value)
    assert info.value.http_status == 422 and "\n" not in str(info.value)


def test_default_as_of_waits_for_the_symbol_whose_prices_end_first(lake: LocalLake) -> None:
    # Issue 9.10: the bundled history stops (here VTI on 12-20) while a synthetic fill runs on
    # (BND to 12-31). A book holding both is priced where both have a close, so no account is
    # skipped for a missing price; `latest_close_time` alone would pick 12-31.
    from rebalancer.usecases import latest_close_time

    lake.write("securities", SECURITIES)
    days = pd.bdate_range("2024-12-02", "2024-12-31")
    vti = price_bars("VTI", [(str(d.date()), "1d", 100.0) for d in days[:15]])
    lake.write(
        "market_prices",
        pd.concat([vti, price_bars("BND", [(str(d.date()), "1d", 100.0) for d in days])]),
    )
    lake.write("accounts", pd.DataFrame([account("A1")]))
    lake.write("model_portfolios", model())
    lake.write("holdings", holdings("A1", VTI=750, BND=250))
    assert latest_close_time(lake) == pd.Timestamp("2025-01-01")
    result = run_recommendations(lake, write=False)
    assert result.as_of == pd.Timestamp(days[14]) + pd.Timedelta(days=1)
    assert result.recommendation.rejected.empty and result.warnings == []


def test_a_run_that_skips_many_accounts_for_one_cause_says_so(book_lake: LocalLake) -> None:
    # A3 (one of three accounts: 33%) has a negative quantity: a prominent line with the count.
    result = run_recommendations(book_lake, as_of=AS_OF, write=False)
    assert result.warnings == ["1 of 3 accounts (33.3%) skipped: negative or missing quantity"]


def test_list_runs_summarises_each_run(book_lake: LocalLake) -> None:
    from rebalancer.usecases import list_runs

    assert list_runs(book_lake).empty
    a = run_recommendations(book_lake, as_of=AS_OF)
    b = run_recommendations(book_lake, as_of=AS_OF, policy=Policy(rebalance_to="target"))
    runs = list_runs(book_lake).set_index("run_id")
    assert set(runs.index) == {a.run_id, b.run_id}
    assert runs.loc[a.run_id, "trades"] == len(a.rows)
    assert runs.loc[b.run_id, "turnover"] == pytest.approx(b.rows["value"].sum())
    assert Policy.from_json(runs.loc[b.run_id, "policy"]).rebalance_to == "target"
    assert len(list_runs(book_lake, limit=1)) == 1


def test_a_posted_portfolio_is_priced_from_the_lake_and_what_is_given(book_lake: LocalLake) -> None:
    from rebalancer.book import BookTables
    from rebalancer.usecases import recommend_portfolio

    book = BookTables.from_frames(
        accounts=pd.DataFrame([account("P1")]), model_portfolios=model(),
        holdings=holdings("P1", VTI=750, BND=250), securities=SECURITIES,
    )  # fmt: skip
    rec = recommend_portfolio(
        book, lake=book_lake, as_of=AS_OF, prices=pd.Series({"VTI": 80.0}),
        policy=Policy(rebalance_to="target"),
    )  # fmt: skip
    assert set(rec.trades["price"]) == {80.0, 100.0}  # VTI given, BND from the lake
    assert book_lake.list_objects("recommendations") == []
