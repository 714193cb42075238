"""Threshold rebalancing: checked every day, fires when a sleeve leaves its band."""

from __future__ import annotations

from typing import Any

import numpy as np

from rebalancer.backtest._base import BaseTrigger, BoolArray, Window
from rebalancer.engine import Policy, band_width

_EPS = 1e-9


class Threshold(BaseTrigger):
    """Absolute (``width`` points), relative (``width`` x target) or hybrid (the larger, with
    the engine's 2-point floor) bands; trades to ``rebalance_to``.

    The mask is the engine's own band test (:func:`rebalancer.engine.band_width`) on the
    marked weights, so the engine is called exactly on the days its trigger fires.
    """

    name = "threshold"

    def __init__(self, band: str = "absolute", width: float = 0.05, rebalance_to: str = "target"):
        self.band = band
        self.width = float(width)
        self.rebalance_to = rebalance_to
        self.engine_policy(Policy())  # validate now: a bad width is a ConfigError here

    def policy_options(self) -> dict[str, Any]:
        width = {"absolute": "absolute_band", "relative": "relative_band"}.get(self.band)
        opts: dict[str, Any] = {
            "band": self.band, "trigger": "threshold", "rebalance_to": self.rebalance_to,
            "max_total_drift": None,
        }  # fmt: skip
        if width is not None:
            opts[width] = self.width
        else:
            opts["relative_band"] = self.width
        return opts

    def mask(self, window: Window) -> BoolArray:
        width = band_width(window.target, self.engine_policy(Policy()))
        return np.asarray((np.abs(window.deviation) > width + _EPS).any(axis=1), dtype=bool)
