-- The shared start of book_accounts.sql and book_class_drift.sql (the caller joins the text:
-- this part ends with a CTE and no SELECT). The book's positions (all accounts, or one
-- household's: :household_id NULL or an id) valued at the caller's prices, and every
-- account's total value, cash weight and CASH target, measured as the engine measures drift
-- (the figures of positions.sql rows through _priced in rebalancer.usecases._reports).
--
-- prices: the caller appends one row per priced symbol after the marker below, as
-- placeholders ", (:symbol_0, :price_0), ..." whose values go through the query's params;
-- the typed NULL row keeps the list valid (and matching nothing) when there are no prices.
-- cash: the settled balance plus the pending flow, its own leg against the model's CASH
-- sleeve. An account holding (net quantity <> 0) a symbol with no price is unpriced: its
-- total is NULL. Weights are 0 where the total is not positive (or NULL); a position with no
-- price in an account of positive total has no weight (NULL: its leg is left out).
--
-- Only the held positions are joined to the accounts' totals: a symbol the model targets but
-- the account does not hold has weight 0 (or none, unpriced), so its legs are summed per
-- model (model_sums, model_classes) less the held ones (targeted, priced_target): no join
-- of the book's accounts with every symbol of their models.
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
    SELECT m.model_id, m.symbol, CAST(sum(m.target_weight) AS DOUBLE) AS target_weight,
           coalesce(max(sec.asset_class), 'other') AS asset_class,
           max(px.price) IS NOT NULL AS priced
    FROM model_portfolios m
    LEFT JOIN securities sec ON sec.symbol = m.symbol
    LEFT JOIN prices px ON px.symbol = m.symbol
    GROUP BY m.model_id, m.symbol
),
model_sums AS (
    SELECT model_id,
           coalesce(sum(CASE WHEN symbol = 'CASH' THEN target_weight END), 0.0) AS cash_target,
           coalesce(sum(CASE WHEN symbol <> 'CASH' THEN target_weight END), 0.0) AS target_all,
           coalesce(sum(CASE WHEN symbol <> 'CASH' AND priced THEN target_weight END), 0.0)
               AS target_priced
    FROM model_targets
    GROUP BY model_id
),
held AS (
    SELECT h.account_id, h.symbol, CAST(coalesce(sum(h.quantity), 0.0) AS DOUBLE) AS quantity
    FROM holdings h JOIN scope s ON s.account_id = h.account_id
    -- (coalesce: a filter that is false on NULL lets DuckDB skip an unreadable table's
    -- placeholder view, which must fail the query instead)
    WHERE coalesce(h.symbol, '') <> 'CASH'
    GROUP BY h.account_id, h.symbol
),
valued AS (
    SELECT h.account_id, h.symbol, h.quantity, h.quantity * px.price AS value,
           px.price IS NOT NULL AS priced,
           px.price IS NULL AND h.quantity <> 0 AS unpriced,
           mt.symbol IS NOT NULL AS targeted, coalesce(mt.target_weight, 0.0) AS target_weight,
           coalesce(sec.asset_class, 'other') AS asset_class
    FROM held h
    JOIN scope s ON s.account_id = h.account_id
    LEFT JOIN prices px ON px.symbol = h.symbol
    LEFT JOIN model_targets mt ON mt.model_id = s.model_id AND mt.symbol = h.symbol
    LEFT JOIN securities sec ON sec.symbol = h.symbol
),
sums AS (
    SELECT account_id, sum(value) AS held_value, count_if(unpriced) > 0 AS unpriced,
           sum(CASE WHEN targeted THEN target_weight ELSE 0.0 END) AS targeted,
           sum(CASE WHEN targeted AND priced THEN target_weight ELSE 0.0 END) AS priced_target
    FROM valued
    GROUP BY account_id
),
totals AS (
    SELECT s.*, coalesce(ms.cash_target, 0.0) AS cash_target,
           coalesce(x.unpriced, FALSE) AS unpriced,
           CASE WHEN coalesce(x.unpriced, FALSE) THEN NULL
                ELSE coalesce(x.held_value, 0.0) + s.cash_total END AS total,
           coalesce(ms.target_all, 0.0) - coalesce(x.targeted, 0.0) AS unheld_all,
           coalesce(ms.target_priced, 0.0) - coalesce(x.priced_target, 0.0) AS unheld_priced
    FROM scope s
    LEFT JOIN sums x ON x.account_id = s.account_id
    LEFT JOIN model_sums ms ON ms.model_id = s.model_id
),
weighted AS (
    SELECT t.*, CASE WHEN t.total > 0 THEN t.cash_total / t.total ELSE 0.0 END AS cash_weight,
           -- the targeted symbols not held: |0 - target| each where a weight exists
           CASE WHEN t.total > 0 THEN t.unheld_priced ELSE t.unheld_all END AS unheld_legs
    FROM totals t
),
legs AS (
    SELECT v.account_id, v.symbol, v.asset_class, v.targeted, v.priced, v.target_weight,
           CASE WHEN coalesce(w.total, 0.0) <= 0 THEN 0.0 ELSE v.value / w.total END AS weight
    FROM valued v
    JOIN weighted w ON w.account_id = v.account_id
)
