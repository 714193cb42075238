"""Recommendation runs as a reader sees them: one summary row per run."""

from __future__ import annotations

import pandas as pd

from rebalancer.errors import ConfigError
from rebalancer.lake import Lake

MAX_RUNS = 1_000

_RUNS = """
SELECT run_id, max(as_of) AS as_of, count(DISTINCT account_id) AS accounts_traded,
       count(*) AS trades, sum(value) AS turnover, sum(est_tax) AS est_tax, sum(cost) AS cost,
       max(engine_version) AS engine_version, max(model_version) AS model_version,
       max(policy) AS policy
FROM recommendations
GROUP BY run_id
ORDER BY max(as_of) DESC, run_id
LIMIT :limit
"""


def list_runs(lake: Lake, *, limit: int = 20) -> pd.DataFrame:
    """The newest ``limit`` runs (as_of descending): trades, turnover, tax and cost per run."""
    if not 1 <= limit <= MAX_RUNS:
        raise ConfigError(f"limit must be between 1 and {MAX_RUNS}, got {limit}")
    if not lake.list_objects("recommendations"):
        return pd.DataFrame(
            columns=["run_id", "as_of", "accounts_traded", "trades", "turnover", "est_tax",
                     "cost", "engine_version", "model_version", "policy"]
        )  # fmt: skip
    return lake.query(_RUNS, params={"limit": int(limit)})
