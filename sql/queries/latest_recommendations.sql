-- Trades of the most recent rebalancing run, per account and symbol.
SELECT run_id, as_of, account_id, symbol, side, quantity, price, value, est_tax, cost, reason
FROM recommendations
WHERE run_id = (SELECT max_by(run_id, as_of) FROM recommendations)
ORDER BY account_id, symbol
