"""Recommendations for one account: the engine's single-account path, on demand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, Path, Query

from rebalancer.api.deps import AuthDep, LakeDep
from rebalancer.api.models import (
    AS_OF_DESCRIPTION,
    AccountSummary,
    ModelAdvice,
    RecommendationResponse,
    Trade,
    WhatIfRequest,
)
from rebalancer.api.routes._common import (
    BODY_ERRORS,
    CONFLICT,
    MODEL_UNAVAILABLE,
    NOT_FOUND,
    V1_ERRORS,
)
from rebalancer.engine import ENGINE_VERSION, Policy
from rebalancer.engine._policy import ModelMode
from rebalancer.lake import Lake
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
RESPONSES: dict[int | str, dict[str, Any]] = {
    **V1_ERRORS,
    **NOT_FOUND,
    **CONFLICT,
    **MODEL_UNAVAILABLE,
}


def _records(frame: pd.DataFrame, fields: list[str]) -> list[dict[str, Any]]:
    present = [f for f in fields if f in frame.columns]
    clean = frame[present].astype(object).where(frame[present].notna(), None)
    return list(clean.to_dict("records"))


def _recommend(
    lake: Lake, account_id: str, as_of: datetime | None, policy: Policy
) -> RecommendationResponse:
    result = run_recommendations(
        lake, as_of=as_of, account_id=account_id, policy=policy, write=False
    )
    summary = _records(result.recommendation.accounts, list(AccountSummary.model_fields))[0]
    trades = _records(result.rows, list(Trade.model_fields))
    advice = result.recommendation.advice
    return RecommendationResponse(
        account_id=account_id,
        run_id=result.run_id,
        as_of=result.as_of.to_pydatetime(),
        engine_version=ENGINE_VERSION,
        model_version=result.model_version,
        policy=policy,
        summary=AccountSummary(**summary),
        trades=[Trade(**t) for t in trades],
        model_advice=[]
        if advice is None
        else [ModelAdvice(**a) for a in _records(advice, list(ModelAdvice.model_fields))],
    )


@router.get(
    "/accounts/{account_id}/recommendation",
    response_model=RecommendationResponse,
    responses=RESPONSES,
)
def get_recommendation(
    account_id: ACCOUNT_ID,
    lake: LakeDep,
    as_of: Annotated[datetime | None, Query(description=AS_OF_DESCRIPTION)] = None,
    model: Annotated[
        ModelMode, Query(description=str(Policy.model_fields["model"].description))
    ] = "off",
    min_confidence: Annotated[
        float | None,
        Query(ge=0, le=1, description=str(Policy.model_fields["min_confidence"].description)),
    ] = None,
) -> RecommendationResponse:
    """Recommend trades for one account now, with the default policy (nothing is written);
    ``model`` (advise or gate) asks the advisor-action model too."""
    knobs: dict[str, object] = {"model": model}
    if min_confidence is not None:
        knobs["min_confidence"] = min_confidence
    return _recommend(lake, account_id, as_of, Policy(**knobs))


@router.post(
    "/accounts/{account_id}/recommendation",
    response_model=RecommendationResponse,
    responses={**RESPONSES, **BODY_ERRORS},
)
def what_if_recommendation(
    account_id: ACCOUNT_ID,
    lake: LakeDep,
    request: Annotated[WhatIfRequest, Body()],
) -> RecommendationResponse:
    """Recommend trades for one account under the posted policy (a what-if; nothing written).

    The body's ``policy`` is the engine's :class:`Policy` itself: an unknown field, a wrong
    type or an out-of-range value is a 422 naming the field.
    """
    return _recommend(lake, account_id, request.as_of, request.policy)
