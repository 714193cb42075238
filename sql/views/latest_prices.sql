-- The most recent bar per symbol and interval: what the engine prices trades with.
SELECT symbol, "interval", ts, open, high, low, close, volume, source, dt
FROM (
    SELECT
        p.*,
        row_number() OVER (PARTITION BY symbol, "interval" ORDER BY ts DESC, ingested_at DESC) AS rn
    FROM market_prices AS p
)
WHERE rn = 1
