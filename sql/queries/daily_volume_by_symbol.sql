-- Traded volume, bar count and range per symbol and UTC day, from the 5-minute bars.
SELECT
    dt,
    symbol,
    count(*) AS bars,
    sum(volume) AS volume,
    min(low) AS low,
    max(high) AS high
FROM market_prices
WHERE "interval" = '5m'
GROUP BY dt, symbol
ORDER BY dt DESC, symbol
