"""The rebalancing policy: every knob of the engine, frozen, with documented defaults."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from rebalancer.errors import ConfigError

BandKind = Literal["absolute", "relative", "hybrid"]
TriggerKind = Literal["threshold", "calendar", "calendar_threshold"]
TargetKind = Literal["target", "band_edge", "halfway"]
LotMethod = Literal["tax_aware", "hifo", "fifo"]

_CHOICES: dict[str, tuple[str, ...]] = {
    "band": ("absolute", "relative", "hybrid"),
    "trigger": ("threshold", "calendar", "calendar_threshold"),
    "rebalance_to": ("target", "band_edge", "halfway"),
    "lot_method": ("tax_aware", "hifo", "fifo"),
}


@dataclass(frozen=True, kw_only=True)
class Policy:
    """How the engine decides when and how far to rebalance.

    Defaults follow the published evidence: a hybrid band of 20% of the target with a 2-point
    absolute floor (Morningstar TRX / Wealthfront style: big sleeves get wide bands, small sleeves
    keep a floor so they do not churn), checked on every run (``threshold``), trimming *halfway*
    back between the band edge and the target (Daryanani 2008: 20% relative bands, halfway trims).
    Betterment's rule is ``band="absolute", absolute_band=1.0, max_total_drift=0.03`` (only the
    3% total-drift trigger).

    Parameters
    ----------
    band
        ``absolute``: width ``absolute_band`` for every sleeve; ``relative``: ``relative_band x
        target``; ``hybrid``: ``max(relative_band x target, absolute_band)``.
    relative_band, absolute_band
        Band parameters as fractions of account value (0.20 = 20% of target, 0.02 = 2 points).
    max_total_drift
        Optional extra trigger: total drift (sum |w - target| / 2, cash included) above this.
    trigger
        ``threshold``: act when a sleeve leaves its band; ``calendar``: act every
        ``calendar_days`` days since ``last_rebalanced``; ``calendar_threshold``: on calendar
        dates only, and only if a band is breached. A cash shortfall always acts.
    calendar_days
        Period of the calendar trigger, days.
    rebalance_to
        ``target``: all the way; ``band_edge``: the worst sleeve to its band edge; ``halfway``:
        the worst sleeve halfway between target and band edge. Partial modes shrink every
        sleeve's deviation by the same factor, so trades fund each other.
    cash_reserve
        Cash floor as a fraction of account value: buys never take cash below it and a
        balance below it is raised by selling. The model's CASH target is lifted to it.
    min_trade_value
        Trades smaller than this (USD) are skipped (forced sales excepted).
    fee_per_trade, spread_bps
        Cost model: ``fee + spread_bps / 1e4 x value`` per trade, paid from cash.
    drift_value_bps
        Benefit of a trade: ``drift_value_bps / 1e4 x`` dollars of misallocation it removes;
        a trade whose benefit is below its cost is skipped.
    lot_method
        ``tax_aware`` (losses first, then long-term gains, then short-term gains; highest cost
        first within each), ``hifo`` or ``fifo``. Only taxable accounts use lots.
    short_term_tax_rate, long_term_tax_rate
        Rates for the estimated tax of a sale (negative for a loss: a saving).
    wash_sale_days
        Wash-sale window, days, household-wide.
    max_fill_rounds
        Cap on the leftover-cash rounds of whole-share accounts.
    max_passes
        The pipeline reruns on accounts that traded, as if the trades were done, up to this
        many passes, and nets them (so a second rebalance finds nothing to do).
    """

    band: BandKind = "hybrid"
    relative_band: float = 0.20
    absolute_band: float = 0.02
    max_total_drift: float | None = None
    trigger: TriggerKind = "threshold"
    calendar_days: int = 90
    rebalance_to: TargetKind = "halfway"
    cash_reserve: float = 0.0
    min_trade_value: float = 10.0
    fee_per_trade: float = 0.0
    spread_bps: float = 5.0
    drift_value_bps: float = 50.0
    lot_method: LotMethod = "tax_aware"
    short_term_tax_rate: float = 0.35
    long_term_tax_rate: float = 0.15
    wash_sale_days: int = 30
    max_fill_rounds: int = 64
    max_passes: int = 10

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"policy.{name} must be one of {choices}, got {getattr(self, name)!r}"
                )
        for f in fields(self):
            value = getattr(self, f.name)
            is_number = isinstance(value, float | int) and not isinstance(value, bool)
            if is_number and (not math.isfinite(value) or value < 0):
                raise ConfigError(f"policy.{f.name} must be a finite number >= 0, got {value!r}")
        for name in ("relative_band", "cash_reserve", "short_term_tax_rate", "long_term_tax_rate"):
            if getattr(self, name) > 1:
                raise ConfigError(
                    f"policy.{name} is a fraction in [0, 1], got {getattr(self, name)}"
                )
        if self.absolute_band > 1:
            raise ConfigError(
                f"policy.absolute_band is a fraction in [0, 1], got {self.absolute_band}"
            )
        if self.max_passes < 1:
            raise ConfigError("policy.max_passes must be at least 1")
        if self.calendar_days < 1:
            raise ConfigError("policy.calendar_days must be at least 1")

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): part of the run id, so reruns are reproducible."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_options(cls, **options: Any) -> Policy:
        """Build from keyword options, ignoring ``None`` (CLI flags that were not given)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown policy option(s): {', '.join(unknown)}")
        return cls(**{k: v for k, v in options.items() if v is not None})
