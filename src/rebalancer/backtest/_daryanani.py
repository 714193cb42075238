"""Daryanani (2008): 20% relative bands, looked at every two weeks, trimmed halfway back."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from rebalancer.backtest._base import Array, BoolArray, Window, every_n_days
from rebalancer.backtest._threshold import Threshold


class Daryanani(Threshold):
    """Relative bands of ``width`` x target, checked every ``check_days`` calendar days (14),
    rebalancing each sleeve halfway between its band edge and its target (the engine's
    ``halfway``)."""

    name = "daryanani"

    def __init__(self, width: float = 0.20, check_days: int = 14) -> None:
        self.check_days = int(check_days)
        super().__init__(band="relative", width=width, rebalance_to="halfway")

    def get_params(self) -> dict[str, Any]:
        return {"width": self.width, "check_days": self.check_days}

    def prepare(self, dates: npt.NDArray[np.datetime64], closes: Array, target: Array) -> None:
        super().prepare(dates, closes, target)
        self.due_ = every_n_days(dates, self.check_days)

    def mask(self, window: Window) -> BoolArray:
        return self.due_[window.index] & super().mask(window)
