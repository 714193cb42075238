"""The rebalancing policy: every knob of the engine, frozen, validated, with documented defaults.

``Policy`` is the one source of truth for a knob: the CLI's policy flags are generated from its
fields, the API's request body uses it as its schema, and a run stores :meth:`Policy.to_json`
in the ``recommendations.policy`` column (and hashes it into the run id).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rebalancer.errors import ConfigError

BandKind = Literal["absolute", "relative", "hybrid"]
TriggerKind = Literal["threshold", "calendar", "calendar_threshold"]
TargetKind = Literal["target", "band_edge", "halfway"]
LotMethod = Literal["tax_aware", "hifo", "fifo"]
ModelMode = Literal["off", "advise", "gate"]


class Policy(BaseModel):
    """How the engine decides when and how far to rebalance.

    Defaults follow the published evidence: a hybrid band of 20% of the target with a 2-point
    absolute floor (Morningstar TRX / Wealthfront style: big sleeves get wide bands, small sleeves
    keep a floor so they do not churn), checked on every run (``threshold``), trimming *halfway*
    back between the band edge and the target (Daryanani 2008: 20% relative bands, halfway trims).
    Betterment's rule is ``band="absolute", absolute_band=1.0, max_total_drift=0.03`` (only the
    3% total-drift trigger).

    Partial modes (``band_edge``, ``halfway``) shrink every sleeve's deviation by the same factor,
    so trades fund each other. Only taxable accounts use lots. A bad value is a pydantic
    ``ValidationError`` when constructed directly (a 422 naming the field in a request body);
    :meth:`from_options` and :meth:`from_json`, the edges' way in, raise a one-line
    :class:`~rebalancer.errors.ConfigError` naming it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    band: BandKind = Field(
        "hybrid",
        description="Band kind: absolute (absolute_band for every sleeve), relative "
        "(relative_band x target) or hybrid (the larger of the two).",
    )
    relative_band: float = Field(
        0.20, ge=0, le=1, description="Relative band, a fraction of the target (0.20 = 20%)."
    )
    absolute_band: float = Field(
        0.02, ge=0, le=1, description="Absolute band (or floor), a fraction of value (0.02)."
    )
    max_total_drift: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Extra trigger: total drift (sum |w - target| / 2, cash included) above this.",
    )
    trigger: TriggerKind = Field(
        "threshold",
        description="threshold: when a sleeve leaves its band; calendar: every calendar_days "
        "since last_rebalanced; calendar_threshold: on calendar dates, if a band is breached. "
        "A cash shortfall always acts.",
    )
    calendar_days: int = Field(90, ge=1, le=3660, description="Calendar trigger period, days.")
    rebalance_to: TargetKind = Field(
        "halfway",
        description="target: all the way; band_edge: the worst sleeve to its band edge; "
        "halfway: the worst sleeve halfway between target and band edge.",
    )
    cash_reserve: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Cash floor, a fraction of the post-trade value: buys never take cash "
        "below it and a balance below it is raised by selling.",
    )
    min_trade_value: float = Field(
        10.0,
        ge=0,
        description="Trades smaller than this (USD) are skipped (forced sales excepted).",
    )
    fee_per_trade: float = Field(0.0, ge=0, description="Fee per trade, USD, paid from cash.")
    spread_bps: float = Field(
        5.0, ge=0, le=10_000, description="Spread cost per trade, basis points of its value."
    )
    drift_value_bps: float = Field(
        50.0,
        ge=0,
        description="Benefit of a trade, bps of the misallocation it removes; a trade whose "
        "benefit is below its cost is skipped.",
    )
    lot_method: LotMethod = Field(
        "tax_aware",
        description="tax_aware (losses, then long-term, then short-term gains; highest cost "
        "first within each), hifo or fifo. Only taxable accounts use lots.",
    )
    short_term_tax_rate: float = Field(
        0.35, ge=0, le=1, description="Tax rate on short-term gains (for the estimated tax)."
    )
    long_term_tax_rate: float = Field(
        0.15, ge=0, le=1, description="Tax rate on long-term gains (for the estimated tax)."
    )
    wash_sale_days: int = Field(
        30, ge=0, le=366, description="Wash-sale window, days, household-wide."
    )
    buy_only: bool = Field(
        False,
        description="New money only: no sale (forced sales for a withdrawal or the cash "
        "reserve excepted, flagged FORCED); cash above the cash target and reserve, pending "
        "deposits included, buys the most underweight sleeves first, never past target, "
        "whenever it pays for one trade (bands and rebalance_to do not apply; calendar "
        "triggers still pick the days).",
    )
    max_fill_rounds: int = Field(
        64, ge=0, le=10_000, description="Cap on the leftover-cash rounds of whole-share accounts."
    )
    max_passes: int = Field(
        10,
        ge=1,
        le=100,
        description="Passes over accounts that traded, as if the trades were done, netted "
        "(so a second rebalance finds nothing to do).",
    )

    model: ModelMode = Field(
        "off",
        description="The advisor-action model: off (not used); advise (trades unchanged, each "
        "holding carries the model's action, confidence and reasons); gate (a sleeve the model "
        "says HOLD with at least min_confidence is pinned for the run, unless a cash shortfall "
        "or withdrawal forces a sale; the model never adds a trade). advise and gate need a "
        "registered model.",
    )
    min_confidence: float = Field(
        0.6,
        ge=0,
        le=1,
        description="gate: the model's confidence (its calibrated probability of HOLD) at or "
        "above which a HOLD pins the sleeve.",
    )

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): part of the run id, so reruns are reproducible."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Policy:
        """A policy from its JSON (unknown keys, wrong types and bad values: ConfigError)."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"policy JSON is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError("policy JSON must be an object of policy fields")
        return cls.from_options(**{k: v for k, v in data.items()})

    @classmethod
    def from_options(cls, base: Policy | None = None, **options: Any) -> Policy:
        """``base`` (default: the defaults) with the given options on top; ``None`` values
        (CLI flags that were not given) are ignored."""
        given = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(given) - set(cls.model_fields))
        if unknown:
            raise ConfigError(f"unknown policy option(s): {', '.join(unknown)}")
        merged = {**(base.model_dump() if base is not None else {}), **given}
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(policy_error_message(exc)) from None


def policy_error_message(exc: ValidationError) -> str:
    """One line naming the first bad field (``policy.<field>: <why> (got <value>)``)."""
    errors = exc.errors()
    first = errors[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or "policy"
    message = first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":
        message = "unknown policy field"
    got = first.get("input")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"policy.{field}: {message} (got {got!r}){more}"
