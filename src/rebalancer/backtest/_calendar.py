"""Calendar rebalancing: all the way to target on the first trading day of each period."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from rebalancer.backtest._base import (
    TO_TARGET,
    Array,
    BaseTrigger,
    BoolArray,
    Window,
    period_starts,
)


class Calendar(BaseTrigger):
    """Monthly, quarterly or annual rebalancing to target (bt's ``RunMonthly`` schedule)."""

    name = "calendar"

    def __init__(self, period: str = "quarterly") -> None:
        if period not in ("monthly", "quarterly", "annual"):
            raise ValueError(
                f"calendar period must be monthly, quarterly or annual, got {period!r}"
            )
        self.period = period

    def prepare(self, dates: npt.NDArray[np.datetime64], closes: Array, target: Array) -> None:
        super().prepare(dates, closes, target)
        self.due_ = period_starts(dates, self.period)

    def mask(self, window: Window) -> BoolArray:
        return self.due_[window.index]

    def policy_options(self) -> dict[str, Any]:
        return dict(TO_TARGET)
