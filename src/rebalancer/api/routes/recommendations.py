"""Recommendations for one account: the engine's single-account path, on demand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from rebalancer.api.deps import AuthDep, LakeDep
from rebalancer.engine import ENGINE_VERSION
from rebalancer.usecases import run_recommendations

router = APIRouter(prefix="/v1", tags=["recommendations"], dependencies=[AuthDep])

ACCOUNT_ID = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Account identifier (letters, digits, '-' and '_').",
        examples=["A0000001"],
    ),
]


class Trade(BaseModel):
    """One recommended trade."""

    symbol: str
    side: str = Field(description="BUY or SELL")
    quantity: float
    price: float
    value: float
    est_tax: float = Field(description="Estimated tax of the sale (negative: a saving)")
    cost: float = Field(description="Estimated transaction cost (fee + spread)")
    reason: str = Field(description="Reason codes, e.g. DRIFT_SELL")
    lots: str | None = Field(None, description="Tax lots a sale draws on")
    target_weight: float | None = None
    post_weight: float | None = None


class AccountSummary(BaseModel):
    """The account before and after the trades."""

    status: str
    account_value: float
    cash_before: float
    cash_after: float
    drift_before: float = Field(description="Total drift: sum |w - target| / 2")
    drift_after: float
    turnover: float


class RecommendationResponse(BaseModel):
    """What to trade in one account, and why."""

    account_id: str
    run_id: str
    as_of: datetime
    engine_version: str
    summary: AccountSummary
    trades: list[Trade]


def _records(frame: pd.DataFrame, fields: list[str]) -> list[dict[str, Any]]:
    present = [f for f in fields if f in frame.columns]
    clean = frame[present].astype(object).where(frame[present].notna(), None)
    return list(clean.to_dict("records"))


@router.get(
    "/accounts/{account_id}/recommendation",
    response_model=RecommendationResponse,
    responses={
        401: {"description": "Missing or invalid API key"},
        404: {"description": "Unknown account"},
        422: {"description": "Invalid account data or request"},
    },
)
def get_recommendation(
    account_id: ACCOUNT_ID,
    lake: LakeDep,
    as_of: Annotated[
        datetime | None,
        Query(
            description="Price time, ISO 8601; a time without a zone is UTC. Between "
            "1900-01-01 and 2200-01-01. Default: the last time every symbol of the account's "
            "household has a close in the lake."
        ),
    ] = None,
) -> RecommendationResponse:
    """Recommend trades for one account now (nothing is written to the lake)."""
    result = run_recommendations(lake, as_of=as_of, account_id=account_id, write=False)
    accounts = result.recommendation.accounts
    summary = _records(accounts, list(AccountSummary.model_fields))[0]
    trades = _records(result.rows, list(Trade.model_fields))
    return RecommendationResponse(
        account_id=account_id,
        run_id=result.run_id,
        as_of=result.as_of.to_pydatetime(),
        engine_version=ENGINE_VERSION,
        summary=AccountSummary(**summary),
        trades=[Trade(**t) for t in trades],
    )
