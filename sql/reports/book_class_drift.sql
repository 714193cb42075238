-- (follows book_base.sql) Drift by asset class x risk profile: the mean over priced accounts
-- of |class weight - class target| (cash: the cash leg plus any security of class 'cash'),
-- and how many accounts each cell averages. An account's class is left out when none of its
-- symbols there has a weight (all unpriced, the account's value positive).
--
-- Per (account, class), three kinds of rows summed: the held symbols (their weights, and how
-- many of them the model targets with a weight), the model's symbols of the class (their
-- target, and how many of them have a weight), the cash leg.
, model_classes AS (
    SELECT model_id, asset_class, sum(target_weight) AS target_weight, count(*) AS symbols,
           count_if(priced) AS priced_symbols
    FROM model_targets
    WHERE symbol <> 'CASH'
    GROUP BY model_id, asset_class
),
class_rows AS (
    SELECT account_id, asset_class, weight, 0.0 AS target_weight,
           CASE WHEN weight IS NULL THEN 0 ELSE 1 END AS weights,
           CASE WHEN targeted AND weight IS NOT NULL THEN 1 ELSE 0 END AS targeted_weights,
           0 AS model_weights
    FROM legs
    UNION ALL
    SELECT w.account_id, mc.asset_class, CAST(NULL AS DOUBLE) AS weight, mc.target_weight,
           0 AS weights, 0 AS targeted_weights,
           CASE WHEN w.total > 0 THEN mc.priced_symbols ELSE mc.symbols END AS model_weights
    FROM weighted w
    JOIN model_classes mc ON mc.model_id = w.model_id
    WHERE w.total IS NOT NULL
    UNION ALL
    SELECT account_id, 'cash' AS asset_class, cash_weight AS weight,
           cash_target AS target_weight, 1 AS weights, 0 AS targeted_weights, 0 AS model_weights
    FROM weighted
),
by_class AS (
    SELECT account_id, asset_class,
           CASE WHEN sum(weights) > 0 OR sum(model_weights) > sum(targeted_weights)
                THEN abs(coalesce(sum(weight), 0.0) - sum(target_weight)) END AS deviation
    FROM class_rows
    GROUP BY account_id, asset_class
)
SELECT b.asset_class, coalesce(c.risk_profile, 'unknown') AS risk_profile,
       avg(b.deviation) AS drift, count(*) AS accounts
FROM by_class b
JOIN weighted w ON w.account_id = b.account_id
LEFT JOIN clients c ON c.client_id = w.client_id
WHERE b.deviation IS NOT NULL AND w.total IS NOT NULL
GROUP BY b.asset_class, coalesce(c.risk_profile, 'unknown')
ORDER BY 1, 2
