"""Market data: providers (yfinance, synthetic, bundled history), validation, ingestion, and
the price reads (closes as of a time, the default as-of, the generator's daily panel)."""

from __future__ import annotations

from rebalancer.market._backfill import (
    AUTO_SOURCE,
    BackfillResult,
    backfill,
    backfill_object_name,
    backfill_universe,
)
from rebalancer.market._compact import CompactResult, compact_day, default_compaction_day
from rebalancer.market._factory import SOURCES, get_provider
from rebalancer.market._history import (
    HistoryProvider,
    history_bars,
    history_closes,
    history_symbols,
)
from rebalancer.market._ingest import (
    IngestSummary,
    ingest_slot,
    open_calendars,
    parse_every,
    schedule,
    slot_for,
    slot_object_name,
)
from rebalancer.market._prices import (
    book_as_of,
    latest_close_time,
    load_price_panel,
    load_prices,
    price_panel_sql,
)
from rebalancer.market._provider import BAR_COLUMNS, BAR_LENGTH, FetchResult, MarketDataProvider
from rebalancer.market._synthetic import SyntheticProvider, synthetic_universe
from rebalancer.market._universe import (
    default_universe,
    load_securities,
    read_symbols_file,
    seed_securities,
    universe,
)
from rebalancer.market._validate import JUMP_LIMITS, Validated, validate_bars
from rebalancer.market._yfinance import YFinanceProvider, normalize_download

__all__ = [
    "AUTO_SOURCE",
    "BAR_COLUMNS",
    "BAR_LENGTH",
    "JUMP_LIMITS",
    "SOURCES",
    "BackfillResult",
    "CompactResult",
    "FetchResult",
    "HistoryProvider",
    "IngestSummary",
    "MarketDataProvider",
    "SyntheticProvider",
    "Validated",
    "YFinanceProvider",
    "backfill",
    "backfill_object_name",
    "backfill_universe",
    "book_as_of",
    "compact_day",
    "default_compaction_day",
    "default_universe",
    "get_provider",
    "history_bars",
    "history_closes",
    "history_symbols",
    "ingest_slot",
    "latest_close_time",
    "load_price_panel",
    "load_prices",
    "load_securities",
    "normalize_download",
    "open_calendars",
    "parse_every",
    "price_panel_sql",
    "read_symbols_file",
    "schedule",
    "seed_securities",
    "slot_for",
    "slot_object_name",
    "synthetic_universe",
    "universe",
    "validate_bars",
]
