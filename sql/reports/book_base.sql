-- The shared start of book_accounts.sql and book_class_drift.sql (the caller joins the text:
-- this part ends with a CTE and no SELECT). Every position of the book (all accounts, or one
-- household's: :household_id NULL or an id), valued at the caller's prices, and every
-- account's total value, cash weight and CASH target, measured as the engine measures drift.
--
-- prices: the caller appends one row per priced symbol after the marker below, as
-- placeholders ", (:symbol_0, :price_0), ..." whose values go through the query's params;
-- the typed NULL row keeps the list valid (and matching nothing) when there are no prices.
-- cash: the settled balance plus the pending flow, its own leg against the model's CASH
-- sleeve. An account holding (quantity <> 0) a symbol with no price is unpriced: its total is
-- NULL. Weights are 0 where the total is not positive (or NULL).
WITH prices (symbol, price) AS (
    VALUES (CAST(NULL AS VARCHAR), CAST(NULL AS DOUBLE)) /* price rows */
),
scope AS (
    SELECT a.account_id, a.household_id, a.client_id, a.advisor_id, a.account_type,
           a.model_id, a.cash, a.pending_cash_flow,
           CAST(a.cash AS DOUBLE) + CAST(a.pending_cash_flow AS DOUBLE) AS cash_total
    FROM accounts a
    WHERE :household_id IS NULL OR a.household_id = :household_id
),
model_targets AS (
    SELECT model_id, symbol, sum(target_weight) AS target_weight
    FROM model_portfolios
    GROUP BY model_id, symbol
),
held AS (
    SELECT h.account_id, h.symbol, sum(h.quantity) AS quantity
    FROM holdings h JOIN scope s ON s.account_id = h.account_id
    GROUP BY h.account_id, h.symbol
),
targeted AS (
    SELECT s.account_id, m.symbol, m.target_weight
    FROM scope s JOIN model_targets m ON m.model_id = s.model_id
),
-- One row per (account, symbol) held or targeted (the rows of positions.sql).
positions AS (
    SELECT coalesce(h.account_id, t.account_id) AS account_id,
           coalesce(h.symbol, t.symbol) AS symbol,
           CAST(coalesce(h.quantity, 0.0) AS DOUBLE) AS quantity,
           CAST(coalesce(t.target_weight, 0.0) AS DOUBLE) AS target_weight
    FROM held h
    FULL OUTER JOIN targeted t ON t.account_id = h.account_id AND t.symbol = h.symbol
),
valued AS (
    SELECT p.account_id, p.symbol, p.target_weight, p.quantity * px.price AS value,
           px.price IS NULL AND p.quantity <> 0 AS unpriced
    FROM positions p
    LEFT JOIN prices px ON px.symbol = p.symbol
    WHERE p.symbol <> 'CASH'
),
cash_targets AS (
    SELECT account_id, sum(target_weight) AS cash_target
    FROM positions
    WHERE symbol = 'CASH'
    GROUP BY account_id
),
sums AS (
    SELECT account_id, sum(value) AS held_value, count_if(unpriced) > 0 AS unpriced
    FROM valued
    GROUP BY account_id
),
totals AS (
    SELECT s.*, coalesce(ct.cash_target, 0.0) AS cash_target,
           coalesce(x.unpriced, FALSE) AS unpriced,
           CASE WHEN coalesce(x.unpriced, FALSE) THEN NULL
                ELSE coalesce(x.held_value, 0.0) + s.cash_total END AS total
    FROM scope s
    LEFT JOIN sums x ON x.account_id = s.account_id
    LEFT JOIN cash_targets ct ON ct.account_id = s.account_id
),
weighted AS (
    SELECT t.*, CASE WHEN t.total > 0 THEN t.cash_total / t.total ELSE 0.0 END AS cash_weight
    FROM totals t
),
legs AS (
    SELECT v.account_id, v.symbol, v.target_weight,
           CASE WHEN coalesce(w.total, 0.0) <= 0 THEN 0.0 ELSE v.value / w.total END AS weight
    FROM valued v
    JOIN weighted w ON w.account_id = v.account_id
)
