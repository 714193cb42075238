-- Freshness of one day of market data: per interval, the newest bar, when it was ingested,
-- and how many bars and symbols the day holds.
SELECT "interval", max(ts) AS last_bar, max(ingested_at) AS last_ingested,
       count(*) AS bars, count(DISTINCT symbol) AS symbols
FROM market_prices
WHERE dt = :day
GROUP BY "interval"
ORDER BY "interval"
