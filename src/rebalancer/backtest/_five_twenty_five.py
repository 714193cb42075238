"""Swedroe's 5/25 rule: a sleeve out by 5 points, or by 25% of its target, whichever is
smaller, triggers a full rebalance."""

from __future__ import annotations

from typing import Any

import numpy as np

from rebalancer.backtest._base import TO_TARGET, BaseTrigger, BoolArray, Window

_EPS = 1e-9


class FiveTwentyFive(BaseTrigger):
    """Band per sleeve ``min(absolute, relative x target)``; the engine (whose hybrid band is
    the larger of the two) is then told to go all the way to target."""

    name = "5/25"

    def __init__(self, absolute: float = 0.05, relative: float = 0.25) -> None:
        self.absolute = float(absolute)
        self.relative = float(relative)

    def mask(self, window: Window) -> BoolArray:
        width = np.minimum(self.absolute, self.relative * window.target)
        return np.asarray((np.abs(window.deviation) > width + _EPS).any(axis=1), dtype=bool)

    def policy_options(self) -> dict[str, Any]:
        return dict(TO_TARGET)
