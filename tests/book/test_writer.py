"""write_book: round trip through a LocalLake, SQL on the result, no stale parts."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from rebalancer.book import BOOK_TABLES, BookChunk, generate_book, write_book
from rebalancer.lake import LocalLake


def test_round_trip_and_query(lake: LocalLake, panel: pd.DataFrame) -> None:
    chunks = list(generate_book(600, seed=2, prices=panel, chunk_size=250))
    progress: list[tuple[int, int]] = []
    summary = write_book(
        lake, iter(chunks), total_accounts=600, progress=lambda d, t: progress.append((d, t))
    )
    assert progress == [(250, 600), (500, 600), (600, 600)]
    assert summary.accounts == 600 and summary.chunks == 3
    assert summary.as_of == chunks[0].as_of == max(panel.index[panel.index.day_of_week < 5]).date()
    for table in BOOK_TABLES:
        expected = sum(len(c.tables[table]) for c in chunks if table in c.tables)
        assert summary.rows[table] == expected
        assert len(lake.read(table)) == expected
    counts = lake.query("SELECT account_type, count(*) AS n FROM accounts GROUP BY 1 ORDER BY 1")
    generated = pd.concat([c.tables["accounts"] for c in chunks])["account_type"].value_counts()
    assert dict(zip(counts["account_type"], counts["n"], strict=True)) == generated.to_dict()
    lots = lake.query(
        "SELECT count(*) AS n FROM tax_lots l JOIN holdings h "
        "ON l.account_id = h.account_id AND l.symbol = h.symbol"
    )
    assert int(lots["n"].iloc[0]) == summary.rows["tax_lots"]
    back = lake.read("accounts").sort_values("account_id", ignore_index=True)
    assert back["last_rebalanced"].isna().sum() == chunks[0].tables["accounts"][
        "last_rebalanced"
    ].isna().sum() + sum(c.tables["accounts"]["last_rebalanced"].isna().sum() for c in chunks[1:])


def test_smaller_regenerate_leaves_no_stale_parts(lake: LocalLake, panel: pd.DataFrame) -> None:
    first = write_book(lake, generate_book(500, seed=2, prices=panel, chunk_size=100))
    assert len(lake.list_objects("holdings")) == 5
    second = write_book(lake, generate_book(150, seed=2, prices=panel, chunk_size=100))
    assert second.previous == first.version and second.removed == 0  # the previous is kept
    assert [p.rsplit("/", 1)[1] for p in lake.list_objects("holdings")] == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert len(lake.read("accounts")) == 150
    third = write_book(lake, generate_book(100, seed=2, prices=panel, chunk_size=100))
    assert third.removed == 6 * 5 + 2  # the first version, two publishes old, is deleted
    assert len(lake.read("accounts")) == 100


def test_a_failing_generator_deletes_nothing(lake: LocalLake, panel: pd.DataFrame) -> None:
    write_book(lake, generate_book(100, seed=2, prices=panel, chunk_size=100))

    def broken() -> Iterator[BookChunk]:
        raise RuntimeError("boom")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError, match="boom"):
        write_book(lake, broken())
    assert len(lake.read("accounts")) == 100


def test_only_book_tables_are_cleared(lake: LocalLake, panel: pd.DataFrame) -> None:
    from tests.conftest import sample_frame

    prices = lake.write("market_prices", sample_frame("market_prices", 6))
    write_book(lake, generate_book(50, seed=2, prices=panel, chunk_size=50))
    write_book(lake, generate_book(20, seed=2, prices=panel, chunk_size=50))
    assert lake.list_objects("market_prices") == sorted(prices)
