"""Buy and hold: invest once at the start, never rebalance."""

from __future__ import annotations

from typing import Any

import numpy as np

from rebalancer.backtest._base import TO_TARGET, BaseTrigger, BoolArray, Window


class Never(BaseTrigger):
    """Never rebalance (the drift baseline)."""

    name = "never"

    def mask(self, window: Window) -> BoolArray:
        return np.zeros(window.index.size, dtype=bool)

    def policy_options(self) -> dict[str, Any]:
        return dict(TO_TARGET)
