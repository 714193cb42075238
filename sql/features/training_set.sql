-- The training set: every decision joined with the features of its sleeve at its as_of
-- (decision_features, written when the decision was simulated or recorded). A sleeve decided
-- more than once at the same as_of keeps the latest decision (a dashboard decision re-made).
--
-- Parameters
--   :source   '' for every source, or one of simulated | dashboard | import
WITH latest AS (
  SELECT as_of, account_id, symbol, action, source, note,
         row_number() OVER (
           PARTITION BY as_of, account_id, symbol
           ORDER BY decided_at DESC NULLS LAST, source
         ) AS rn
  FROM decisions
  WHERE :source = '' OR source = :source
)
SELECT f.*, l.action, l.source, l.note
FROM decision_features f
JOIN latest l
  ON l.as_of = f.as_of AND l.account_id = f.account_id AND l.symbol = f.symbol AND l.rn = 1
ORDER BY f.as_of, f.account_id, f.symbol
