-- One row per (account, symbol) held or targeted by the account's model, with the quantity
-- held, the model's target weight and the asset class (all accounts, or one household's).
-- The CASH sleeve of a model comes through as symbol 'CASH' (the account's cash target).
WITH scope AS (
    SELECT account_id, model_id FROM accounts
    WHERE :household_id IS NULL OR household_id = :household_id
),
held AS (
    SELECT h.account_id, h.symbol, sum(h.quantity) AS quantity
    FROM holdings h JOIN scope s ON s.account_id = h.account_id
    GROUP BY h.account_id, h.symbol
),
targeted AS (
    SELECT s.account_id, m.symbol, sum(m.target_weight) AS target_weight
    FROM scope s JOIN model_portfolios m ON m.model_id = s.model_id
    GROUP BY s.account_id, m.symbol
)
SELECT coalesce(h.account_id, t.account_id) AS account_id,
       coalesce(h.symbol, t.symbol) AS symbol,
       coalesce(h.quantity, 0.0) AS quantity,
       coalesce(t.target_weight, 0.0) AS target_weight,
       coalesce(sec.asset_class,
                CASE WHEN coalesce(h.symbol, t.symbol) = 'CASH' THEN 'cash' ELSE 'other' END)
           AS asset_class
FROM held h
FULL OUTER JOIN targeted t ON t.account_id = h.account_id AND t.symbol = h.symbol
LEFT JOIN securities sec ON sec.symbol = coalesce(h.symbol, t.symbol)
ORDER BY 1, 2
