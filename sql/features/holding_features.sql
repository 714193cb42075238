-- Features of every sleeve of every account at one as-of time: each holding, and each model
-- sleeve the account does not hold yet (a BUY candidate). One row per (account_id, symbol).
-- The advisor-action model's feature list is this query's columns after the keys, in order.
-- The last five describe how the engine would act on the account once its pending cash flow
-- lands: the worst band ratio among the sleeves it may trade (restricted and do-not-trade
-- sleeves never trigger), the same without overweight taxable sleeves whose sale would realize
-- a short-term gain (an advisor who defers those gains is triggered by the rest), and, for a
-- deposit (or a withdrawal), the cash left for this sleeve after the more underweight (or
-- overweight) tradable sleeves are filled (or sold) first. Both running sums use one ordering
-- (most underweight first, ties by symbol descending) in the same window step as the other
-- per-account windows: a second ordering or window step cost 0.1-0.2 s more per 10k accounts.
--
-- Parameters
--   :cutoff          timestamp: a daily bar is known at as_of if it started at or before this
--                    (as_of minus one day: a 1d bar closes at the end of its day)
--   :as_of_date      date of as_of (tax-lot holding periods, wash-sale window, days since)
--   :start_dt        first dt partition of market_prices read (the 130-session lookback)
--   :household       '' for every account, or one household id (API scoring)
--   :min_trade_value the policy's minimum trade, USD (trade size versus the minimum)
WITH bars AS (
  SELECT symbol, CAST(ts AS date) AS day, close,
         row_number() OVER (
           PARTITION BY symbol, CAST(ts AS date) ORDER BY ts DESC, ingested_at DESC
         ) AS rn
  FROM market_prices
  WHERE "interval" = '1d' AND dt >= :start_dt AND ts <= :cutoff
),
daily AS (
  SELECT symbol, day, close,
         ln(close / lag(close) OVER (PARTITION BY symbol ORDER BY day)) AS r,
         row_number() OVER (PARTITION BY symbol ORDER BY day DESC) AS k
  FROM bars
  WHERE rn = 1 AND close > 0
),
market AS (
  SELECT symbol,
         max(CASE WHEN k = 1 THEN close END) AS price,
         max(CASE WHEN k = 22 THEN close END) AS close_21,
         max(CASE WHEN k = 64 THEN close END) AS close_63,
         max(CASE WHEN k = 127 THEN close END) AS close_126,
         stddev_samp(CASE WHEN k <= 20 THEN r END) * sqrt(252.0) AS vol_20,
         stddev_samp(CASE WHEN k <= 60 THEN r END) * sqrt(252.0) AS vol_60,
         stddev_samp(CASE WHEN k <= 120 THEN r END) * sqrt(252.0) AS vol_120
  FROM daily
  GROUP BY symbol
),
acct AS (
  SELECT account_id, household_id, advisor_id, account_type, model_id, cash,
         pending_cash_flow, last_rebalanced, fractional_shares
  FROM accounts
  WHERE :household = '' OR household_id = :household
),
held AS (
  SELECT h.account_id, h.symbol, sum(h.quantity) AS quantity
  FROM holdings h JOIN acct a ON a.account_id = h.account_id
  GROUP BY h.account_id, h.symbol
),
targets AS (
  SELECT a.account_id, m.symbol, sum(m.target_weight) AS target_weight
  FROM acct a JOIN model_portfolios m ON m.model_id = a.model_id
  GROUP BY a.account_id, m.symbol
),
slots AS (
  SELECT account_id, symbol FROM held WHERE quantity <> 0 AND symbol <> 'CASH'
  UNION
  SELECT account_id, symbol FROM targets WHERE symbol <> 'CASH'
),
valued AS (
  SELECT s.account_id, s.symbol,
         coalesce(h.quantity, 0.0) AS quantity,
         coalesce(h.quantity, 0.0) * m.price AS value,
         coalesce(t.target_weight, 0.0) AS target,
         m.price, m.close_21, m.close_63, m.close_126, m.vol_20, m.vol_60, m.vol_120
  FROM slots s
  LEFT JOIN held h ON h.account_id = s.account_id AND h.symbol = s.symbol
  LEFT JOIN targets t ON t.account_id = s.account_id AND t.symbol = s.symbol
  LEFT JOIN market m ON m.symbol = s.symbol
),
invested AS (
  SELECT account_id, sum(value) AS invested FROM valued GROUP BY account_id
),
cash_targets AS (
  SELECT account_id, target_weight AS cash_target FROM targets WHERE symbol = 'CASH'
),
lots AS (
  SELECT l.account_id, l.symbol,
         sum(l.quantity * m.price - l.cost_basis) AS unrealized,
         sum(CASE WHEN l.acquired > date_add('day', -365, :as_of_date)
                  THEN greatest(l.quantity * m.price - l.cost_basis, 0.0) ELSE 0.0 END) AS st_gain,
         sum(CASE WHEN l.acquired > date_add('day', -365, :as_of_date)
                  THEN l.quantity ELSE 0.0 END) AS st_quantity
  FROM tax_lots l
  JOIN acct a ON a.account_id = l.account_id
  JOIN market m ON m.symbol = l.symbol
  GROUP BY l.account_id, l.symbol
),
restr AS (
  SELECT r.account_id, r.symbol,
         max(CASE WHEN r.restriction = 'restricted' THEN 1 ELSE 0 END) AS restricted,
         max(CASE WHEN r.restriction = 'do_not_trade' THEN 1 ELSE 0 END) AS do_not_trade
  FROM restrictions r JOIN acct a ON a.account_id = r.account_id
  GROUP BY r.account_id, r.symbol
),
wash AS (
  SELECT t.household_id, t.symbol,
         max(CASE WHEN t.side = 'SELL' AND t.realized_gain < 0 THEN 1 ELSE 0 END) AS loss_sale_30d,
         max(CASE WHEN t.side = 'BUY' THEN 1 ELSE 0 END) AS buy_30d
  FROM transactions t
  WHERE t.trade_date > date_add('day', -30, :as_of_date) AND t.trade_date <= :as_of_date
  GROUP BY t.household_id, t.symbol
),
base AS (
  SELECT a.account_id, a.household_id, a.advisor_id, v.symbol, a.account_type,
         a.cash, a.pending_cash_flow, a.last_rebalanced, a.fractional_shares,
         v.quantity, v.value, v.target, v.price,
         v.close_21, v.close_63, v.close_126, v.vol_20, v.vol_60, v.vol_120,
         i.invested + a.cash AS total,
         coalesce(c.cash_target, 0.0) AS cash_target,
         lt.unrealized, lt.st_gain, lt.st_quantity,
         coalesce(r.restricted, 0) AS restricted,
         coalesce(r.do_not_trade, 0) AS do_not_trade,
         coalesce(w.loss_sale_30d, 0) AS loss_sale_30d,
         coalesce(w.buy_30d, 0) AS buy_30d
  FROM valued v
  JOIN acct a ON a.account_id = v.account_id
  JOIN invested i ON i.account_id = v.account_id
  LEFT JOIN cash_targets c ON c.account_id = v.account_id
  LEFT JOIN lots lt ON lt.account_id = v.account_id AND lt.symbol = v.symbol
  LEFT JOIN restr r ON r.account_id = v.account_id AND r.symbol = v.symbol
  LEFT JOIN wash w ON w.household_id = a.household_id AND w.symbol = v.symbol
),
weighted AS (
  SELECT b.*,
         CASE WHEN b.total > 0 THEN b.value / b.total END AS weight,
         CASE WHEN b.total > 0 THEN b.cash / b.total END AS cash_share,
         -- after the pending cash flow lands (what the engine rebalances)
         CASE WHEN b.total + b.pending_cash_flow > 0
              THEN b.value / (b.total + b.pending_cash_flow) - b.target END AS drift_after_flow,
         CASE WHEN b.total + b.pending_cash_flow > 0
              THEN (b.cash + b.pending_cash_flow) / (b.total + b.pending_cash_flow)
                   - b.cash_target END AS cash_gap_after_flow
  FROM base b
),
flagged AS (
  SELECT w.*,
         abs(drift_after_flow) / greatest(0.2 * target, 0.02) AS ratio_after_flow,
         restricted = 0 AND do_not_trade = 0 AS tradable,
         coalesce(account_type = 'taxable' AND weight > target AND st_gain > 0, false)
           AS st_gain_sale,
         total + pending_cash_flow AS total_after_flow,
         CASE WHEN restricted = 0 AND do_not_trade = 0 AND drift_after_flow < 0
              THEN -drift_after_flow ELSE 0.0 END AS under_gap,
         CASE WHEN restricted = 0 AND do_not_trade = 0 AND drift_after_flow > 0
              THEN drift_after_flow ELSE 0.0 END AS over_gap
  FROM weighted w
)
SELECT account_id, household_id, advisor_id, symbol,
       weight,
       target,
       weight - target AS drift,
       CASE WHEN target > 0 THEN (weight - target) / target END AS rel_drift,
       abs(weight - target) / greatest(0.2 * target, 0.02) AS band_ratio,
       max(abs(weight - target) / greatest(0.2 * target, 0.02))
         OVER (PARTITION BY account_id) AS account_max_band_ratio,
       (sum(abs(weight - target)) OVER (PARTITION BY account_id)
        + abs(cash_share - cash_target)) / 2 AS account_drift,
       cash_share,
       cash_target,
       cash_share - cash_target AS cash_gap,
       CASE WHEN total > 0 THEN pending_cash_flow / total END AS flow_share,
       drift_after_flow,
       abs(drift_after_flow) / greatest(0.2 * target, 0.02) AS band_ratio_after_flow,
       max(abs(drift_after_flow) / greatest(0.2 * target, 0.02))
         OVER (PARTITION BY account_id) AS account_max_band_ratio_after_flow,
       abs(cash_share - cash_target) / greatest(0.2 * cash_target, 0.02) AS cash_band_ratio,
       cash_gap_after_flow,
       abs(cash_gap_after_flow) / greatest(0.2 * cash_target, 0.02)
         AS cash_band_ratio_after_flow,
       abs(weight - target) * total AS gap_usd,
       abs(weight - target) * total / greatest(:min_trade_value, 1.0) AS trade_vs_min,
       CASE WHEN price > 0 THEN abs(weight - target) * total / price END AS gap_shares,
       CASE WHEN fractional_shares THEN 1 ELSE 0 END AS fractional,
       ln(greatest(total, 1.0)) AS log_account_value,
       vol_20,
       vol_60,
       vol_120,
       price / close_21 - 1 AS mom_21,
       price / close_63 - 1 AS mom_63,
       price / close_126 - 1 AS mom_126,
       CASE WHEN value > 0 THEN unrealized / value END AS unrealized_share,
       CASE WHEN value > 0 THEN st_gain / value END AS st_gain_share,
       CASE WHEN quantity > 0 THEN st_quantity / quantity END AS st_quantity_share,
       CASE WHEN account_type = 'taxable' THEN 1 ELSE 0 END AS is_taxable,
       CASE WHEN account_type = 'roth' THEN 1 ELSE 0 END AS is_roth,
       CAST(date_diff('day', coalesce(last_rebalanced, DATE '1970-01-01'), :as_of_date) AS double)
         AS days_since_rebalance,
       CASE WHEN quantity > 0 THEN 1 ELSE 0 END AS held,
       restricted,
       do_not_trade,
       loss_sale_30d,
       buy_30d,
       max(CASE WHEN tradable THEN ratio_after_flow END)
         OVER (PARTITION BY account_id) AS account_max_band_ratio_tradable,
       max(CASE WHEN tradable AND NOT st_gain_sale THEN ratio_after_flow END)
         OVER (PARTITION BY account_id) AS account_max_band_ratio_no_st_gain,
       CASE WHEN under_gap > 0
            THEN cash_gap_after_flow - coalesce(sum(under_gap) OVER (
                   PARTITION BY account_id ORDER BY drift_after_flow, symbol DESC
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0.0)
       END AS buy_fill_left,
       CASE WHEN under_gap > 0
            THEN (cash_gap_after_flow - coalesce(sum(under_gap) OVER (
                   PARTITION BY account_id ORDER BY drift_after_flow, symbol DESC
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0.0)) * total_after_flow
       END AS buy_fill_left_usd,
       CASE WHEN over_gap > 0
            THEN -cash_gap_after_flow - coalesce(sum(over_gap) OVER (
                   PARTITION BY account_id ORDER BY drift_after_flow, symbol DESC
                   ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0.0)
       END AS sell_raise_left
FROM flagged
ORDER BY account_id, symbol
