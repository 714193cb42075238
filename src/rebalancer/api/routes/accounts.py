"""The book's accounts: a filtered, cursor-paginated listing and one account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from rebalancer.api.deps import AuthDep, LakeDep
from rebalancer.api.models import ID_PATTERN, AccountDetail, AccountOut, AccountPageOut, Position
from rebalancer.api.routes._common import CONFLICT, NOT_FOUND, V1_ERRORS, AccountId, records
from rebalancer.usecases import get_account, list_accounts
from rebalancer.usecases._accounts import MAX_PAGE

router = APIRouter(prefix="/v1", tags=["accounts"], dependencies=[AuthDep])

FilterId = Annotated[str | None, Query(pattern=ID_PATTERN)]


@router.get("/accounts", response_model=AccountPageOut, responses=V1_ERRORS)
def accounts(
    lake: LakeDep,
    advisor_id: FilterId = None,
    household_id: FilterId = None,
    needs_rebalance: Annotated[
        bool | None, Query(description="Only accounts the latest run traded (or did not)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page")
    ] = None,
) -> AccountPageOut:
    """Accounts by id with their status and drift in the latest run, one page at a time."""
    page = list_accounts(
        lake, advisor_id=advisor_id, household_id=household_id,
        needs_rebalance=needs_rebalance, limit=limit, cursor=cursor,
    )  # fmt: skip
    rows = records(page.accounts, list(AccountOut.model_fields)) if len(page.accounts) else []
    return AccountPageOut(
        run_id=page.run_id,
        accounts=[AccountOut(**r) for r in rows],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/accounts/{account_id}",
    response_model=AccountDetail,
    responses={**V1_ERRORS, **NOT_FOUND, **CONFLICT},
)
def account(account_id: AccountId, lake: LakeDep) -> AccountDetail:
    """One account: its data, holdings and status in the latest run."""
    row, holdings, run_id = get_account(lake, account_id)
    fields = records(row.to_frame().T, list(AccountOut.model_fields))[0]
    return AccountDetail(
        **fields,
        run_id=run_id,
        holdings=[Position(**h) for h in records(holdings, ["symbol", "quantity"])],
    )
