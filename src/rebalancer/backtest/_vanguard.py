"""Vanguard's 200/175: trigger at 2 points of total drift, trade back to 1.75 points."""

from __future__ import annotations

from typing import Any

import numpy as np

from rebalancer.backtest._base import BaseTrigger, BoolArray, Window

_EPS = 1e-9


class Vanguard(BaseTrigger):
    """Fires when total drift exceeds ``trigger`` (0.02); the engine trims every sleeve by the
    same factor until total drift is ``to`` (0.0175): ``max_total_drift=to`` with
    ``rebalance_to="band_edge"`` and no per-sleeve band."""

    name = "vanguard"

    def __init__(self, trigger: float = 0.02, to: float = 0.0175) -> None:
        if not 0 < to <= trigger < 1:
            raise ValueError(f"vanguard needs 0 < to <= trigger < 1, got {trigger}/{to}")
        self.trigger = float(trigger)
        self.to = float(to)

    def mask(self, window: Window) -> BoolArray:
        return np.asarray(window.total_drift > self.trigger + _EPS, dtype=bool)

    def policy_options(self) -> dict[str, Any]:
        return {
            "band": "absolute", "absolute_band": 1.0, "trigger": "threshold",
            "max_total_drift": self.to, "rebalance_to": "band_edge",
        }  # fmt: skip
