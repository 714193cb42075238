"""Request and response models of the API (one module; routes stay thin).

The trade and account fields are the engine's own columns (``TRADE_COLUMNS``,
``ACCOUNT_COLUMNS``) and the ``recommendations`` schema's: ``tests/api/test_models.py`` holds
them against each other, so a renamed column fails a test instead of vanishing from responses.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from rebalancer.book import BookTables
from rebalancer.engine import Policy


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A time in a response: naive times are UTC, written with their zone (RFC 3339 ``Z``).
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]

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


class ModelAdvice(BaseModel):
    """The advisor-action model's advice on one sleeve (``policy.model`` advise or gate)."""

    symbol: str
    model_action: Literal["SELL", "HOLD", "BUY"]
    model_confidence: float = Field(description="Calibrated probability of that action (0..1)")
    model_reasons: list[str] = Field(
        default_factory=list, description="At most four reason codes, strongest first"
    )
    pinned: bool = Field(
        False, description="gate: held for this run (HOLD at or above min_confidence)"
    )


class RecommendationResponse(BaseModel):
    """What to trade in one account, and why."""

    account_id: str
    run_id: str
    as_of: UtcDatetime
    engine_version: str
    model_version: str | None = Field(
        None, description="The model that advised (policy.model advise or gate); null: off"
    )
    policy: Policy
    summary: AccountSummary
    trades: list[Trade]
    model_advice: list[ModelAdvice] = Field(
        default_factory=list,
        description="Per sleeve the account holds or targets: the model's action, confidence "
        "and reasons (empty when policy.model is off)",
    )


class WhatIfRequest(BaseModel):
    """Re-ask for one stored account with other policy knobs (nothing is written)."""

    model_config = ConfigDict(extra="forbid")

    policy: Policy = Field(default_factory=Policy, description="Every rebalancing knob.")
    as_of: datetime | None = Field(None, description=AS_OF_DESCRIPTION)


# ------------------------------------------------------------------ posted portfolio
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-^=]{0,19}$"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
#: Targets must sum to 1 within this (the engine's own tolerance).
WEIGHT_TOLERANCE = 1e-6
#: Lots must add up to their holding within this share of it (the engine's own tolerance).
QUANTITY_TOLERANCE = 1e-6

Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN, examples=["VTI"])]
Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
#: Bounds keep sums finite (1e15 units or USD is far past any real account).
MAX_AMOUNT = 1e15
Quantity = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
Amount = Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class LotIn(_Strict):
    """One tax lot of a holding (taxable accounts)."""

    lot_id: Identifier
    quantity: Quantity
    cost_basis: float = Field(ge=0, le=MAX_AMOUNT, description="Cost per unit, USD")
    acquired: date


class HoldingIn(_Strict):
    """One position: units held and, in a taxable account, the lots that make it up."""

    symbol: Symbol
    quantity: Quantity
    lots: list[LotIn] | None = Field(
        None, max_length=1_000, description="Required in taxable accounts; must sum to quantity"
    )


class RestrictionIn(_Strict):
    """A symbol the account may not buy (``restricted``) or not trade at all."""

    symbol: Symbol
    restriction: Literal["restricted", "do_not_trade"]
    reason: str | None = Field(None, max_length=200)


class RecentTradeIn(_Strict):
    """A trade of the household in the wash-sale window (a loss sale blocks re-buying)."""

    symbol: Symbol
    side: Literal["BUY", "SELL"]
    quantity: Quantity = 0.0
    price: float | None = Field(None, ge=0, le=MAX_AMOUNT)
    trade_date: date
    realized_gain: Amount = Field(0.0, description="Gain of a sale (negative: a loss)")
    account_id: Identifier | None = None


class PortfolioIn(_Strict):
    """One account as posted: holdings, cash, type, and its model (a book model id or
    explicit target weights)."""

    account_id: Identifier = "portfolio"
    account_type: Literal["taxable", "ira", "roth"]
    cash: float = Field(ge=0, le=MAX_AMOUNT, description="Cash, USD")
    pending_cash_flow: Amount = Field(0.0, description="Deposit (+) or withdrawal (-) to apply")
    fractional_shares: bool = False
    last_rebalanced: date | None = Field(None, description="For the calendar triggers")
    model_id: Identifier | None = Field(None, description="A model portfolio of the book")
    targets: dict[str, float] | None = Field(
        None,
        description="Target weights by symbol (CASH allowed), summing to 1; instead of model_id",
        max_length=1_000,
    )
    holdings: list[HoldingIn] = Field(default_factory=list)
    restrictions: list[RestrictionIn] = Field(default_factory=list, max_length=1_000)

    @field_validator("targets")
    @classmethod
    def _targets_sum_to_one(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("targets is empty")
        pattern = re.compile(SYMBOL_PATTERN)
        for symbol, weight in value.items():
            if not pattern.match(symbol):
                raise ValueError(f"targets: malformed symbol {symbol!r}")
            if not (math.isfinite(weight) and 0 <= weight <= 1):
                raise ValueError(f"targets[{symbol}] = {weight} is outside [0, 1]")
        total = math.fsum(value.values())
        if abs(total - 1) > WEIGHT_TOLERANCE:
            raise ValueError(f"targets sum to {total:.9g}, not 1 (within {WEIGHT_TOLERANCE})")
        return value

    @field_validator("holdings")
    @classmethod
    def _holdings_consistent(cls, value: list[HoldingIn]) -> list[HoldingIn]:
        seen: dict[str, int] = {}
        for i, holding in enumerate(value):
            if holding.symbol in seen:
                raise ValueError(
                    f"holdings[{i}]: {holding.symbol} is listed twice (also holdings"
                    f"[{seen[holding.symbol]}])"
                )
            seen[holding.symbol] = i
            if holding.lots is not None:
                total = math.fsum(lot.quantity for lot in holding.lots)
                if abs(total - holding.quantity) > QUANTITY_TOLERANCE * max(1.0, holding.quantity):
                    raise ValueError(
                        f"holdings[{i}]: lots of {holding.symbol} add up to {total:.9g}, "
                        f"the holding is {holding.quantity:.9g}"
                    )
        return value

    @model_validator(mode="after")
    def _one_model(self) -> PortfolioIn:
        if (self.model_id is None) == (self.targets is None):
            raise ValueError("give exactly one of model_id and targets")
        if self.account_type == "taxable":
            for i, holding in enumerate(self.holdings):
                if holding.lots is None and holding.quantity > 0:
                    raise ValueError(
                        f"holdings[{i}]: a taxable account needs the lots of {holding.symbol}"
                    )
        return self


class PortfolioRequest(PortfolioIn):
    """``POST /v1/recommendations``: a portfolio, its household context, prices and policy."""

    household: list[PortfolioIn] = Field(
        default_factory=list,
        max_length=50,
        description="The other accounts of the household (their trades are seen by the "
        "same-run wash-sale guard, as in a book run)",
    )
    recent_trades: list[RecentTradeIn] = Field(
        default_factory=list, max_length=10_000, description="The household's recent trades"
    )
    prices: dict[str, float] | None = Field(
        None,
        max_length=1_000,
        description="Price per symbol, USD; symbols left out are priced from the lake at as_of",
    )
    as_of: datetime | None = Field(None, description=AS_OF_DESCRIPTION)
    policy: Policy = Field(default_factory=Policy, description="Every rebalancing knob.")

    @field_validator("prices")
    @classmethod
    def _prices_positive(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        pattern = re.compile(SYMBOL_PATTERN)
        for symbol, price in (value or {}).items():
            if not pattern.match(symbol):
                raise ValueError(f"prices: malformed symbol {symbol!r}")
            if not (math.isfinite(price) and 0 < price <= MAX_AMOUNT):
                raise ValueError(f"prices[{symbol}] = {price} is not a positive number")
        return value

    @model_validator(mode="after")
    def _distinct_accounts(self) -> PortfolioRequest:
        ids = [self.account_id, *(a.account_id for a in self.household)]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"account_id {dup[0]} is used twice in the household")
        return self

    def accounts(self) -> list[PortfolioIn]:
        """The posted account first, then its household."""
        return [self, *self.household]

    def symbols(self) -> dict[str, str]:
        """Every symbol the request names -> the first field naming it (for error messages)."""
        out: dict[str, str] = {}
        for n, acc in enumerate(self.accounts()):
            where = "body" if n == 0 else f"body.household[{n - 1}]"
            for i, h in enumerate(acc.holdings):
                out.setdefault(h.symbol, f"{where}.holdings[{i}].symbol")
            for symbol in acc.targets or {}:
                out.setdefault(symbol, f"{where}.targets.{symbol}")
            for i, r in enumerate(acc.restrictions):
                out.setdefault(r.symbol, f"{where}.restrictions[{i}].symbol")
        out.pop("CASH", None)
        return out

    def holding_count(self) -> int:
        """Holdings over every posted account (what the configured maximum bounds)."""
        return sum(len(a.holdings) for a in self.accounts())

    def to_book(self, models: pd.DataFrame, securities: pd.DataFrame) -> BookTables:
        """The request as a book of one household (``models``: the book's rows of every
        ``model_id`` named; explicit targets become a model of their own per account)."""
        household = f"posted-{self.account_id}"
        accounts, holdings, lots, restrictions, model_rows = [], [], [], [], [models]
        for acc in self.accounts():
            model_id = acc.model_id or f"targets:{acc.account_id}"
            if acc.targets is not None:
                model_rows.append(
                    pd.DataFrame(
                        {
                            "model_id": model_id,
                            "symbol": list(acc.targets),
                            "target_weight": list(acc.targets.values()),
                        }
                    )
                )
            accounts.append(
                {"account_id": acc.account_id, "household_id": household, "client_id": None,
                 "advisor_id": None, "account_type": acc.account_type, "model_id": model_id,
                 "cash": acc.cash, "pending_cash_flow": acc.pending_cash_flow,
                 "fractional_shares": acc.fractional_shares,
                 "last_rebalanced": acc.last_rebalanced, "opened": None}
            )  # fmt: skip
            for h in acc.holdings:
                holdings.append((acc.account_id, h.symbol, h.quantity))
                lots += [
                    (acc.account_id, h.symbol, lot.lot_id, lot.quantity, lot.cost_basis,
                     pd.Timestamp(lot.acquired))
                    for lot in h.lots or []
                ]  # fmt: skip
            restrictions += [
                (acc.account_id, r.symbol, r.restriction, r.reason) for r in acc.restrictions
            ]
        trades = [
            (None, t.account_id, household, t.symbol, t.side, t.quantity, t.price,
             pd.Timestamp(t.trade_date), t.realized_gain)
            for t in self.recent_trades
        ]  # fmt: skip
        frame = pd.DataFrame
        return BookTables.from_frames(
            accounts=frame(accounts),
            model_portfolios=pd.concat(
                [m for m in model_rows if len(m)] or [models], ignore_index=True
            ),
            holdings=frame(holdings, columns=["account_id", "symbol", "quantity"]),
            tax_lots=frame(
                lots,
                columns=["account_id", "symbol", "lot_id", "quantity", "cost_basis", "acquired"],
            ),
            restrictions=frame(
                restrictions, columns=["account_id", "symbol", "restriction", "reason"]
            ),
            transactions=frame(
                trades,
                columns=[
                    "transaction_id",
                    "account_id",
                    "household_id",
                    "symbol",
                    "side",
                    "quantity",
                    "price",
                    "trade_date",
                    "realized_gain",
                ],
            ),
            securities=securities,
        )


class HoldingAction(BaseModel):
    """What to do with one symbol the account holds or targets."""

    symbol: str
    action: Literal["BUY", "SELL", "HOLD"]
    quantity_before: float
    trade_quantity: float = Field(description="Units bought or sold (0 for HOLD)")
    quantity_after: float
    price: float
    target_weight: float = Field(description="The model's target (0: not in the model)")
    weight_before: float
    weight_after: float
    model_action: Literal["SELL", "HOLD", "BUY"] | None = Field(
        None, description="The model's action (null when policy.model is off)"
    )
    model_confidence: float | None = Field(None, description="Its calibrated probability")
    model_reasons: list[str] | None = Field(None, description="At most four reason codes")
    model_pinned: bool | None = Field(None, description="gate: held for this run")


class Rejection(BaseModel):
    """An account of the household that could not be rebalanced, and why."""

    account_id: str
    reason: str


class PortfolioRecommendation(BaseModel):
    """The answer for a posted portfolio (nothing is written)."""

    account_id: str
    as_of: UtcDatetime
    engine_version: str
    model_version: str | None = Field(
        None, description="The model that advised (policy.model advise or gate); null: off"
    )
    policy: Policy
    summary: AccountSummary
    holdings: list[HoldingAction]
    trades: list[Trade]
    household_rejected: list[Rejection] = Field(
        default_factory=list, description="Household accounts left out (their fault, named)"
    )


# ------------------------------------------------------------------ reads
class AccountOut(BaseModel):
    """An account of the book with its state in the latest run."""

    account_id: str
    household_id: str | None = None
    client_id: str | None = None
    advisor_id: str | None = None
    account_type: str | None = None
    model_id: str | None = None
    cash: float | None = None
    pending_cash_flow: float | None = None
    last_rebalanced: date | None = None
    status: Literal["rebalance", "no_trades", "no_run"] = Field(
        description="In the latest run: rebalance (it traded), no_trades, or no_run (none yet)"
    )
    needs_rebalance: bool
    trades: int
    drift_before: float | None = Field(None, description="Drift the latest run saw (if traded)")
    drift_after: float | None = None
    traded_value: float | None = None


class AccountPageOut(BaseModel):
    """One page of accounts; pass ``next_cursor`` back as ``cursor`` for the next."""

    run_id: str | None = Field(None, description="The run statuses come from")
    accounts: list[AccountOut]
    next_cursor: str | None = None


class Position(BaseModel):
    """Units held of one symbol."""

    symbol: str
    quantity: float


class AccountDetail(AccountOut):
    """One account, its holdings and its state in the latest run."""

    run_id: str | None = None
    holdings: list[Position]


class RunOut(BaseModel):
    """A recommendation run's summary (the table holds trades: untraded accounts are not
    counted)."""

    run_id: str
    as_of: UtcDatetime | None = None
    accounts_traded: int
    trades: int
    turnover: float = Field(description="Value traded, USD")
    est_tax: float | None = None
    cost: float | None = None
    engine_version: str | None = None
    model_version: str | None = None
    policy: dict[str, Any] | None = Field(None, description="The run's Policy, as stored")


class RunList(BaseModel):
    """The newest runs first."""

    runs: list[RunOut]


class Bar(BaseModel):
    """One price bar."""

    symbol: str
    ts: UtcDatetime
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    volume: int | None = None


class Bars(BaseModel):
    """Bars of the requested symbols, by symbol then time."""

    interval: str
    bars: list[Bar]


class Ready(BaseModel):
    """Readiness: the lake answers; the model when one is configured."""

    status: str
    lake: str
    model: str
