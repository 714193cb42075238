"""Backtest a target portfolio over the lake's daily history (``rebalancer backtest``).

The use case reads the daily closes of the portfolio's symbols from the lake, checks the range
(one line naming what is wrong: an unknown symbol, weights that do not sum to 1, an unknown
policy, a range without prices), runs :class:`rebalancer.backtest.Backtest` and, unless told
not to, writes the run to the ``backtests`` table (one row per day, the metrics on each).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.backtest import (
    METRICS,
    Backtest,
    BacktestResult,
    BaseTrigger,
    check_weights,
    make_trigger,
    rule_grid,
)
from rebalancer.backtest import metrics as compute_metrics
from rebalancer.errors import ConfigError, MarketDataError, OutOfRangeError
from rebalancer.lake import Lake
from rebalancer.market import load_price_panel
from rebalancer.market._prices import BACKFILL_HINT

ACCOUNT_TYPES = ("taxable", "ira")
#: How far the first (last) close may be from --start (--end): a long weekend plus holidays.
SLACK = pd.Timedelta(days=7)


@dataclass(frozen=True)
class BacktestReport:
    """One run: its inputs, metrics, the daily curve and the rebalances."""

    run_id: str
    policy: str
    weights: dict[str, float]
    start: date
    end: date
    account_type: str
    cost_bps: float
    fractional: bool
    metrics: dict[str, float]
    result: BacktestResult
    keys: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: inputs, metrics and the daily equity curve."""
        curve = self.result.curve()
        return {
            "run_id": self.run_id,
            "policy": self.policy,
            "weights": self.weights,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "account_type": self.account_type,
            "cost_bps": self.cost_bps,
            "fractional": self.fractional,
            "metrics": self.metrics,
            "rebalance_dates": [d.date().isoformat() for d in self.result.rebalances["date"]],
            "curve": {
                "date": [d.date().isoformat() for d in curve["date"]],
                "equity": curve["equity"].tolist(),
                "drift": curve["drift"].tolist(),
            },
        }


def parse_portfolio(symbols: Sequence[str], weights: Sequence[float]) -> dict[str, float]:
    """``symbol -> weight`` from two lists; mismatched lengths, duplicates or weights not
    summing to 1 are one line."""
    names = [s.strip().upper() for s in symbols if s.strip()]
    if not names:
        raise ConfigError("--symbols: give at least one symbol")
    if len(set(names)) != len(names):
        raise ConfigError(f"--symbols: duplicate symbol in {', '.join(names)}")
    if len(weights) != len(names):
        raise ConfigError(f"--weights: {len(weights)} weight(s) for {len(names)} symbol(s)")
    portfolio = dict(zip(names, (float(w) for w in weights), strict=True))
    check_weights(portfolio)
    return portfolio


def backtest_closes(lake: Lake, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
    """Daily closes of ``symbols`` for ``[start, end]``, every symbol priced on the first day.

    A symbol the lake has no daily bars for, a range without prices (or whose prices begin or
    end more than a week inside it), or a symbol whose history begins after ``start`` is a
    one-line error saying which; a close missing in the middle (one market's holiday) carries
    the last close forward.
    """
    if end <= start:
        raise ConfigError(f"--end {end} must be after --start {start}")
    if not lake.list_objects("market_prices"):
        raise MarketDataError(f"market_prices is empty: {BACKFILL_HINT}")
    panel = load_price_panel(lake, symbols)
    first, last = panel.index.min().date(), panel.index.max().date()
    window = panel.loc[pd.Timestamp(start) : pd.Timestamp(end)]
    if len(window) < 2:
        raise OutOfRangeError(
            f"no daily prices between {start} and {end}: the lake has "
            f"{', '.join(panel.columns)} from {first} to {last}"
        )
    have = f"the lake has {', '.join(panel.columns)} from {first} to {last}"
    if window.index[0] - pd.Timestamp(start) > SLACK:
        raise OutOfRangeError(f"no daily prices near --start {start}: {have}")
    if pd.Timestamp(end) - window.index[-1] > SLACK:
        raise OutOfRangeError(f"no daily prices near --end {end}: {have}")
    late = window.columns[window.iloc[0].isna()]
    if len(late):
        begins = {s: panel[s].first_valid_index() for s in late}
        named = ", ".join(f"{s} from {d.date()}" for s, d in begins.items() if d is not None)
        latest = max(d for d in begins.values() if d is not None).date()
        raise OutOfRangeError(
            f"no close on {window.index[0].date()} for {', '.join(late)} (prices start: "
            f"{named}): start on or after {latest}"
        )
    return window.ffill()[list(symbols)]


def run_id(payload: dict[str, Any]) -> str:
    """A deterministic id of a run's inputs (same inputs, same id, same object)."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_backtest(
    lake: Lake,
    *,
    symbols: Sequence[str],
    weights: Sequence[float],
    policy: str,
    start: date,
    end: date,
    cost_bps: float = 5.0,
    account_type: str = "taxable",
    fractional: bool = False,
    write: bool = True,
    now: pd.Timestamp | None = None,
) -> BacktestReport:
    """Backtest ``policy`` on the target portfolio over the lake's closes; write the run to
    the ``backtests`` table unless ``write`` is false."""
    return run_backtests(
        lake, symbols=symbols, weights=weights, policies=[policy], start=start, end=end,
        cost_bps=cost_bps, account_type=account_type, fractional=fractional, write=write,
        now=now,
    )[0]  # fmt: skip


def triggers_for(policies: Sequence[str]) -> list[BaseTrigger]:
    """Triggers of ``name[:param]`` specs; ``all`` is the rule grid (every rule, default
    parameters and a few variants)."""
    if not policies:
        raise ConfigError("--policy: give at least one policy")
    out: list[BaseTrigger] = []
    for spec in policies:
        out.extend(rule_grid() if spec.strip() == "all" else [make_trigger(spec)])
    return out


def run_backtests(
    lake: Lake,
    *,
    symbols: Sequence[str],
    weights: Sequence[float],
    policies: Sequence[str],
    start: date,
    end: date,
    cost_bps: float = 5.0,
    account_type: str = "taxable",
    fractional: bool = False,
    write: bool = True,
    now: pd.Timestamp | None = None,
) -> list[BacktestReport]:
    """Backtest each policy on the same closes (read once); every input is checked before the
    first run, so a bad one is one line and nothing is written."""
    portfolio = parse_portfolio(symbols, weights)
    triggers = triggers_for(policies)
    if account_type not in ACCOUNT_TYPES:
        raise ConfigError(f"--account-type must be taxable or ira, got {account_type!r}")
    if not (np.isfinite(cost_bps) and 0 <= cost_bps <= 10_000):
        raise ConfigError(f"--cost-bps must be between 0 and 10000, got {cost_bps}")
    closes = backtest_closes(lake, list(portfolio), start, end)
    created = now or pd.Timestamp.now("UTC")
    reports = []
    for trigger in triggers:
        spec = Backtest(
            trigger, portfolio, account_type=account_type, cost_bps=cost_bps,
            fractional=fractional,
        )  # fmt: skip
        result = spec.fit(closes).result_
        engine = spec.engine_policy().to_json()
        first, last = result.dates[0].date(), result.dates[-1].date()
        rid = run_id(
            {"weights": portfolio, "policy": trigger.label, "start": first, "end": last,
             "cost_bps": cost_bps, "account_type": account_type, "fractional": fractional,
             "engine": engine}
        )  # fmt: skip
        report = BacktestReport(
            run_id=rid, policy=trigger.label, weights=portfolio, start=first, end=last,
            account_type=account_type, cost_bps=float(cost_bps), fractional=fractional,
            metrics=compute_metrics(result), result=result, keys=[],
        )  # fmt: skip
        if write:
            rows = backtest_rows(report, engine, created)
            report = dataclasses.replace(
                report, keys=lake.write("backtests", rows, name=f"run-{rid}")
            )
        reports.append(report)
    return reports


def backtest_rows(report: BacktestReport, engine_policy: str, now: pd.Timestamp) -> pd.DataFrame:
    """The ``backtests`` rows of a run: one per day, the run's inputs and metrics on each."""
    result = report.result
    n = len(result.dates)
    usd = result.initial_value
    per_day = (
        result.trades.assign(
            traded=result.trades["value"].astype(float),
            cost=result.trades["cost"].astype(float),
            realized_gain=result.trades["realized_gain"].astype(float),
        )
        .groupby(pd.to_datetime(result.trades["date"]))[["traded", "cost", "realized_gain"]]
        .sum()
    )
    per_day = per_day.reindex(result.dates, fill_value=0.0) / usd
    created = now.tz_convert("UTC").tz_localize(None) if now.tzinfo else now
    frame = pd.DataFrame(
        {
            "run_id": report.run_id,
            "created_at": created,
            "policy": report.policy,
            "engine_policy": engine_policy,
            "symbols": ",".join(report.weights),
            "weights": json.dumps(report.weights),
            "account_type": report.account_type,
            "cost_bps": report.cost_bps,
            "fractional": report.fractional,
            "period_start": result.dates[0],
            "period_end": result.dates[-1],
            "day": result.dates,
            "equity": result.equity,
            "drift": result.drift,
            "benchmark": result.benchmark,
            "traded": per_day["traded"].to_numpy(),
            "cost": per_day["cost"].to_numpy(),
            "realized_gain": per_day["realized_gain"].to_numpy(),
        },
        index=range(n),
    )
    for name in METRICS:
        value = report.metrics[name]
        frame[name] = int(value) if name == "rebalances" else float(value)
    return frame
