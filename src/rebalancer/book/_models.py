"""Model portfolios: target weights per risk profile, as data, validated once.

Weights are stored in basis points (integers) so "a model sums to exactly 1" is an integer
identity, not a floating-point hope; :meth:`ModelSet.frame` divides by 10,000 on the way out.
Every model holds a CASH sleeve: cash is not a position (no holding row, no tax lots), it is
``accounts.cash``, and the CASH weight is its target.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.errors import ConfigError

CASH = "CASH"
BASIS_POINTS = 10_000
RISK_PROFILES: tuple[str, ...] = ("conservative", "moderate", "balanced", "growth", "aggressive")
CRYPTO_SYMBOLS: frozenset[str] = frozenset({"BTC-USD", "ETH-USD"})

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-^=]{0,19}$")
_MODEL_ID = re.compile(r"^[A-Z0-9][A-Z0-9_\-]{0,39}$")


@dataclass(frozen=True)
class ModelPortfolio:
    """One model: an id, the risk profile it serves, and weights in basis points.

    ``popularity`` is the relative share of the profile's households that follow it.
    """

    model_id: str
    risk_profile: str
    weights_bp: Mapping[str, int]
    popularity: float = 1.0

    @property
    def symbols(self) -> list[str]:
        """Non-cash symbols of the model, sorted."""
        return sorted(s for s in self.weights_bp if s != CASH)


@dataclass(frozen=True)
class ModelSet:
    """A validated set of model portfolios covering every risk profile."""

    models: tuple[ModelPortfolio, ...]

    def __post_init__(self) -> None:
        validate_models(self.models)

    @property
    def model_ids(self) -> list[str]:
        """Model ids in definition order."""
        return [m.model_id for m in self.models]

    @property
    def symbols(self) -> list[str]:
        """Every non-cash symbol any model holds, sorted."""
        return sorted({s for m in self.models for s in m.symbols})

    def frame(self) -> pd.DataFrame:
        """The ``model_portfolios`` table: one row per (model, symbol), CASH included."""
        rows = [
            (m.model_id, symbol, bp / BASIS_POINTS)
            for m in self.models
            for symbol, bp in sorted(m.weights_bp.items())
        ]
        return pd.DataFrame(rows, columns=["model_id", "symbol", "target_weight"])

    def weight_matrix(self, symbols: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Dense ``(models x symbols)`` non-cash weights and the ``(models,)`` cash weights."""
        index = {s: j for j, s in enumerate(symbols)}
        weights = np.zeros((len(self.models), len(symbols)))
        cash = np.zeros(len(self.models))
        for i, model in enumerate(self.models):
            for symbol, bp in model.weights_bp.items():
                if symbol == CASH:
                    cash[i] = bp / BASIS_POINTS
                else:
                    weights[i, index[symbol]] = bp / BASIS_POINTS
        return weights, cash


def validate_models(models: Iterable[ModelPortfolio]) -> None:
    """Raise :class:`ConfigError` unless the models are a usable set.

    Checks: at least one model per risk profile, unique well-formed ids, known profiles,
    well-formed symbols, positive integer basis points summing to exactly 10,000, a positive
    CASH sleeve, positive popularity.
    """
    models = tuple(models)
    if not models:
        raise ConfigError("the model set is empty")
    seen: set[str] = set()
    for model in models:
        where = f"model {model.model_id!r}"
        if not _MODEL_ID.match(model.model_id):
            raise ConfigError(f"{where}: id must be upper-case letters, digits, '-' or '_'")
        if model.model_id in seen:
            raise ConfigError(f"{where}: duplicate model id")
        seen.add(model.model_id)
        if model.risk_profile not in RISK_PROFILES:
            raise ConfigError(
                f"{where}: unknown risk profile {model.risk_profile!r} "
                f"(known: {', '.join(RISK_PROFILES)})"
            )
        if not (model.popularity > 0 and np.isfinite(model.popularity)):
            raise ConfigError(f"{where}: popularity must be positive")
        for symbol, bp in model.weights_bp.items():
            if not _SYMBOL.match(symbol):
                raise ConfigError(f"{where}: malformed symbol {symbol!r}")
            if not isinstance(bp, int | np.integer) or isinstance(bp, bool) or bp <= 0:
                raise ConfigError(f"{where}: weight of {symbol} must be a positive integer bp")
        total = sum(int(bp) for bp in model.weights_bp.values())
        if total != BASIS_POINTS:
            raise ConfigError(f"{where}: weights sum to {total} bp, not {BASIS_POINTS}")
        if model.weights_bp.get(CASH, 0) <= 0:
            raise ConfigError(f"{where}: needs a positive {CASH} weight")
        if not model.symbols:
            raise ConfigError(f"{where}: holds nothing but cash")
    missing = [p for p in RISK_PROFILES if not any(m.risk_profile == p for m in models)]
    if missing:
        raise ConfigError(f"no model for risk profile(s) {', '.join(missing)}")


def _m(model_id: str, profile: str, popularity: float, **weights: int) -> ModelPortfolio:
    symbols = {k.replace("_", "-"): v for k, v in weights.items()}
    return ModelPortfolio(model_id, profile, symbols, popularity)


#: The default lineup: five risk profiles x two variants. Core variants use broad ETFs; the
#: others tilt to income, factors, direct equities or add a small crypto sleeve.
DEFAULT_MODELS = ModelSet(
    (
        _m("CONSERVATIVE-CORE", "conservative", 0.65,
           AGG=2500, BND=1500, SHY=1500, TIP=800, LQD=700, IEF=500,
           VTI=1200, VEA=500, USMV=600, CASH=200),
        _m("CONSERVATIVE-INCOME", "conservative", 0.35,
           AGG=2000, BND=2000, SHY=1000, LQD=1000, TIP=1000, TLT=500,
           USMV=800, JNJ=300, PG=300, KO=300, PEP=300, CASH=500),
        _m("MODERATE-CORE", "moderate", 0.6,
           AGG=2000, BND=1200, TIP=500, LQD=600, IEF=500,
           SPY=1500, VTI=1500, VEA=800, VWO=400, QUAL=500, USMV=300, CASH=200),
        _m("MODERATE-FACTOR", "moderate", 0.4,
           AGG=1800, BND=1200, IEF=600, TIP=500, LQD=400,
           QUAL=1000, USMV=1000, VLUE=800, MTUM=800, SIZE=400, VEA=800, VWO=300, CASH=400),
        _m("BALANCED-CORE", "balanced", 0.6,
           AGG=1800, BND=1000, TLT=400, TIP=300, LQD=500,
           SPY=2000, VTI=1500, VEA=1000, VWO=500, IWM=400, QQQ=400, CASH=200),
        _m("BALANCED-DIRECT", "balanced", 0.4,
           AGG=2000, BND=1000, IEF=500, LQD=500,
           AAPL=500, MSFT=500, JNJ=300, JPM=300, PG=300, UNH=300, XOM=300, HD=300,
           KO=200, PEP=200, WMT=200, LLY=200, VEA=1000, VWO=400, SPY=800, CASH=200),
        _m("GROWTH-CORE", "growth", 0.7,
           AGG=1000, BND=500, TIP=300, LQD=200,
           SPY=2500, VTI=2000, QQQ=1000, IWM=600, VEA=1000, VWO=700, CASH=200),
        _m("GROWTH-CRYPTO", "growth", 0.3,
           AGG=1000, BND=500, IEF=300,
           SPY=2200, VTI=1800, QQQ=1200, IWM=500, VEA=900, VWO=600, MTUM=400,
           BTC_USD=300, ETH_USD=150, CASH=150),
        _m("AGGRESSIVE-CORE", "aggressive", 0.6,
           AGG=500, BND=300,
           SPY=2500, VTI=2000, QQQ=1500, IWM=1000, VEA=1000, VWO=800, MTUM=300, CASH=100),
        _m("AGGRESSIVE-CRYPTO", "aggressive", 0.4,
           AGG=500,
           SPY=2000, QQQ=2000, VTI=1500, IWM=1000, VEA=700, VWO=600, AAPL=300, MSFT=300,
           AMD=200, BTC_USD=500, ETH_USD=300, CASH=100),
    )
)  # fmt: skip
