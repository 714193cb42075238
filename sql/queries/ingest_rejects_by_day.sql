-- Rejected rows per UTC day, source and reason: where ingestion is losing data.
SELECT
    dt,
    source,
    reason,
    count(*) AS rejected_rows,
    count(DISTINCT symbol) AS symbols
FROM ingest_rejects
GROUP BY dt, source, reason
ORDER BY dt DESC, rejected_rows DESC
