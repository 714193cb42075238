"""The client book: advisors, clients, accounts, model portfolios, holdings, tax lots.

``generate_book`` draws a synthetic, realistic book from a daily price panel (pure, seeded,
chunked); ``write_book`` writes it to the lake; the panel comes from
:func:`rebalancer.market.load_price_panel`.
"""

from __future__ import annotations

from rebalancer.book._generator import (
    BOOK_TABLES,
    DEFAULT_CHUNK_SIZE,
    MAX_ACCOUNTS,
    BookChunk,
    check_size,
    generate_book,
    n_advisors_for,
)
from rebalancer.book._models import (
    CASH,
    CRYPTO_SYMBOLS,
    DEFAULT_MODELS,
    RISK_PROFILES,
    ModelPortfolio,
    ModelSet,
    validate_models,
)
from rebalancer.book._prices import MIN_HISTORY_DAYS, PricePanel, prepare_panel
from rebalancer.book._tables import REQUIRED_COLUMNS, BookTables, empty_table
from rebalancer.book._writer import BookSummary, clear_book, part_name, write_book

__all__ = [
    "BOOK_TABLES",
    "CASH",
    "CRYPTO_SYMBOLS",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MODELS",
    "MAX_ACCOUNTS",
    "MIN_HISTORY_DAYS",
    "REQUIRED_COLUMNS",
    "RISK_PROFILES",
    "BookChunk",
    "BookSummary",
    "BookTables",
    "ModelPortfolio",
    "ModelSet",
    "PricePanel",
    "check_size",
    "clear_book",
    "empty_table",
    "generate_book",
    "n_advisors_for",
    "part_name",
    "prepare_panel",
    "validate_models",
    "write_book",
]
