-- (follows book_base.sql) One row per account: the account, its owner's risk profile, its
-- value, its drift (sum |w - target| / 2 over the held symbols, the targeted ones not held
-- and the cash leg; NULL with the value when unpriced), cash weight and target, and the cash
-- to deploy (max(cash - cash_target * value, 0), 0 when unpriced).
, symbol_legs AS (
    SELECT account_id, sum(abs(weight - target_weight)) AS deviation
    FROM legs
    GROUP BY account_id
)
SELECT w.account_id, w.household_id, w.client_id, w.advisor_id, w.account_type, w.model_id,
       coalesce(c.risk_profile, 'unknown') AS risk_profile, w.cash, w.pending_cash_flow,
       w.total AS value,
       CASE WHEN w.total IS NULL THEN NULL
            ELSE (coalesce(d.deviation, 0.0) + w.unheld_legs
                  + abs(w.cash_weight - w.cash_target)) / 2.0
       END AS drift,
       w.cash_weight, w.cash_target,
       CASE WHEN w.cash_total - w.cash_target * w.total > 0
            THEN w.cash_total - w.cash_target * w.total ELSE 0.0 END AS cash_to_deploy,
       w.unpriced
FROM weighted w
LEFT JOIN symbol_legs d ON d.account_id = w.account_id
LEFT JOIN clients c ON c.client_id = w.client_id
ORDER BY w.account_id
