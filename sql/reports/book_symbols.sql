-- (follows book_base.sql) The symbols the accounts in scope hold or target (CASH aside):
-- what the book's default as-of must price when there is no run yet.
SELECT symbol FROM held
UNION
SELECT mt.symbol FROM model_targets mt JOIN scope s ON s.model_id = mt.model_id
WHERE mt.symbol <> 'CASH'
ORDER BY symbol
