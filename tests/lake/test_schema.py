"""Table schemas: the JSON files are well-formed and validation refuses bad frames."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from rebalancer.errors import SchemaValidationError, UnknownTableError
from rebalancer.lake import get_schema, load_schemas, table_names
from rebalancer.resources import schemas_dir
from tests.conftest import sample_frame

DESIGN_TABLES = {
    "securities",
    "market_prices",
    "clients",
    "accounts",
    "model_portfolios",
    "holdings",
    "tax_lots",
    "recommendations",
    "ingest_rejects",
}
ATHENA_TYPES = {
    "string",
    "double",
    "float",
    "bigint",
    "int",
    "smallint",
    "boolean",
    "timestamp",
    "date",
}


def test_every_design_table_has_a_schema() -> None:
    assert set(table_names()) >= DESIGN_TABLES


@pytest.mark.parametrize("path", sorted(schemas_dir().glob("*.json")), ids=lambda p: p.stem)
def test_schema_file_is_complete(path) -> None:
    data = json.loads(path.read_text())
    assert data["name"] == path.stem
    assert data["description"].strip()
    names = [c["name"] for c in data["columns"]]
    assert len(names) == len(set(names)), "duplicate column"
    for column in data["columns"] + data["partition_keys"]:
        assert column["type"] in ATHENA_TYPES, column
        assert column["description"].strip(), column["name"]
        assert column["name"] == column["name"].lower()
    if data["partition_keys"]:
        assert [p["name"] for p in data["partition_keys"]] == ["dt"]
        source = data["partition_source"]
        assert any(c["name"] == source and c["type"] == "timestamp" for c in data["columns"])


def test_market_prices_contract() -> None:
    schema = get_schema("market_prices")
    types = {c.name: c.type for c in schema.columns}
    assert types["symbol"] == "string"
    assert types["ts"] == "timestamp"
    assert types["interval"] == "string"
    for price in ("open", "high", "low", "close"):
        assert types[price] == "double"
    assert {"volume", "source"} <= set(types)
    assert [p.name for p in schema.partition_keys] == ["dt"]


def test_arrow_schema_types_and_nullability() -> None:
    schema = get_schema("market_prices").arrow_schema()
    assert schema.field("ts").type == pa.timestamp("us")
    assert schema.field("close").type == pa.float64()
    assert schema.field("volume").type == pa.int64()
    assert schema.field("volume").nullable
    assert not schema.field("close").nullable
    assert "dt" not in schema.names


def test_unknown_table() -> None:
    with pytest.raises(UnknownTableError, match="unknown table 'prices'"):
        get_schema("prices")


@pytest.mark.parametrize("table", sorted(load_schemas()))
def test_sample_frames_validate(table: str) -> None:
    validated = get_schema(table).validate(sample_frame(table))
    assert validated.num_rows == 12
    assert validated.schema == get_schema(table).arrow_schema()


def _prices(rows: int = 4) -> pd.DataFrame:
    return sample_frame("market_prices", rows)


def test_missing_column_is_named() -> None:
    with pytest.raises(SchemaValidationError, match=r"market_prices\.close: missing column"):
        get_schema("market_prices").validate(_prices().drop(columns=["close"]))


def test_extra_column_is_named() -> None:
    with pytest.raises(SchemaValidationError, match=r"market_prices\.adj_close: unexpected"):
        get_schema("market_prices").validate(_prices().assign(adj_close=1.0))


def test_wrong_type_names_first_bad_row() -> None:
    frame = _prices(5)
    frame["close"] = frame["close"].astype(object)
    frame.loc[3, "close"] = "n/a"
    with pytest.raises(
        SchemaValidationError, match=r"market_prices\.close: .*'n/a'.*first bad row 3"
    ):
        get_schema("market_prices").validate(frame)


def test_null_in_non_null_column_names_first_bad_row() -> None:
    frame = _prices(5)
    frame.loc[2, "symbol"] = None
    with pytest.raises(
        SchemaValidationError, match=r"market_prices\.symbol: null .*first bad row 2"
    ):
        get_schema("market_prices").validate(frame)


def test_nan_price_counts_as_null() -> None:
    frame = _prices(5)
    frame.loc[1, "close"] = float("nan")
    with pytest.raises(SchemaValidationError, match=r"close: null .*first bad row 1"):
        get_schema("market_prices").validate(frame)


def test_infinite_price_rejected() -> None:
    frame = _prices(5)
    frame.loc[4, "high"] = float("inf")
    with pytest.raises(SchemaValidationError, match=r"high: infinite value, first bad row 4"):
        get_schema("market_prices").validate(frame)


def test_bad_timestamp_names_row() -> None:
    frame = _prices(3)
    frame["ts"] = frame["ts"].astype(object)
    frame.loc[1, "ts"] = "yesterday-ish"
    with pytest.raises(SchemaValidationError, match=r"ts: not a timestamp .*first bad row 1"):
        get_schema("market_prices").validate(frame)


def test_fractional_value_in_integer_column() -> None:
    frame = _prices(3)
    frame["volume"] = [1.0, 2.5, 3.0]
    with pytest.raises(
        SchemaValidationError, match=r"volume: expected bigint, got 2.5, first bad row 1"
    ):
        get_schema("market_prices").validate(frame)


def test_string_in_boolean_column() -> None:
    frame = sample_frame("securities", 3)
    frame["active"] = ["yes", True, False]
    with pytest.raises(SchemaValidationError, match=r"securities\.active: expected boolean"):
        get_schema("securities").validate(frame)


def test_number_in_string_column() -> None:
    frame = sample_frame("holdings", 3)
    frame["symbol"] = ["AAPL", 42, "MSFT"]
    with pytest.raises(SchemaValidationError, match=r"holdings\.symbol: expected string, got 42"):
        get_schema("holdings").validate(frame)


def test_partition_value_must_match_timestamp() -> None:
    frame = _prices(3)
    frame["dt"] = frame["ts"].dt.strftime("%Y-%m-%d")
    assert get_schema("market_prices").validate(frame).num_rows == 3
    frame.loc[2, "dt"] = "1999-01-01"
    with pytest.raises(
        SchemaValidationError, match=r"market_prices\.dt: partition value '1999-01-01'"
    ):
        get_schema("market_prices").validate(frame)


def test_tz_aware_timestamps_become_naive_utc() -> None:
    frame = _prices(1)
    frame["ts"] = pd.Series([pd.Timestamp("2024-03-01 09:30", tz="America/New_York")])
    validated = get_schema("market_prices").validate(frame)
    assert validated.column("ts")[0].as_py() == pd.Timestamp("2024-03-01 14:30").to_pydatetime()


def test_not_a_dataframe() -> None:
    with pytest.raises(SchemaValidationError, match="expected a pandas DataFrame"):
        get_schema("holdings").validate([{"account_id": "A"}])  # type: ignore[arg-type]


def test_duplicate_column_names() -> None:
    frame = sample_frame("holdings", 2)
    frame = pd.concat([frame, frame[["symbol"]]], axis=1)
    with pytest.raises(SchemaValidationError, match=r"holdings\.symbol: duplicate column"):
        get_schema("holdings").validate(frame)
