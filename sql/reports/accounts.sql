-- Accounts with their owner's risk profile (all, or one household's): what the Book page
-- filters and the Account page's household list shows.
SELECT a.account_id, a.household_id, a.client_id, a.advisor_id, a.account_type, a.model_id,
       a.cash, a.pending_cash_flow, a.last_rebalanced,
       coalesce(c.risk_profile, 'unknown') AS risk_profile
FROM accounts a
LEFT JOIN clients c ON c.client_id = a.client_id
WHERE :household_id IS NULL OR a.household_id = :household_id
ORDER BY a.account_id
