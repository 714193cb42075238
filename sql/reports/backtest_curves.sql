-- The daily equity and drift of chosen backtest runs (the comparison chart).
SELECT run_id, policy, day, equity, drift, benchmark
FROM backtests
WHERE run_id IN :run_ids
ORDER BY run_id, day
