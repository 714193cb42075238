-- One day's ingest rejects by source and reason (what the Market page charts).
SELECT source, reason, count(*) AS rejected_rows, count(DISTINCT symbol) AS symbols
FROM ingest_rejects
WHERE dt = :day
GROUP BY source, reason
ORDER BY rejected_rows DESC, source, reason
