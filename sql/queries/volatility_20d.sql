-- Annualized 20-trading-day volatility of daily close-to-close returns, per symbol and day.
WITH daily AS (
    SELECT
        symbol,
        ts,
        dt,
        close / lag(close) OVER (PARTITION BY symbol ORDER BY ts) - 1 AS daily_return
    FROM market_prices
    WHERE "interval" = '1d'
),
windowed AS (
    SELECT
        symbol,
        ts,
        dt,
        stddev_samp(daily_return) OVER (
            PARTITION BY symbol ORDER BY ts ROWS BETWEEN 19 PRECEDING AND CURRENT ROW
        ) * sqrt(252) AS volatility_20d,
        count(daily_return) OVER (
            PARTITION BY symbol ORDER BY ts ROWS BETWEEN 19 PRECEDING AND CURRENT ROW
        ) AS returns_in_window
    FROM daily
)
SELECT symbol, dt, volatility_20d
FROM windowed
WHERE returns_in_window = 20
ORDER BY symbol, ts
