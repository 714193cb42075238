"""`fetch_market_data` Lambda: EventBridge ``rate(5 minutes)`` -> one slot into the lake.

Thin on purpose: :func:`rebalancer.market.ingest_slot` does the work. The slot is named by the
event's ``time`` (see :mod:`rebalancer.market._ingest`), so a retry or a duplicate delivery
rewrites the same object. When the provider fails for every symbol the handler raises, so Lambda
retries and the dead-letter queue keeps the event; a partial failure returns normally and lists
the failed symbols.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from rebalancer.config import Settings, get_settings
from rebalancer.errors import ConfigError
from rebalancer.lake import Lake, get_lake
from rebalancer.market import MarketDataProvider, get_provider, ingest_slot, load_securities

logger = Logger(service="fetch_market_data")
metrics = Metrics(namespace="Rebalancer", service="fetch_market_data")


@lru_cache(maxsize=2)
def _lake(settings: Settings) -> Lake:
    return get_lake(settings)


_PROVIDERS: dict[tuple[object, ...], MarketDataProvider] = {}


def _provider(settings: Settings, securities: pd.DataFrame) -> MarketDataProvider:
    """One provider per (settings, universe) per container: warm starts keep its caches."""
    universe = tuple(
        securities[["symbol", "asset_class", "calendar"]].itertuples(index=False, name=None)
    )
    key = (settings, universe)
    if key not in _PROVIDERS:
        _PROVIDERS.clear()
        _PROVIDERS[key] = get_provider(settings=settings, securities=securities)
    return _PROVIDERS[key]


def event_time(event: dict[str, Any]) -> str | None:
    """The scheduled event's ``time`` (None for a manual invoke without one)."""
    if not isinstance(event, dict):
        raise ConfigError("expected an EventBridge event object")
    value = event.get("time")
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"event time must be an ISO 8601 string, got {value!r}")
    return value


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Ingest the slot the event names; return the summary."""
    settings = get_settings()
    lake = _lake(settings)
    securities = load_securities(lake, settings)
    provider = _provider(settings, securities)
    when = event_time(event)
    summary = ingest_slot(
        lake,
        provider,
        when if when is not None else _now(),
        securities=securities,
        settings=settings,
    )
    metrics.add_metric(name="RowsWritten", unit=MetricUnit.Count, value=summary.rows_written)
    metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=summary.rejected)
    metrics.add_metric(
        name="SymbolsFailed", unit=MetricUnit.Count, value=len(summary.failed_symbols)
    )
    logger.info("slot ingested", extra=summary.to_dict())
    return summary.to_dict()


def _now() -> str:
    return pd.Timestamp.now("UTC").isoformat()
