"""Query parameters: one formatter, hostile values round-trip through every call site."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.book import BookTables
from rebalancer.errors import ConfigError, QueryError
from rebalancer.lake import LocalLake, bind_params, sql_literal
from rebalancer.market import load_price_panel
from tests.conftest import sample_frame

# Quotes, a backslash, both comment markers, a statement separator, a placeholder look-alike,
# a newline and characters outside the BMP: none may change the query.
HOSTILE = "O'Brien\\ -- ü 📈 /* x */ ; :y ''\n'); DROP TABLE accounts; --"
HOSTILE_IDS = [HOSTILE, HOSTILE + "-2", "it's", "\\", "--", "/*", "'", "📈"]


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "NULL"),
        (pd.NaT, "NULL"),
        (True, "TRUE"),
        (np.bool_(False), "FALSE"),
        (42, "42"),
        (-42, "(-42)"),
        (np.int64(7), "7"),
        (0.1, "0.1E0"),
        (-2.5e-300, "(-2.5E-300)"),
        (-0.0, "(-0.0E0)"),
        (decimal.Decimal("1.25"), "DECIMAL '1.25'"),
        ("O'Brien\\", "'O''Brien\\'"),
        (dt.date(2024, 3, 1), "DATE '2024-03-01'"),
        (dt.datetime(2024, 3, 1, 14, 30), "TIMESTAMP '2024-03-01 14:30:00.000000'"),
        (
            pd.Timestamp("2024-03-01 09:30:00.25", tz="America/New_York"),
            "TIMESTAMP '2024-03-01 14:30:00.250000'",
        ),
        (np.datetime64("2024-03-01T14:30"), "TIMESTAMP '2024-03-01 14:30:00.000000'"),
        (["a", "b'c"], "('a', 'b''c')"),
        ((1, -2), "(1, (-2))"),
        ({"b", "a"}, "('a', 'b')"),
    ],
)
def test_literals(value: object, literal: str) -> None:
    assert sql_literal(value) == literal


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        ("SELECT :x", {}, "no value for parameter :x"),
        ("SELECT 1", {"x": 1}, "parameter :x is not used"),
        ("SELECT :x", {"x": float("nan")}, "only finite numbers"),
        ("SELECT :x", {"x": float("inf")}, "only finite numbers"),
        ("SELECT 1 WHERE 1 IN :x", {"x": []}, "empty list"),
        ("SELECT 1 WHERE 1 IN :x", {"x": [[1]]}, "nested list"),
        ("SELECT :x", {"x": object()}, "unsupported type object"),
        ("SELECT :x", {"x": b"bytes"}, "unsupported type bytes"),
        ("SELECT :x", {"x": "a\x00b"}, "NUL"),
        ("SELECT :x", {"x": pd.Timestamp("2024-01-01 00:00:00.000000001")}, "nanoseconds"),
        ("SELECT 'open :x", {"x": 1}, "unterminated string literal"),
        ('SELECT "open :x', {"x": 1}, "unterminated quoted identifier"),
        ("SELECT 1 /* :x", {"x": 1}, "unterminated comment"),
        ("SELECT :x", {"x y": 1}, "not an identifier"),
    ],
)
def test_bad_params_are_one_line(sql: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(QueryError, match=message) as info:
        bind_params(sql, params)
    assert "\n" not in str(info.value)


def test_placeholders_in_strings_identifiers_and_comments_are_left_alone() -> None:
    sql = "SELECT ':x' AS \"a:x\", :x -- :x\n/* :x */ FROM t WHERE a IN :ids"
    bound = bind_params(sql, {"x": "it's", "ids": [1, 2]})
    assert bound == "SELECT ':x' AS \"a:x\", 'it''s' -- :x\n/* :x */ FROM t WHERE a IN (1, 2)"


def test_negative_number_after_minus_is_not_a_comment(lake: LocalLake) -> None:
    got = lake.query("SELECT 10 -:n AS a, 1.5 -:f AS b", params={"n": -5, "f": -0.5})
    assert got.iloc[0].tolist() == [15, 2.0]


def test_placeholder_without_params_is_refused(lake: LocalLake) -> None:
    with pytest.raises(QueryError, match="needs params"):
        lake.query("SELECT * FROM accounts WHERE account_id = :id")


def test_no_params_leaves_sql_untouched() -> None:
    assert bind_params("SELECT ':x'", None) == "SELECT ':x'"


def _accounts(ids: list[str]) -> pd.DataFrame:
    frame = sample_frame("accounts", len(ids))
    frame["account_id"] = ids
    frame["household_id"] = [HOSTILE] * 2 + [f"hh-{i}" for i in range(len(ids) - 2)]
    frame["model_id"] = [HOSTILE] * 2 + ["plain"] * (len(ids) - 2)
    return frame


def test_hostile_values_round_trip_through_lake_query(lake: LocalLake) -> None:
    frame = _accounts(HOSTILE_IDS)
    frame["cash"] = [0.1, 1 / 3, -2.5e-300, 1e300, 0.0, 2.0, 3.0, 4.0]
    lake.write("accounts", frame)
    for account in HOSTILE_IDS:
        got = lake.query(
            "SELECT account_id, cash FROM accounts WHERE account_id = :id", params={"id": account}
        )
        assert got["account_id"].tolist() == [account]
    got = lake.query(
        "SELECT account_id FROM accounts WHERE account_id IN :ids ORDER BY account_id",
        params={"ids": HOSTILE_IDS[:4]},
    )
    assert got["account_id"].tolist() == sorted(HOSTILE_IDS[:4])
    # Floats come back exactly: the literal is the shortest repr, read as a DOUBLE.
    for cash in frame["cash"]:
        got = lake.query("SELECT count(*) AS n FROM accounts WHERE cash = :c", params={"c": cash})
        assert got["n"].iloc[0] == 1, cash
    opened = pd.Timestamp(frame["opened"].iloc[0]).date()
    last = pd.Timestamp(frame["last_rebalanced"].iloc[0])
    got = lake.query(
        "SELECT count(*) AS n FROM accounts WHERE opened = :d AND last_rebalanced = :ts "
        "AND fractional_shares = :flag AND :nothing IS NULL",
        params={
            "d": opened,
            "ts": last.to_pydatetime(),
            "flag": bool(frame["fractional_shares"].iloc[0]),
            "nothing": None,
        },
    )
    assert got["n"].iloc[0] >= 1


def test_hostile_ids_round_trip_through_book_tables_from_lake(lake: LocalLake) -> None:
    lake.write("accounts", _accounts(HOSTILE_IDS))
    for table in ("holdings", "tax_lots", "restrictions", "transactions"):
        frame = sample_frame(table, len(HOSTILE_IDS))
        frame["account_id"] = HOSTILE_IDS
        if "household_id" in frame:
            frame["household_id"] = [HOSTILE] * 2 + ["other"] * (len(HOSTILE_IDS) - 2)
        lake.write(table, frame)
    models = sample_frame("model_portfolios", 2).assign(model_id=[HOSTILE, "plain"])
    lake.write("model_portfolios", models.assign(target_weight=1.0))
    lake.write("securities", sample_frame("securities", 3))

    book = BookTables.from_lake(lake, household_of=HOSTILE)
    assert sorted(book.accounts["account_id"]) == sorted(HOSTILE_IDS[:2])
    assert book.model_portfolios["model_id"].tolist() == [HOSTILE]
    for table in ("holdings", "tax_lots", "restrictions", "transactions"):
        assert sorted(getattr(book, table)["account_id"]) == sorted(HOSTILE_IDS[:2]), table


def test_price_panel_symbols_are_params(lake: LocalLake) -> None:
    # Symbols with every punctuation the symbol rule allows; quotes are refused before SQL.
    symbols = ["A^B", "BRK.B", "BTC-USD", "EURUSD=X"]
    days = pd.date_range("2024-01-02", periods=3, freq="D")
    rows = [
        {
            "symbol": s,
            "ts": d,
            "interval": "1d",
            "open": 1.0 + i,
            "high": 2.0 + i,
            "low": 0.5,
            "close": 1.5 + i,
            "volume": 10,
            "source": "history",
            "ingested_at": pd.Timestamp("2024-02-01"),
        }
        for i, s in enumerate(symbols)
        for d in days
    ]
    lake.write("market_prices", pd.DataFrame(rows))
    panel = load_price_panel(lake, symbols, start=dt.date(2024, 1, 3))
    assert list(panel.columns) == symbols
    assert len(panel) == 2
    assert panel.iloc[0].tolist() == [1.5, 2.5, 3.5, 4.5]
    with pytest.raises(ConfigError, match="malformed symbol"):
        load_price_panel(lake, ["X'); DROP TABLE market_prices; --"])


def test_params_bind_the_same_on_both_backends(tmp_path: Path) -> None:
    # AwsLake sends exactly bind_params' text (tested in test_aws_lake); here, the local lake
    # runs that same text: the bound SQL is the Athena SQL both engines see.
    sql = "SELECT :s AS s, :n AS n, :f AS f"
    bound = bind_params(sql, {"s": HOSTILE, "n": -3, "f": 0.1})
    local = LocalLake(tmp_path / "lake")
    try:
        got = local.query(bound)
    finally:
        local.close()
    assert got.iloc[0].tolist() == [HOSTILE, -3, 0.1]


@pytest.fixture(scope="module")
def shared_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLake]:
    lake = LocalLake(tmp_path_factory.mktemp("params") / "lake")
    yield lake
    lake.close()


_TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    text=_TEXT,
    number=st.floats(allow_nan=False, allow_infinity=False),
    integer=st.integers(-(2**63) + 1, 2**63 - 1),
    stamp=st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)),
)
def test_any_value_round_trips(
    shared_lake: LocalLake, text: str, number: float, integer: int, stamp: dt.datetime
) -> None:
    got = shared_lake.query(
        "SELECT :t AS t, :f AS f, :i AS i, :t = :t AS same, :ts AS ts, :d AS d",
        {"t": text, "f": number, "i": integer, "ts": stamp, "d": stamp.date()},
    )
    row = got.iloc[0]
    assert row["t"] == text
    assert row["f"] == number and np.signbit(row["f"]) == np.signbit(number)
    assert int(row["i"]) == integer
    assert bool(row["same"])
    assert pd.Timestamp(row["ts"]) == pd.Timestamp(stamp)
    assert pd.Timestamp(row["d"]).date() == stamp.date()
