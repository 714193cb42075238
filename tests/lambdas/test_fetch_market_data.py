"""fetch_market_data and compact handlers on an AwsLake over moto S3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from rebalancer.config import get_settings
from rebalancer.errors import ConfigError, MarketDataError
from rebalancer.lake import AwsLake
from rebalancer.market import YFinanceProvider
from tests.lambdas.context import EVENTS_DIR, LambdaContext
from tests.market.yf_fixtures import replay

BUCKET = "rebalancer-test-lake"


def scheduled_event(**overrides: Any) -> dict[str, Any]:
    event = json.loads((EVENTS_DIR / "eventbridge_scheduled.json").read_text())
    event.update(overrides)
    return event


@pytest.fixture
def s3_lake(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsLake]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("REBALANCER_BACKEND", "aws")
    monkeypatch.setenv("REBALANCER_LAKE", f"s3://{BUCKET}/lake")
    monkeypatch.setenv("REBALANCER_MARKET_SOURCE", "synthetic")
    monkeypatch.setenv("REBALANCER_REGION", "us-east-1")
    get_settings.cache_clear()
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield AwsLake(
            f"s3://{BUCKET}/lake",
            database="rebalancer",
            workgroup="rebalancer",
            boto3_session=boto3.Session(region_name="us-east-1"),
        )
    get_settings.cache_clear()


def test_scheduled_event_writes_the_slot_object(s3_lake: AwsLake) -> None:
    from lambdas.fetch_market_data import handler

    result = handler(scheduled_event(), LambdaContext("fetch_market_data"))
    assert result["slot"] == "2024-03-05T14:30:00+00:00"
    assert result["rows_written"] == 40 and result["failed_symbols"] == {}
    keys = s3_lake.list_objects("market_prices")
    assert keys == [f"s3://{BUCKET}/lake/market_prices/dt=2024-03-05/slot-1430.parquet"]
    frame = s3_lake.read("market_prices")
    assert len(frame) == 40
    assert (frame["ts"] == pd.Timestamp("2024-03-05 14:30")).all()
    assert len(s3_lake.read("securities")) == 41  # seeded on first run


def test_duplicate_delivery_overwrites_instead_of_duplicating(s3_lake: AwsLake) -> None:
    from lambdas.fetch_market_data import handler

    handler(scheduled_event(), LambdaContext("fetch_market_data"))
    handler(scheduled_event(id="another-delivery"), LambdaContext("fetch_market_data"))
    frame = s3_lake.read("market_prices")
    assert len(frame) == 40
    assert not frame.duplicated(["symbol", "ts", "interval"]).any()


def test_total_provider_failure_raises_for_retry_and_dlq(
    s3_lake: AwsLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lambdas.fetch_market_data as module

    offline = YFinanceProvider(download=replay("empty_frame"), sleep=lambda s: None)
    monkeypatch.setattr(module, "_provider", lambda settings, securities: offline)
    with pytest.raises(MarketDataError):
        module.handler(scheduled_event(), LambdaContext("fetch_market_data"))
    assert s3_lake.list_objects("market_prices") == []


def test_partial_failure_returns_the_failed_symbols(
    s3_lake: AwsLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lambdas.fetch_market_data as module
    from rebalancer.market import seed_securities

    seed_securities(s3_lake)
    partial = YFinanceProvider(download=replay("partial_failure"), sleep=lambda s: None)
    monkeypatch.setattr(module, "_provider", lambda settings, securities: partial)
    result = module.handler(scheduled_event(), LambdaContext("fetch_market_data"))
    assert "ZZZZ" not in result["failed_symbols"]  # not in the universe: never requested
    assert result["rows_written"] == 3  # AAPL, MSFT, SPY from the recording
    assert result["rejected"] == 0


@pytest.mark.parametrize("event", [{"time": 12}, {"time": "yesterday-ish"}, ["not", "a", "dict"]])
def test_malformed_events_fail_loudly(s3_lake: AwsLake, event: Any) -> None:
    from lambdas.fetch_market_data import handler

    with pytest.raises((ConfigError, MarketDataError)):
        handler(event, LambdaContext("fetch_market_data"))


def test_compact_handler_compacts_yesterday_by_default(s3_lake: AwsLake) -> None:
    from lambdas.compact import handler as compact_handler
    from lambdas.fetch_market_data import handler

    for minute in (35, 40, 45):
        handler(
            scheduled_event(time=f"2024-03-05T14:{minute}:07Z"), LambdaContext("fetch_market_data")
        )
    assert len(s3_lake.list_objects("market_prices")) == 3
    result = compact_handler(
        scheduled_event(time="2024-03-06T01:00:00Z"), LambdaContext("fetch_market_data")
    )
    assert result["day"] == "2024-03-05" and result["slot_objects"] == 3
    keys = s3_lake.list_objects("market_prices", include_superseded=True)
    assert keys == [f"s3://{BUCKET}/lake/market_prices/dt=2024-03-05/compacted.parquet"]
    frame = s3_lake.read("market_prices")
    assert len(frame) == 120
    assert list(frame["symbol"]) == sorted(frame["symbol"])


def test_warm_invocations_reuse_the_provider(s3_lake: AwsLake) -> None:
    import lambdas.fetch_market_data as module
    from rebalancer.market import load_securities

    settings = get_settings()
    securities = load_securities(s3_lake)
    first = module._provider(settings, securities)
    assert module._provider(settings, securities) is first
    smaller = securities.iloc[:5]
    assert module._provider(settings, smaller) is not first  # the universe changed
