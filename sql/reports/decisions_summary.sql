-- Advisor decisions per source and action (the model's labels), with the newest decision.
SELECT source, action, count(*) AS decisions, count(DISTINCT account_id) AS accounts,
       max(decided_at) AS last_decided_at
FROM decisions
GROUP BY source, action
ORDER BY source, action
