"""The XNYS (NYSE) trading calendar: weekdays minus the exchange's regular holidays.

Rules (as observed since 2000): New Year's Day (Sunday -> Monday; a Saturday is not made up on
the Friday before), Martin Luther King Jr. Day, Washington's Birthday, Good Friday, Memorial
Day, Juneteenth (from 2022), Independence Day, Labor Day, Thanksgiving and Christmas
(Saturday -> Friday, Sunday -> Monday). One-off closures (9/11, Hurricane Sandy, national days
of mourning) and early 13:00 closes are not modelled.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
    sunday_to_monday,
)

FIRST_YEAR, LAST_YEAR = 1990, 2100


class XNYSHolidayCalendar(AbstractHolidayCalendar):
    """NYSE full-day holidays."""

    rules = [
        Holiday("New Year's Day", month=1, day=1, observance=sunday_to_monday),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday("Juneteenth", month=6, day=19, start_date="2022-01-01", observance=nearest_workday),
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


@lru_cache(maxsize=1)
def xnys_holidays() -> np.ndarray:
    """Every XNYS holiday from 1990 to 2100 as ``datetime64[D]`` (weekdays only)."""
    days = XNYSHolidayCalendar().holidays(f"{FIRST_YEAR}-01-01", f"{LAST_YEAR}-12-31")
    values = pd.DatetimeIndex(days).to_numpy(dtype="datetime64[D]")
    return values[np.is_busday(values)]


def xnys_sessions(days: np.ndarray) -> np.ndarray:
    """Mask of the ``datetime64[D]`` days on which XNYS trades."""
    return np.is_busday(np.asarray(days, dtype="datetime64[D]"), holidays=xnys_holidays())


def is_xnys_session(day: object) -> bool:
    """True if XNYS trades on ``day`` (a date or timestamp; its calendar date is used)."""
    stamp = pd.Timestamp(day)
    return bool(xnys_sessions(np.array([stamp.date()], dtype="datetime64[D]"))[0])
