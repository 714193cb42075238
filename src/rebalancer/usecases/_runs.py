"""Recommendation runs as a reader sees them: one summary row per run (the listing, or one id)."""

from __future__ import annotations

import pandas as pd

from rebalancer.errors import ConfigError, NotFoundError
from rebalancer.lake import Lake

MAX_RUNS = 1_000

#: A run's summary columns, in order (the listing's and one run's alike).
RUN_COLUMNS = (
    "run_id", "as_of", "accounts_traded", "trades", "turnover", "est_tax", "cost",
    "engine_version", "model_version", "policy",
)  # fmt: skip

_SUMMARY = """
SELECT run_id, max(as_of) AS as_of, count(DISTINCT account_id) AS accounts_traded,
       count(*) AS trades, sum(value) AS turnover, sum(est_tax) AS est_tax, sum(cost) AS cost,
       max(engine_version) AS engine_version, max(model_version) AS model_version,
       max(policy) AS policy
FROM recommendations
"""
_RUNS = _SUMMARY + "GROUP BY run_id\nORDER BY max(as_of) DESC, run_id\nLIMIT :limit\n"
_RUN = _SUMMARY + "WHERE run_id = :run_id\nGROUP BY run_id\n"


def list_runs(lake: Lake, *, limit: int = 20) -> pd.DataFrame:
    """The newest ``limit`` runs (as_of descending): trades, turnover, tax and cost per run."""
    if not 1 <= limit <= MAX_RUNS:
        raise ConfigError(f"limit must be between 1 and {MAX_RUNS}, got {limit}")
    if not lake.list_objects("recommendations"):
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    return lake.query(_RUNS, params={"limit": int(limit)})


def get_run(lake: Lake, run_id: str) -> pd.Series:
    """The summary of run ``run_id``: trades, turnover, tax, cost, versions and policy.

    Raises :class:`NotFoundError` for a run that wrote no rows (an unknown id, or a run that
    traded nothing: the table holds trades only).
    """
    if not lake.list_objects("recommendations"):
        raise NotFoundError(f"run {run_id} not found")
    rows = lake.query(_RUN, params={"run_id": run_id})
    if rows.empty:
        raise NotFoundError(f"run {run_id} not found")
    return rows.iloc[0]
