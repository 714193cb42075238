"""Backtest metrics: return, risk, drift, trading, costs and taxes, per 1.0 invested."""

from __future__ import annotations

from typing import Any

import numpy as np

from rebalancer.backtest._simulate import BacktestResult

TRADING_DAYS = 252

#: Metric names in report order (the ``backtests`` table's columns too).
METRICS = (
    "annual_return", "volatility", "sharpe", "max_drawdown", "tracking_error", "avg_drift",
    "turnover", "rebalances", "costs", "taxes_paid", "taxes_deferred", "final_value",
    "after_tax_final_value",
)  # fmt: skip


def metrics(result: BacktestResult) -> dict[str, Any]:
    """The metrics of one run.

    ``annual_return``: geometric, over calendar years; ``volatility`` and ``sharpe``: daily,
    annualized with 252 days, Sharpe with a zero risk-free rate; ``tracking_error``: of the daily
    returns against the target rebalanced every day at no cost; ``avg_drift``: total drift
    averaged over days; ``turnover``: one-way traded value over the average value, per year;
    ``costs`` (the day-0 investment's included), ``taxes_paid`` and ``taxes_deferred`` per 1.0 of
    start value; ``rebalances`` and ``turnover`` leave out the day-0 investment. Taxes are paid
    from outside the account (the equity curve is pre-tax), so ``after_tax_final_value`` is the
    final value minus the taxes paid and the tax due if everything were sold at the last close.
    """
    equity = result.equity
    years = max((result.dates[-1] - result.dates[0]).days / 365.25, 1e-9)
    returns = equity[1:] / equity[:-1] - 1.0
    bench = result.benchmark[1:] / result.benchmark[:-1] - 1.0
    std = float(returns.std(ddof=1)) if returns.size > 1 else 0.0
    peak = np.maximum.accumulate(equity)
    reb = result.rebalances
    # The day-0 investment is not a rebalance and not turnover.
    later = reb.iloc[1:] if len(reb) and reb["date"].iloc[0] == result.dates[0] else reb
    usd = result.initial_value
    traded = float(later["turnover"].sum()) / usd / 2.0  # one-way: half of buys + sells
    avg_value = float(equity.mean())
    final = float(equity[-1])
    root = float(np.sqrt(TRADING_DAYS))
    active = returns - bench
    return {
        "annual_return": final ** (1.0 / years) - 1.0 if final > 0 else -1.0,
        "volatility": std * root,
        "sharpe": float(returns.mean()) / std * root if std > 0 else 0.0,
        "max_drawdown": float((equity / peak - 1.0).min()),
        "tracking_error": float(active.std(ddof=1)) * root if active.size > 1 else 0.0,
        "avg_drift": float(result.drift.mean()),
        "turnover": traded / avg_value / years if avg_value > 0 else 0.0,
        "rebalances": len(later),
        "costs": float(reb["cost"].sum()) / usd,
        "taxes_paid": result.taxes_paid,
        "taxes_deferred": result.taxes_deferred,
        "final_value": final,
        "after_tax_final_value": final - result.taxes_paid - result.taxes_deferred,
    }
