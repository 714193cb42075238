"""The features SQL over a book held in memory (a batch shard, a posted portfolio, a simulated
date): the same text as on the lake, run over the frames registered as the lake's tables in a
DuckDB that reads no file. Same rows as the lake, the whole book and one household; the same
read-only guarantees as ``Lake.query``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rebalancer.book import BookTables
from rebalancer.errors import QueryError, SchemaValidationError
from rebalancer.lake import LocalLake
from rebalancer.lake._local import query_tables
from rebalancer.model import holding_features, price_bars
from rebalancer.model._features import FrameTables, ScratchLake, book_features
from tests.model.conftest import BOOK_START

AS_OF = BOOK_START + pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def bars(panel: pd.DataFrame) -> pd.DataFrame:
    return price_bars(panel.loc["2022-10-01":BOOK_START])


@pytest.fixture(scope="module")
def book_lake(
    tmp_path_factory: pytest.TempPathFactory, book: BookTables, bars: pd.DataFrame
) -> LocalLake:
    lake = LocalLake(tmp_path_factory.mktemp("in-memory") / "lake")
    lake.write("market_prices", bars, name="bars")
    for name, frame in book.frames().items():
        lake.write(name, frame, name="book")
    return lake


@pytest.fixture(scope="module")
def tables(book: BookTables, bars: pd.DataFrame) -> FrameTables:
    return FrameTables({**book.frames(), "market_prices": bars})


def test_in_memory_rows_equal_the_lakes_and_the_scratch_lakes(
    book_lake: LocalLake, book: BookTables, bars: pd.DataFrame
) -> None:
    on_lake = holding_features(book_lake, AS_OF, min_trade_value=25.0)
    in_memory = book_features(book, bars, AS_OF, min_trade_value=25.0)
    scratch = ScratchLake(bars)
    try:
        on_scratch = scratch.features(book, AS_OF, min_trade_value=25.0)
    finally:
        scratch.close()
    assert len(on_lake) > 100
    pd.testing.assert_frame_equal(in_memory, on_lake)  # bit for bit, every column
    pd.testing.assert_frame_equal(on_scratch, on_lake)


def test_one_household_in_memory_equals_its_rows_on_the_lake(
    book_lake: LocalLake, tables: FrameTables, book: BookTables
) -> None:
    households = book.accounts["household_id"].dropna().astype(str).unique()
    for household in households[:3]:
        on_lake = holding_features(book_lake, AS_OF, household=household)
        in_memory = holding_features(tables, AS_OF, household=household)
        assert len(in_memory) > 0
        pd.testing.assert_frame_equal(in_memory, on_lake)


def test_a_sub_book_in_memory_equals_its_rows_of_the_whole_book(
    book_lake: LocalLake, book: BookTables, bars: pd.DataFrame
) -> None:
    """A shard is a sub-book: its features are its accounts' rows of the whole book's."""
    accounts = book.accounts["account_id"].astype(str).tolist()[::3]
    shard = book_features(book.select(accounts), bars, AS_OF)
    whole = holding_features(book_lake, AS_OF)
    expected = whole[whole["account_id"].isin(accounts)].reset_index(drop=True)
    pd.testing.assert_frame_equal(shard, expected)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "not available"),
        ("SELECT * FROM read_text('/etc/hostname')", "not available"),
        ("SELECT * FROM decisions", "unknown table decisions"),
        ("CREATE TABLE x AS SELECT 1", "only SELECT"),
    ],
)
def test_in_memory_queries_read_the_registered_tables_only(
    tables: FrameTables, sql: str, message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        tables.query(sql)


def test_the_in_memory_engine_reads_no_file_even_past_the_sql_check(tmp_path: Path) -> None:
    """The second line of defence: the DuckDB itself (external access off, locked)."""
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    for duck_sql in (
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM '{secret}'",
        "SELECT * FROM secret",  # a Python variable is not a table either
    ):
        with pytest.raises(QueryError):
            query_tables({}, duck_sql)
    with pytest.raises(QueryError, match="configuration"):
        query_tables({}, "SET enable_external_access = true")


def test_frames_are_validated_as_the_lake_would(book: BookTables, bars: pd.DataFrame) -> None:
    """A frame the lake would refuse is refused here, naming the table and column."""
    holdings = book.holdings.assign(quantity="many")
    with pytest.raises(SchemaValidationError, match=r"holdings\.quantity"):
        FrameTables({**book.frames(), "holdings": holdings, "market_prices": bars})


def test_one_call_leaves_nothing_for_the_next(tmp_path: Path) -> None:
    """The in-memory engine is one DuckDB per thread, reused: a call's tables are gone after
    it, and so is anything a statement created (each call is rolled back)."""
    import pyarrow as pa

    from rebalancer.lake._local import _tables_connection

    first = query_tables({"accounts": pa.table({"a": [1, 2]})}, "SELECT sum(a) AS s FROM accounts")
    assert first["s"].tolist() == [3]
    with pytest.raises(QueryError):
        query_tables({}, "SELECT * FROM accounts")
    query_tables({}, "CREATE TABLE leak AS SELECT 1 AS x")
    with pytest.raises(QueryError):
        query_tables({}, "SELECT * FROM leak")
    assert _tables_connection() is _tables_connection()  # one connection for the thread
    with pytest.raises(QueryError, match="configuration"):
        query_tables({}, "SET enable_external_access = true")
    again = query_tables({"accounts": pa.table({"a": [5]})}, "SELECT sum(a) AS s FROM accounts")
    assert again["s"].tolist() == [5]
