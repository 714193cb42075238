-- One row per backtest run with its metrics (the backtests table repeats them on every day's
-- row), newest first: the policy comparison table.
SELECT DISTINCT run_id, created_at, policy, symbols, account_type, cost_bps, fractional,
       period_start, period_end, annual_return, volatility, sharpe, max_drawdown,
       tracking_error, avg_drift, turnover, rebalances, costs, taxes_paid, taxes_deferred,
       final_value, after_tax_final_value
FROM backtests
ORDER BY created_at DESC, run_id
LIMIT :limit
