-- The dashboard decisions recorded for one account (newest first).
SELECT as_of, account_id, symbol, action, source, decided_by, decided_at, note
FROM decisions
WHERE account_id = :account_id AND source = 'dashboard'
ORDER BY decided_at DESC, symbol
