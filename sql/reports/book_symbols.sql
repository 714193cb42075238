-- (follows book_base.sql) The symbols the accounts in scope hold or target (CASH aside):
-- what the book's default as-of must price when there is no run yet.
SELECT DISTINCT symbol FROM positions WHERE symbol <> 'CASH' ORDER BY symbol
