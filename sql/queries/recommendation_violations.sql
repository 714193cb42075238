-- Audit: recommended trades that break a hard rule, per run (no rows = every rule holds).
-- Checks against the current book, so run it right after `rebalancer recommend`.
WITH trades AS (
    SELECT run_id, as_of, account_id, symbol, side, quantity, value, cost,
           drift_before, drift_after, reason
    FROM recommendations
),
oversold AS (
    SELECT t.run_id, t.account_id, t.symbol, 'SELL_MORE_THAN_HELD' AS violation
    FROM trades t
    LEFT JOIN holdings h ON h.account_id = t.account_id AND h.symbol = t.symbol
    WHERE t.side = 'SELL' AND t.quantity > coalesce(h.quantity, 0) + 1e-6
),
restricted AS (
    SELECT t.run_id, t.account_id, t.symbol, 'RESTRICTED_' || t.side AS violation
    FROM trades t
    JOIN restrictions r ON r.account_id = t.account_id AND r.symbol = t.symbol
    WHERE t.side = 'BUY' OR r.restriction = 'do_not_trade'
),
wash_sale AS (
    SELECT DISTINCT t.run_id, t.account_id, t.symbol, 'WASH_SALE_BUY' AS violation
    FROM trades t
    JOIN accounts a ON a.account_id = t.account_id
    JOIN transactions s ON s.household_id = a.household_id AND s.symbol = t.symbol
    WHERE t.side = 'BUY' AND s.side = 'SELL' AND s.realized_gain < 0
      AND date_diff('day', CAST(s.trade_date AS timestamp), t.as_of) <= 30
),
loss_sales AS (
    -- Sales in a run that sold at least one lot under water (its lot id is in the lots column).
    SELECT DISTINCT t.run_id, a.household_id, t.symbol
    FROM recommendations t
    JOIN accounts a ON a.account_id = t.account_id
    JOIN tax_lots l ON l.account_id = t.account_id AND l.symbol = t.symbol
         AND strpos(';' || t.lots, ';' || l.lot_id || ':') > 0
    WHERE t.side = 'SELL' AND l.quantity > 0 AND l.cost_basis / l.quantity > t.price
),
same_run_wash AS (
    -- A buy of what another account of the household sells at a loss in the same run.
    SELECT DISTINCT t.run_id, t.account_id, t.symbol, 'SAME_RUN_WASH_SALE' AS violation
    FROM trades t
    JOIN accounts a ON a.account_id = t.account_id
    JOIN loss_sales s ON s.run_id = t.run_id AND s.household_id = a.household_id
         AND s.symbol = t.symbol
    WHERE t.side = 'BUY'
),
cash AS (
    SELECT t.run_id, t.account_id, CAST(NULL AS varchar) AS symbol, 'CASH_OVERSPENT' AS violation
    FROM trades t
    JOIN accounts a ON a.account_id = t.account_id
    GROUP BY t.run_id, t.account_id, a.cash, a.pending_cash_flow
    HAVING a.cash + a.pending_cash_flow
           + sum(CASE WHEN t.side = 'SELL' THEN t.value ELSE -t.value END) - sum(t.cost) < -0.01
),
drift AS (
    -- Funding a cash shortfall (a withdrawal, a negative balance, a reserve) may raise drift:
    -- those sales are FORCED, and such accounts are exempt, as in the engine.
    SELECT DISTINCT t.run_id, t.account_id, CAST(NULL AS varchar) AS symbol,
           'DRIFT_INCREASED' AS violation
    FROM trades t
    JOIN accounts a ON a.account_id = t.account_id
    WHERE t.drift_after > t.drift_before + 1e-9
      AND a.cash + a.pending_cash_flow >= 0
      AND NOT EXISTS (
          SELECT 1 FROM recommendations f
          WHERE f.run_id = t.run_id AND f.account_id = t.account_id
            AND strpos(f.reason, 'FORCED') > 0
      )
)
SELECT run_id, account_id, symbol, violation FROM oversold
UNION ALL SELECT run_id, account_id, symbol, violation FROM restricted
UNION ALL SELECT run_id, account_id, symbol, violation FROM wash_sale
UNION ALL SELECT run_id, account_id, symbol, violation FROM same_run_wash
UNION ALL SELECT run_id, account_id, symbol, violation FROM cash
UNION ALL SELECT run_id, account_id, symbol, violation FROM drift
ORDER BY run_id, account_id, symbol, violation
