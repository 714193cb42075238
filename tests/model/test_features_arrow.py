"""The features of a book in memory come from DuckDB's Arrow result, typed column by column:
the same frame as DuckDB's pandas conversion typed as before (every column, every bit, with
NULLs); a feature column of another type falls back to that conversion. The in-memory
engine runs one thread: the same query gives the same bits every time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from rebalancer.book import BookTables
from rebalancer.lake._local import query_tables, query_tables_arrow
from rebalancer.model import price_bars
from rebalancer.model._features import (
    FrameTables,
    _typed,
    _typed_arrow,
    feature_params,
    features_sql,
    holding_features,
)
from tests.model.conftest import BOOK_START

AS_OF = BOOK_START + pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def tables(book: BookTables, panel: pd.DataFrame) -> FrameTables:
    bars = price_bars(panel.loc["2022-10-01":BOOK_START])
    return FrameTables({**book.frames(), "market_prices": bars})


def test_the_arrow_path_gives_the_pandas_paths_frame(tables: FrameTables) -> None:
    params = feature_params(AS_OF, min_trade_value=25.0)
    before = _typed(tables.query(features_sql(), params=params))
    now = holding_features(tables, AS_OF, min_trade_value=25.0)
    assert len(now) > 100 and now.isna().to_numpy().any()  # NULL features are in the test
    pd.testing.assert_frame_equal(now, before, check_exact=True)
    one = str(now["household_id"].iloc[0])
    household = holding_features(tables, AS_OF, household=one)
    expected = _typed(tables.query(features_sql(), params=feature_params(AS_OF, household=one)))
    pd.testing.assert_frame_equal(household, expected, check_exact=True)


def test_ints_nulls_and_keys_convert_as_duckdb_converts_them() -> None:
    sql = (
        "SELECT account_id, symbol, x, CAST(i AS INTEGER) AS i, CASE WHEN x > 0 THEN x END AS y "
        "FROM t ORDER BY account_id"
    )
    t = pa.table({"account_id": ["A2", "A1", None], "symbol": ["X", "Y", "Z"],
                  "x": [1.5, -2.0, 0.1], "i": [1, None, 3]})  # fmt: skip
    typed = _typed_arrow(query_tables_arrow({"t": t}, sql))
    assert typed is not None
    pd.testing.assert_frame_equal(typed, _typed(query_tables({"t": t}, sql)), check_exact=True)
    assert typed["i"].isna().sum() == 1 and typed["y"].isna().sum() == 1
    assert typed["account_id"].isna().iloc[2]  # NULLS LAST, a missing key stays missing


def test_a_decimal_feature_is_left_to_duckdbs_conversion() -> None:
    t = pa.table({"account_id": ["A1"], "symbol": ["X"]})
    sql = "SELECT account_id, symbol, CAST(1.25 AS DECIMAL(9, 2)) AS d FROM t"
    assert _typed_arrow(query_tables_arrow({"t": t}, sql)) is None


def test_in_memory_queries_run_one_thread_and_repeat_bit_for_bit() -> None:
    threads = query_tables({}, "SELECT current_setting('threads') AS n")
    assert int(threads["n"].iloc[0]) == 1
    rng = np.random.default_rng(0)
    n = 400_000
    t = pa.table({"g": rng.integers(0, 2_000, n), "x": rng.normal(0, 1, n) * 10 ** rng.uniform(-3, 3, n)})  # fmt: skip
    sql = "SELECT g, x, sum(x) OVER (PARTITION BY g) AS s FROM t ORDER BY g, x"
    first = query_tables_arrow({"t": t}, sql)
    for _ in range(3):
        assert query_tables_arrow({"t": t}, sql).equals(first)
