-- Close-to-close simple returns of daily bars, per symbol.
SELECT
    symbol,
    ts,
    dt,
    close,
    lag(close) OVER (PARTITION BY symbol ORDER BY ts) AS prev_close,
    close / lag(close) OVER (PARTITION BY symbol ORDER BY ts) - 1 AS daily_return
FROM market_prices
WHERE "interval" = '1d'
