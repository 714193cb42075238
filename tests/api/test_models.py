"""The API's response models against the engine's columns and the recommendations schema."""

from __future__ import annotations

from rebalancer.api.models import AccountSummary, Trade
from rebalancer.engine._recommend import ACCOUNT_COLUMNS, TRADE_COLUMNS
from rebalancer.lake import get_schema
from rebalancer.usecases import RECOMMENDATION_COLUMNS


def test_trade_fields_are_engine_trade_columns_and_schema_columns() -> None:
    fields = set(Trade.model_fields)
    assert fields <= set(TRADE_COLUMNS)
    assert fields <= set(RECOMMENDATION_COLUMNS)
    # Every per-trade column the engine produces reaches the API, except those that describe
    # the account (drift) or the row's identity (account_id).
    assert set(TRADE_COLUMNS) - fields == {"account_id", "drift_before", "drift_after"}


def test_account_summary_fields_are_engine_account_columns() -> None:
    assert set(AccountSummary.model_fields) == set(ACCOUNT_COLUMNS) - {"account_id", "trades"}


def test_recommendation_columns_come_from_the_schema() -> None:
    schema = get_schema("recommendations")
    assert [c.name for c in schema.columns] == RECOMMENDATION_COLUMNS
    assert set(TRADE_COLUMNS) <= set(RECOMMENDATION_COLUMNS)
