"""One factory for providers, reading Settings (no ``if source == ...`` anywhere else)."""

from __future__ import annotations

import pandas as pd

from rebalancer.config import Settings
from rebalancer.errors import ConfigError
from rebalancer.market._provider import MarketDataProvider
from rebalancer.market._yfinance import Download

SOURCES = ("yfinance", "synthetic", "history")


def get_provider(
    source: str | None = None,
    *,
    settings: Settings | None = None,
    securities: pd.DataFrame | None = None,
    download: Download | None = None,
) -> MarketDataProvider:
    """The provider named ``source`` (default ``settings.market_source``)."""
    config = settings or Settings()
    name = source or config.market_source
    if name == "synthetic":
        from rebalancer.market._synthetic import SyntheticProvider

        return SyntheticProvider(securities, seed=config.synthetic_seed)
    if name == "yfinance":
        from rebalancer.market._yfinance import YFinanceProvider

        return YFinanceProvider(
            download=download, requests_per_second=config.yfinance_requests_per_second
        )
    if name == "history":
        from rebalancer.market._history import HistoryProvider

        return HistoryProvider()
    raise ConfigError(f"unknown market data source {name!r} (choose from {', '.join(SOURCES)})")
