"""`shard_worker` Lambda: the three steps of a distributed ``recommend --all``.

A Step Functions state machine calls it three ways (:mod:`rebalancer.usecases._batch`):

* ``{"action": "plan", "as_of": ..., "policy": {...}}`` fixes the book version, the as-of and
  the prices once, saves them under the run and returns ``{"run_key", "shards": [0, ..]}``
  (the Distributed Map's items);
* ``{"action": "shard", "run_key": K, "shard": N}`` rebalances one shard and stages it (the
  same function the local loop runs; a retried or repeated shard is a no-op once done);
* ``{"action": "finish", "run_key": K}`` derives the run id and writes the run's object last.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from rebalancer.config import get_settings
from rebalancer.engine import Policy
from rebalancer.errors import ConfigError
from rebalancer.lake import get_lake
from rebalancer.usecases._batch import finish_run, load_context, stage_shard
from rebalancer.usecases._recommend import plan_sharded_run

logger = Logger(service="shard_worker")
metrics = Metrics(namespace="Rebalancer", service="shard_worker")


def _field(event: dict[str, Any], name: str, kind: type) -> Any:
    value = event.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"shard_worker: '{name}' must be a {kind.__name__}")
    return value


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Dispatch one step of the run; returns what the next state needs."""
    if not isinstance(event, dict):
        raise ConfigError("shard_worker: expected an object event")
    lake = get_lake(get_settings())
    action = event.get("action")
    if action == "plan":
        policy = Policy.from_options(**(event.get("policy") or {}))
        ctx = plan_sharded_run(
            lake, as_of=event.get("as_of"), policy=policy, model_version=event.get("model")
        )
        logger.info("run planned", extra={"run_key": ctx.key, "shards": ctx.manifest.shards})
        return {"run_key": ctx.key, "shards": list(range(ctx.manifest.shards))}
    if action == "shard":
        ctx = load_context(lake, _field(event, "run_key", str))
        shard = _field(event, "shard", int)
        marker = stage_shard(lake, ctx, shard)
        metrics.add_metric(name="ShardsStaged", unit=MetricUnit.Count, value=1)
        return {"run_key": ctx.key, "shard": shard, "trades": marker["parts"]["trades"][0]}
    if action == "finish":
        ctx = load_context(lake, _field(event, "run_key", str))
        done = finish_run(lake, ctx, collect=False)
        metrics.add_metric(name="Trades", unit=MetricUnit.Count, value=done.totals["trades"])
        logger.info("run finished", extra={"run_id": done.run_id, **done.totals})
        return {"run_id": done.run_id, "keys": done.keys, **done.totals}
    raise ConfigError(f"shard_worker: unknown action {action!r} (plan, shard or finish)")
