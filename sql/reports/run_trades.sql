-- The trades of one run (one account, or every account when :account_id is NULL): the trade
-- list with its lots, estimated tax, cost and reason codes, as exported to CSV.
SELECT run_id, as_of, account_id, symbol, side, quantity, price, value, est_tax, cost,
       realized_gain, lots, reason, target_weight, post_weight, drift_before, drift_after,
       engine_version, model_version
FROM recommendations
WHERE run_id = :run_id AND (:account_id IS NULL OR account_id = :account_id)
ORDER BY account_id, side DESC, symbol
