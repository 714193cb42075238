"""Request and response models of the API (one module; routes stay thin).

The trade and account fields are the engine's own columns (``TRADE_COLUMNS``,
``ACCOUNT_COLUMNS``) and the ``recommendations`` schema's: ``tests/api/test_models.py`` holds
them against each other, so a renamed column fails a test instead of vanishing from responses.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from rebalancer.engine import Policy

AS_OF_DESCRIPTION = (
    "Price time, ISO 8601; a time without a zone is UTC. Between 1900-01-01 and 2200-01-01. "
    "Default: the last time every symbol of the account's household has a close in the lake."
)


class Trade(BaseModel):
    """One recommended trade."""

    symbol: str
    side: str = Field(description="BUY or SELL")
    quantity: float
    price: float
    value: float
    est_tax: float = Field(description="Estimated tax of the sale (negative: a saving)")
    realized_gain: float | None = Field(None, description="Gain realized by the sale")
    cost: float = Field(description="Estimated transaction cost (fee + spread)")
    reason: str = Field(description="Reason codes, e.g. DRIFT_SELL")
    lots: str | None = Field(None, description="Tax lots a sale draws on (lot:units;...)")
    target_weight: float | None = None
    post_weight: float | None = None


class AccountSummary(BaseModel):
    """The account before and after the trades."""

    status: str
    account_value: float
    cash_before: float
    cash_after: float
    drift_before: float = Field(description="Total drift: sum |w - target| / 2")
    drift_after: float
    turnover: float


class RecommendationResponse(BaseModel):
    """What to trade in one account, and why."""

    account_id: str
    run_id: str
    as_of: datetime
    engine_version: str
    policy: Policy
    summary: AccountSummary
    trades: list[Trade]


class WhatIfRequest(BaseModel):
    """Re-ask for one stored account with other policy knobs (nothing is written)."""

    model_config = ConfigDict(extra="forbid")

    policy: Policy = Field(default_factory=Policy, description="Every rebalancing knob.")
    as_of: datetime | None = Field(None, description=AS_OF_DESCRIPTION)
