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
from typing import TYPE_CHECKING, Any

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
from rebalancer.backtest._learned import LOOKBACK, LearnedTrigger
from rebalancer.errors import ConfigError, MarketDataError, NotFoundError, OutOfRangeError
from rebalancer.lake import Lake
from rebalancer.market import load_price_panel
from rebalancer.market._prices import BACKFILL_HINT

if TYPE_CHECKING:
    from rebalancer.book import BookTables

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
    notes: tuple[str, ...] = ()
    account_id: str | None = None

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
            "notes": list(self.notes),
            **({"account_id": self.account_id} if self.account_id else {}),
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


def learned_history(lake: Lake, symbols: Sequence[str], closes: pd.DataFrame) -> pd.DataFrame:
    """The closes the learned trigger trains on: every day of the lake up to the run's last one
    on which all ``symbols`` are priced (the run's own days included, for the later blocks'
    refits; each block trains only on days before it)."""
    panel = load_price_panel(lake, symbols).loc[: closes.index[-1]]
    return panel[list(symbols)].ffill().dropna()


def fit_learned(
    trigger: LearnedTrigger,
    lake: Lake,
    portfolio: dict[str, float],
    closes: pd.DataFrame,
    **kw: Any,
) -> tuple[str, ...]:
    """Train ``trigger`` on the lake's history before the run (one line if there is too little)
    and say how it was trained and which rule the grid picked on the same training period."""
    history = learned_history(lake, list(portfolio), closes)
    first = closes.index[0]
    before = int(history.index.searchsorted(first))
    need = LOOKBACK + trigger.min_train + trigger.horizon + trigger.embargo
    if before < need:
        since = history.index[0].date() if len(history) else "nowhere"
        raise OutOfRangeError(
            f"--policy learned trains on the history before --start: it needs {need} trading "
            f"days before {first.date()} with every symbol priced, the lake has {before} "
            f"(from {since}); start later or backfill earlier prices"
        )
    trigger.fit(history, portfolio, first, **kw)
    train_end = history.index[int(trigger.splits_[0].train[-1])].date()
    scores = trigger.rule_scores_
    return (
        f"learned: {len(trigger.models_)} model(s), refit every {trigger.refit} trading days, "
        f"each trained on the days before its block (label window {trigger.horizon} days, "
        f"embargo {trigger.embargo})",
        f"best rule in sample (history to {train_end}, after-tax final value): "
        f"{trigger.best_rule_.label} ({scores[trigger.best_rule_.label]:.4f})",
    )


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
    parameters and a few variants) and the learned trigger."""
    if not policies:
        raise ConfigError("--policy: give at least one policy")
    out: list[BaseTrigger] = []
    for spec in policies:
        out.extend([*rule_grid(), LearnedTrigger()] if spec.strip() == "all" else
                   [make_trigger(spec)])  # fmt: skip
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
    return [
        _run_one(lake, trigger, portfolio, closes, account_type=account_type, cost_bps=cost_bps,
                 fractional=fractional, write=write, created=created)
        for trigger in triggers
    ]  # fmt: skip


def _run_one(
    lake: Lake,
    trigger: BaseTrigger,
    portfolio: dict[str, float],
    closes: pd.DataFrame,
    *,
    account_type: str,
    cost_bps: float,
    fractional: bool,
    write: bool,
    created: pd.Timestamp,
    account_id: str | None = None,
) -> BacktestReport:
    """One trigger on one portfolio (the learned trigger is trained first)."""
    notes: tuple[str, ...] = ()
    if isinstance(trigger, LearnedTrigger):
        notes = fit_learned(trigger, lake, portfolio, closes, cost_bps=cost_bps,
                            account_type=account_type, fractional=fractional)  # fmt: skip
    spec = Backtest(
        trigger, portfolio, account_type=account_type, cost_bps=cost_bps, fractional=fractional
    )
    result = spec.fit(closes[list(portfolio)]).result_
    engine = spec.engine_policy().to_json()
    first, last = result.dates[0].date(), result.dates[-1].date()
    payload = {"weights": portfolio, "policy": trigger.label, "start": first, "end": last,
               "cost_bps": cost_bps, "account_type": account_type, "fractional": fractional,
               "engine": engine}  # fmt: skip
    if account_id is not None:
        payload["account_id"] = account_id
    rid = run_id(payload)
    report = BacktestReport(
        run_id=rid, policy=trigger.label, weights=portfolio, start=first, end=last,
        account_type=account_type, cost_bps=float(cost_bps), fractional=fractional,
        metrics=compute_metrics(result), result=result, keys=[], notes=notes,
        account_id=account_id,
    )  # fmt: skip
    if write:
        rows = backtest_rows(report, engine, created)
        report = dataclasses.replace(report, keys=lake.write("backtests", rows, name=f"run-{rid}"))
    return report


def sample_accounts(book: BookTables, n: int, seed: int) -> list[str]:
    """``n`` account ids drawn without replacement (seeded; sorted for a stable order)."""
    ids = sorted(book.accounts["account_id"].astype(str))
    if n < 1:
        raise ConfigError(f"--accounts must be at least 1, got {n}")
    if not ids:
        raise NotFoundError("the book has no accounts: publish a book first")
    picked = np.random.default_rng(seed).choice(len(ids), size=min(n, len(ids)), replace=False)
    return [ids[i] for i in sorted(picked)]


def account_portfolio(book: BookTables, account_id: str) -> tuple[dict[str, float], str, bool]:
    """An account's model as backtest weights (its cash sleeve left out, the rest scaled to
    sum to 1), its tax treatment (taxable or not) and whether it trades fractional shares."""
    row = book.accounts.set_index("account_id").loc[account_id]
    model = book.model_portfolios[book.model_portfolios["model_id"] == row["model_id"]]
    sleeves = model[(model["symbol"] != "CASH") & (model["target_weight"] > 0)]
    total = float(sleeves["target_weight"].sum())
    if total <= 0:
        raise ConfigError(f"account {account_id}: model {row['model_id']} holds only cash")
    weights = {
        str(s): float(w) / total
        for s, w in zip(sleeves["symbol"], sleeves["target_weight"], strict=True)
    }
    kind = "taxable" if str(row["account_type"]) == "taxable" else "ira"
    return weights, kind, bool(row["fractional_shares"])


def run_book_backtests(
    lake: Lake,
    *,
    accounts: int,
    seed: int = 0,
    policies: Sequence[str],
    start: date,
    end: date,
    cost_bps: float = 5.0,
    write: bool = True,
    now: pd.Timestamp | None = None,
) -> list[BacktestReport]:
    """Replay a seeded sample of the book's accounts: each account's model portfolio (cash
    sleeve left out), tax treatment and share rule, from cash on the first day, under every
    policy, over the lake's closes. One report per (account, policy), accounts in id order."""
    from rebalancer.book import BookTables

    triggers_for(policies)  # a bad policy is one line before anything is read
    if not (np.isfinite(cost_bps) and 0 <= cost_bps <= 10_000):
        raise ConfigError(f"--cost-bps must be between 0 and 10000, got {cost_bps}")
    book = BookTables.from_lake(lake)
    picked = sample_accounts(book, accounts, seed)
    plans = [(a, *account_portfolio(book, a)) for a in picked]
    symbols = sorted({s for _, weights, _, _ in plans for s in weights})
    closes = backtest_closes(lake, symbols, start, end)
    created = now or pd.Timestamp.now("UTC")
    return [
        _run_one(lake, trigger, weights, closes, account_type=kind, cost_bps=cost_bps,
                 fractional=fractional, write=write, created=created, account_id=account)
        for account, weights, kind, fractional in plans
        for trigger in triggers_for(policies)  # fresh triggers: the learned one fits per account
    ]  # fmt: skip


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
