-- Per account of one run: trades, traded value, tax, cost and drift before/after (the
-- recommendations table has one row per trade; an account the run did not trade has none).
SELECT account_id, count(*) AS trades, sum(value) AS traded_value, sum(est_tax) AS est_tax,
       sum(cost) AS cost, max(drift_before) AS drift_before, max(drift_after) AS drift_after
FROM recommendations
WHERE run_id = :run_id
GROUP BY account_id
