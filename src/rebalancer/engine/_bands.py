"""Tolerance bands and triggers."""

from __future__ import annotations

import numpy as np

from rebalancer.engine._drift import Array, BoolArray
from rebalancer.engine._policy import Policy

#: Weight tolerance: deviations within this of a band edge count as inside (float noise).
WEIGHT_EPS = 1e-9


def band_width(target: Array, policy: Policy) -> Array:
    """Half-width of each sleeve's band around its target weight.

    >>> band_width(np.array([0.6, 0.05]), Policy(band="hybrid")).round(3).tolist()
    [0.12, 0.02]
    """
    if policy.band == "absolute":
        return np.full_like(target, policy.absolute_band, dtype=np.float64)
    relative = policy.relative_band * target
    if policy.band == "relative":
        return relative
    return np.maximum(relative, policy.absolute_band)


def out_of_band(deviation: Array, width: Array, tradable: BoolArray) -> BoolArray:
    """Sleeves outside their band that the engine could move (frozen sleeves never trigger)."""
    return tradable & (np.abs(deviation) > width + WEIGHT_EPS)


def threshold_breached(
    oob: BoolArray, cash_oob: BoolArray, drift: Array, policy: Policy
) -> BoolArray:
    """Threshold trigger: any sleeve (cash included) out of band, or total drift too high."""
    hit = oob.any(axis=1) | cash_oob
    if policy.max_total_drift is not None:
        hit = hit | (drift > policy.max_total_drift + WEIGHT_EPS)
    return hit


def calendar_due(days_since_rebalance: Array, policy: Policy) -> BoolArray:
    """Calendar trigger: ``calendar_days`` or more since the last rebalance (never = due)."""
    return days_since_rebalance >= policy.calendar_days


def rule_fires(threshold: BoolArray, calendar: BoolArray, policy: Policy) -> BoolArray:
    """Combine the two triggers as the policy says."""
    if policy.trigger == "threshold":
        return threshold
    if policy.trigger == "calendar":
        return calendar
    return threshold & calendar


def shrink_factor(
    deviation: Array,
    width: Array,
    tradable: BoolArray,
    policy: Policy,
    drift: Array | None = None,
    *,
    slack: Array | None = None,
    drift_slack: Array | None = None,
    drift_margin: Array | None = None,
) -> Array:
    """Per account, the factor ``lam`` each tradable deviation is multiplied by.

    ``target``: 0. ``band_edge``: the largest factor that puts every sleeve inside its band
    (the worst one on its edge). ``halfway``: half of that, so the worst sleeve lands halfway
    between its target and its band edge. With ``max_total_drift`` the total drift is one more
    band (total drift scales by the same factor), narrowed by ``drift_margin`` if given.
    Capped at 1 (never move away from target).

    ``slack`` (per deviation) and ``drift_slack``: how close a trade can bring a sleeve (one
    share, ``min_trade_value``). A sleeve already within its slack of where the factor would
    put it does not set the factor (no trade could take it there): otherwise a sleeve that
    rounding keeps still would shrink every other deviation again on each run.
    """
    n = deviation.shape[0]
    if policy.rebalance_to == "target":
        return np.zeros(n)
    aim = 1.0 if policy.rebalance_to == "band_edge" else 0.5
    size = np.abs(deviation)
    moving = tradable & (size > WEIGHT_EPS)
    if slack is not None:
        moving &= size > aim * width + slack + WEIGHT_EPS
    ratio = np.where(moving, width / np.where(moving, size, 1.0), np.inf)
    worst = ratio.min(axis=1) if ratio.shape[1] else np.full(n, np.inf)
    if policy.max_total_drift is not None and drift is not None:
        # The total-drift trigger is a band too: total drift scales by the same factor.
        cap: Array | float = policy.max_total_drift
        if drift_margin is not None:
            cap = np.maximum(cap - drift_margin, 0.0)
        over = drift > WEIGHT_EPS
        if drift_slack is not None:
            over &= drift > aim * cap + drift_slack + WEIGHT_EPS
        by_drift = np.where(over, cap / np.where(over, drift, 1.0), np.inf)
        worst = np.minimum(worst, by_drift)
    return np.minimum(aim * worst, 1.0)
