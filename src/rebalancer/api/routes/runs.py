"""Recommendation runs: the newest first, and one by id."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Path, Query

from rebalancer.api.deps import AuthDep, LakeDep
from rebalancer.api.models import ID_PATTERN, RunList, RunOut
from rebalancer.api.routes._common import CONFLICT, NOT_FOUND, V1_ERRORS, records
from rebalancer.usecases import get_run, list_runs

router = APIRouter(prefix="/v1", tags=["runs"], dependencies=[AuthDep])


def _run(row: dict[str, Any]) -> RunOut:
    policy = row.get("policy")
    try:
        row["policy"] = json.loads(policy) if isinstance(policy, str) else None
    except ValueError:
        row["policy"] = None
    return RunOut(**row)


@router.get("/runs", response_model=RunList, responses=V1_ERRORS)
def runs(lake: LakeDep, limit: Annotated[int, Query(ge=1, le=1_000)] = 20) -> RunList:
    """The newest runs: accounts traded, trades, turnover, tax, cost, versions, policy."""
    return RunList(runs=[_run(r) for r in records(list_runs(lake, limit=limit))])


@router.get(
    "/runs/{run_id}", response_model=RunOut, responses={**V1_ERRORS, **NOT_FOUND, **CONFLICT}
)
def run(
    run_id: Annotated[str, Path(pattern=ID_PATTERN, examples=["3f1c2a9be07d4c11aa02"])],
    lake: LakeDep,
) -> RunOut:
    """One run's summary."""
    return _run(records(pd.DataFrame([get_run(lake, run_id)]))[0])
