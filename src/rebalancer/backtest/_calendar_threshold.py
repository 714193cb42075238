"""Calendar + threshold: on each period's first trading day, rebalance if a band is breached."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from rebalancer.backtest._base import Array, BoolArray, Window, period_starts
from rebalancer.backtest._threshold import Threshold


class CalendarThreshold(Threshold):
    """Checked on calendar dates only (monthly by default), bands as :class:`Threshold`."""

    name = "calendar_threshold"

    def __init__(
        self,
        period: str = "monthly",
        band: str = "absolute",
        width: float = 0.05,
        rebalance_to: str = "target",
    ) -> None:
        if period not in ("monthly", "quarterly", "annual"):
            raise ValueError(
                f"calendar period must be monthly, quarterly or annual, got {period!r}"
            )
        self.period = period
        super().__init__(band=band, width=width, rebalance_to=rebalance_to)

    def prepare(self, dates: npt.NDArray[np.datetime64], closes: Array, target: Array) -> None:
        super().prepare(dates, closes, target)
        self.due_ = period_starts(dates, self.period)

    def mask(self, window: Window) -> BoolArray:
        return self.due_[window.index] & super().mask(window)

    def policy_options(self) -> dict[str, Any]:
        return super().policy_options()
