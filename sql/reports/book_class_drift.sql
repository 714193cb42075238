-- (follows book_base.sql) Drift by asset class x risk profile: the mean over priced accounts
-- of |class weight - class target| (cash: the cash leg plus any security of class 'cash'),
-- and how many accounts each cell averages. A class whose every weight is NULL (an
-- unpriced, unheld target) is left out of its account.
, class_legs AS (
    SELECT l.account_id, coalesce(sec.asset_class, 'other') AS asset_class, l.weight,
           l.target_weight
    FROM legs l
    LEFT JOIN securities sec ON sec.symbol = l.symbol
    UNION ALL
    SELECT account_id, 'cash' AS asset_class, cash_weight AS weight, cash_target AS target_weight
    FROM weighted
),
by_class AS (
    SELECT account_id, asset_class, abs(sum(weight) - sum(target_weight)) AS deviation
    FROM class_legs
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
