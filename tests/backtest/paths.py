"""Hand-built price paths whose answers can be worked out on paper."""

from __future__ import annotations

import numpy as np
import pandas as pd

START = "2021-01-04"  # a Monday


def ramp(days: int = 40, step: float = 0.01, target_a: float = 100.0) -> pd.DataFrame:
    """A flat at 100; B rises by ``step`` of its start price per business day (100, 101, ...).

    With 50/50 targets bought on day 0, B's weight is ``b / (1 + b)`` with ``b = 1 + step t``.
    """
    index = pd.bdate_range(START, periods=days)
    b = 1.0 + step * np.arange(days)
    return pd.DataFrame({"A": target_a, "B": 100.0 * b}, index=index)


def diverging(start: str = "2020-01-02", end: str = "2021-12-31") -> pd.DataFrame:
    """A up 1% a business day, B down 1%: every month drifts far from any target."""
    index = pd.bdate_range(start, end)
    t = np.arange(len(index))
    return pd.DataFrame({"A": 100.0 * 1.01**t, "B": 100.0 * 0.99**t}, index=index)
