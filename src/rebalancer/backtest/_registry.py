"""Policy names (``--policy <name>[:<param>]``) and the grid of rules compared on history."""

from __future__ import annotations

from collections.abc import Callable

from rebalancer.backtest._base import BaseTrigger
from rebalancer.backtest._calendar import Calendar
from rebalancer.backtest._calendar_threshold import CalendarThreshold
from rebalancer.backtest._daryanani import Daryanani
from rebalancer.backtest._five_twenty_five import FiveTwentyFive
from rebalancer.backtest._never import Never
from rebalancer.backtest._threshold import Threshold
from rebalancer.backtest._vanguard import Vanguard
from rebalancer.errors import ConfigError


def _width(param: str | None, default: float) -> float:
    if param is None:
        return default
    try:
        value = float(param.rstrip("%")) / (100.0 if param.endswith("%") else 1.0)
    except ValueError:
        raise ConfigError(f"policy parameter must be a number, got {param!r}") from None
    if not 0 < value < 1:
        raise ConfigError(f"policy band must be between 0 and 1 (or 0% and 100%), got {param}")
    return value


def _period(param: str | None, default: str) -> str:
    period = param or default
    if period not in ("monthly", "quarterly", "annual"):
        raise ConfigError(f"calendar period must be monthly, quarterly or annual, got {period!r}")
    return period


#: name -> (help, factory of the optional parameter)
POLICIES: dict[str, tuple[str, Callable[[str | None], BaseTrigger]]] = {
    "never": ("buy and hold", lambda p: Never()),
    "calendar": (
        "calendar:monthly|quarterly|annual, to target",
        lambda p: Calendar(_period(p, "quarterly")),
    ),
    "monthly": ("calendar:monthly", lambda p: Calendar("monthly")),
    "quarterly": ("calendar:quarterly", lambda p: Calendar("quarterly")),
    "annual": ("calendar:annual", lambda p: Calendar("annual")),
    "absolute": (
        "absolute:W, a sleeve W points off target (0.05), to target",
        lambda p: Threshold("absolute", _width(p, 0.05)),
    ),
    "relative": (
        "relative:W, a sleeve W x target off (0.25), to target",
        lambda p: Threshold("relative", _width(p, 0.25)),
    ),
    "hybrid": (
        "hybrid:W, the engine default: max(W x target, 2 points), halfway",
        lambda p: Threshold("hybrid", _width(p, 0.20), rebalance_to="halfway"),
    ),
    "calendar_threshold": (
        "calendar_threshold:W, monthly check of W-point bands (0.05), to target",
        lambda p: CalendarThreshold("monthly", "absolute", _width(p, 0.05)),
    ),
    "daryanani": (
        "daryanani:W, W x target bands (0.20) checked every 14 days, halfway",
        lambda p: Daryanani(_width(p, 0.20)),
    ),
    "vanguard": (
        "vanguard (200/175): total drift over 2 points, back to 1.75",
        lambda p: Vanguard(),
    ),
    "5/25": ("5/25: 5 points or 25% of target, whichever is smaller", lambda p: FiveTwentyFive()),
    "learned": (
        "learned:P, XGBoost 'now or wait' trained on the history before the run, fires when "
        "P(now pays) > P (0.5), to target",
        lambda p: _learned(p),
    ),
}


def _learned(param: str | None) -> BaseTrigger:
    from rebalancer.backtest._learned import LearnedTrigger  # it imports the grid below

    if param is None:
        return LearnedTrigger()
    try:
        threshold = float(param)
    except ValueError:
        raise ConfigError(f"policy parameter must be a number, got {param!r}") from None
    return LearnedTrigger(threshold)


def make_trigger(spec: str) -> BaseTrigger:
    """``name[:param]`` -> a trigger; an unknown name or bad parameter is one line."""
    name, _, param = spec.strip().partition(":")
    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")
    try:
        return POLICIES[name][1](param or None)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def rule_grid() -> list[BaseTrigger]:
    """The rules compared on real history (the pool a best rule is picked from, in sample)."""
    return [
        Never(),
        Calendar("monthly"), Calendar("quarterly"), Calendar("annual"),
        Threshold("absolute", 0.05), Threshold("absolute", 0.10),
        Threshold("relative", 0.25),
        Threshold("hybrid", 0.20, rebalance_to="halfway"),
        CalendarThreshold("monthly", "absolute", 0.05),
        Daryanani(0.20),
        Vanguard(),
        FiveTwentyFive(),
    ]  # fmt: skip
