"""Price bars from the lake: a few symbols over a bounded range."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from rebalancer.api.deps import AuthDep, LakeDep
from rebalancer.api.models import Bar, Bars
from rebalancer.api.routes._common import V1_ERRORS, records
from rebalancer.usecases import price_bars
from rebalancer.usecases._market import MAX_SYMBOLS

router = APIRouter(prefix="/v1", tags=["market"], dependencies=[AuthDep])


@router.get("/market/prices", response_model=Bars, responses=V1_ERRORS)
def prices(
    lake: LakeDep,
    symbols: Annotated[
        str,
        Query(
            min_length=1,
            max_length=1_100,
            pattern=r"^[A-Za-z0-9.\-^=]+(,[A-Za-z0-9.\-^=]+)*$",
            description=f"Comma-separated symbols (at most {MAX_SYMBOLS})",
            examples=["VTI,BND"],
        ),
    ],
    start: Annotated[date, Query(description="First day (UTC), included")],
    end: Annotated[date, Query(description="Last day (UTC), included")],
    interval: Annotated[Literal["1d", "5m"], Query()] = "1d",
) -> Bars:
    """Bars by symbol then time, over a bounded range (31 days of 5m bars, 3,660 days of 1d)
    and at most 10,000 rows: a larger request is a 422 naming the cap, not a cut answer."""
    frame = price_bars(lake, symbols=symbols.split(","), start=start, end=end, interval=interval)
    return Bars(interval=interval, bars=[Bar(**r) for r in records(frame)])
