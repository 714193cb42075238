"""One recommendation run's summary (the runs listing's row for one id)."""

from __future__ import annotations

import pandas as pd

from rebalancer.errors import NotFoundError
from rebalancer.lake import Lake

_RUN = """
SELECT run_id, max(as_of) AS as_of, count(DISTINCT account_id) AS accounts_traded,
       count(*) AS trades, sum(value) AS turnover, sum(est_tax) AS est_tax, sum(cost) AS cost,
       max(engine_version) AS engine_version, max(model_version) AS model_version,
       max(policy) AS policy
FROM recommendations
WHERE run_id = :run_id
GROUP BY run_id
"""


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
