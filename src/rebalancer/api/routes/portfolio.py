"""``POST /v1/recommendations``: trades for a portfolio the caller posts (nothing written)."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Body

from rebalancer.api.deps import AuthDep, LakeDep, SettingsDep
from rebalancer.api.models import (
    AccountSummary,
    HoldingAction,
    PortfolioRecommendation,
    PortfolioRequest,
    Rejection,
    Trade,
)
from rebalancer.api.routes._common import (
    BODY_ERRORS,
    CONFLICT,
    MODEL_UNAVAILABLE,
    V1_ERRORS,
    records,
)
from rebalancer.engine import ENGINE_VERSION
from rebalancer.errors import InvalidAccountError, OutOfRangeError
from rebalancer.usecases import book_models, book_securities, holding_actions, recommend_posted

router = APIRouter(prefix="/v1", tags=["recommendations"], dependencies=[AuthDep])


@router.post(
    "/recommendations",
    response_model=PortfolioRecommendation,
    responses={**V1_ERRORS, **BODY_ERRORS, **CONFLICT, **MODEL_UNAVAILABLE},
)
def recommend_for_portfolio(
    request: Annotated[PortfolioRequest, Body()], lake: LakeDep, settings: SettingsDep
) -> PortfolioRecommendation:
    """Recommend trades for the posted portfolio, with its household as context.

    The portfolio names a model of the book (``model_id``) or gives ``targets``; prices not
    posted come from the lake at ``as_of``. Equal inputs give exactly the trades a book run
    gives the same account. Unknown symbols, bad quantities, targets not summing to 1, duplicate
    holdings and lots that do not add up are 422s naming the field.
    """
    count = request.holding_count()
    if count > settings.api_max_holdings:
        raise OutOfRangeError(
            f"body.holdings: {count} holdings posted, at most {settings.api_max_holdings}"
        )
    universe = book_securities(lake)
    if len(universe):
        known = set(universe["symbol"].astype(str))
        unknown = [(s, where) for s, where in request.symbols().items() if s not in known]
        if unknown:
            symbol, where = unknown[0]
            raise InvalidAccountError(f"{where}: unknown symbol {symbol}")
    models = book_models(lake, [a.model_id for a in request.accounts() if a.model_id])
    book = request.to_book(models, universe)
    prices = pd.Series(request.prices, dtype=float) if request.prices else None
    rec, resolved = recommend_posted(
        book, request.account_id, lake=lake, policy=request.policy, prices=prices,
        as_of=request.as_of,
    )  # fmt: skip
    mine = rec.accounts[rec.accounts["account_id"] == request.account_id]
    trades = rec.trades[rec.trades["account_id"] == request.account_id]
    assert rec.as_of is not None
    return PortfolioRecommendation(
        account_id=request.account_id,
        as_of=rec.as_of.to_pydatetime(),
        engine_version=ENGINE_VERSION,
        model_version=rec.model_version,
        policy=request.policy,
        summary=AccountSummary(**records(mine, list(AccountSummary.model_fields))[0]),
        holdings=[
            HoldingAction(**h)
            for h in records(holding_actions(book, rec, resolved, request.account_id))
        ],
        trades=[Trade(**t) for t in records(trades, list(Trade.model_fields))],
        household_rejected=[Rejection(**r) for r in records(rec.rejected)],
    )
