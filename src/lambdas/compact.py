"""`compact` Lambda: a daily schedule merges yesterday's slot objects into one file.

The event may name a day (``{"date": "2024-03-05"}``); otherwise the day before the event's
``time`` is compacted. Compaction is idempotent and safe to kill (see
:mod:`rebalancer.market._compact`), so Lambda retries are harmless.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from rebalancer.config import get_settings
from rebalancer.errors import ConfigError
from rebalancer.lake import get_lake
from rebalancer.market import compact_day, default_compaction_day

logger = Logger(service="compact")
metrics = Metrics(namespace="Rebalancer", service="compact")


def day_for(event: dict[str, Any]) -> str:
    """The day an event asks to compact."""
    if not isinstance(event, dict):
        raise ConfigError("expected an EventBridge event object")
    if event.get("date"):
        return str(event["date"])
    return default_compaction_day(event.get("time"))


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Compact the day and return what was merged."""
    result = compact_day(get_lake(get_settings()), day_for(event))
    metrics.add_metric(
        name="SlotObjectsCompacted", unit=MetricUnit.Count, value=result.slot_objects
    )
    metrics.add_metric(name="RowsCompacted", unit=MetricUnit.Count, value=result.rows)
    logger.info("day compacted", extra=result.to_dict())
    return result.to_dict()
