"""The trigger base class: when a backtest calls the engine, and with which ``Policy``.

A trigger is a small estimator (skfolio style: parameters in ``__init__``, anything learned or
precomputed in attributes ending in ``_``). The simulator marks the portfolio to market in numpy
and asks the trigger, for a window of days at once, on which days a rebalance *could* happen
(:meth:`BaseTrigger.mask`); only on the first such day does it call the real engine, with
:meth:`BaseTrigger.engine_policy`, which decides the trades (bands, destination, lots, wash
sales, costs, whole shares). A mask that fires where the engine finds nothing to do costs one
engine call; it never changes the trades.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from rebalancer.engine import Policy

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Window:
    """Days ``index`` (positions in the run's calendar) marked with today's holdings.

    ``weights``: ``(days, assets)`` weights of the account value (cash included in the value);
    ``cash_weight``: ``(days,)``; ``target``: the model's weights per asset; ``since``: trading
    days since the last rebalance; ``days_since``: calendar days since it.
    """

    index: npt.NDArray[np.int64]
    weights: Array
    cash_weight: Array
    target: Array
    since: Array
    days_since: Array
    unrealized: Array | None = None

    @property
    def deviation(self) -> Array:
        """``weights - target`` per day and asset."""
        return self.weights - self.target

    @property
    def total_drift(self) -> Array:
        """``(sum |w - target| + |w_cash|) / 2`` per day (Betterment's measure; cash target 0)."""
        return (np.abs(self.deviation).sum(axis=1) + np.abs(self.cash_weight)) / 2.0


class BaseTrigger(ABC):
    """A rebalancing rule for backtests.

    Subclasses set :attr:`name`, implement :meth:`mask` and :meth:`policy_options`, and may
    precompute calendar masks in :meth:`prepare` (attributes ending in ``_``).
    """

    #: Registry name (``--policy <name>[:<param>]``).
    name: ClassVar[str] = ""

    def prepare(self, dates: npt.NDArray[np.datetime64], closes: Array, target: Array) -> None:
        """Precompute what depends only on the calendar and prices (once per run)."""
        self.dates_ = np.asarray(dates, dtype="datetime64[D]")

    @abstractmethod
    def mask(self, window: Window) -> BoolArray:
        """Days of the window on which the engine may rebalance."""

    @abstractmethod
    def policy_options(self) -> dict[str, Any]:
        """The engine ``Policy`` fields this rule sets (the rest come from the base policy)."""

    def engine_policy(self, base: Policy) -> Policy:
        """The policy the engine runs with on a fire day."""
        return Policy.from_options(base, **self.policy_options())

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (for labels and the ``backtests`` table)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    @property
    def label(self) -> str:
        """``name`` plus its parameters, e.g. ``threshold:absolute:0.05``."""
        params = ":".join(str(v) for v in self.get_params().values())
        return f"{self.name}:{params}" if params else self.name

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


#: Engine options that make it trade all the way to target whenever it is called (the trigger
#: already decided): a zero absolute band breaches on any drift.
TO_TARGET: dict[str, Any] = {
    "band": "absolute",
    "absolute_band": 0.0,
    "trigger": "threshold",
    "rebalance_to": "target",
    "max_total_drift": None,
}


def period_starts(dates: npt.NDArray[np.datetime64], period: str) -> BoolArray:
    """First trading day of each new month / quarter / year (bt's ``RunMonthly`` and friends:
    a day whose period differs from the previous trading day's; the first day counts)."""
    days = np.asarray(dates, dtype="datetime64[D]")
    months = days.astype("datetime64[M]").astype(np.int64)
    if period == "monthly":
        key = months
    elif period == "quarterly":
        key = months // 3
    elif period == "annual":
        key = months // 12
    else:
        raise ValueError(f"unknown calendar period {period!r}")
    out = np.ones(days.size, dtype=bool)
    out[1:] = key[1:] != key[:-1]
    return out


def every_n_days(dates: npt.NDArray[np.datetime64], n: int) -> BoolArray:
    """The first trading day of each ``n``-calendar-day step from the first date."""
    days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    key = (days - days[0]) // n if days.size else days
    out = np.ones(days.size, dtype=bool)
    out[1:] = key[1:] != key[:-1]
    return out
