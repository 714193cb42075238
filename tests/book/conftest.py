"""Book fixtures: a price panel of real closes (where the bundled history has them) plus
seeded random walks for the symbols it lacks (bond ETFs, broad ETFs, crypto)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.book import DEFAULT_MODELS, BookChunk, generate_book
from rebalancer.market import history_closes

PANEL_START = "2016-01-01"
BOOK_ACCOUNTS = 2_000
BOOK_CHUNK = 500
BOOK_SEED = 11


def make_panel(start: str = PANEL_START, end: str = "2022-12-28", *, seed: int = 3) -> pd.DataFrame:
    """Daily closes for every model symbol (+ the bundled stocks) over ``[start, end]``."""
    real = history_closes().loc[start:end]
    rng = np.random.default_rng(seed)
    crypto_days = pd.date_range(real.index[0], real.index[-1], freq="D")
    panel = real.reindex(real.index.union(crypto_days))
    for symbol in DEFAULT_MODELS.symbols:
        if symbol in panel.columns and panel[symbol].notna().any():
            continue
        vol = 0.04 if symbol.endswith("-USD") else 0.006
        steps = rng.normal(0.0002, vol, len(panel))
        panel[symbol] = 50.0 * np.exp(np.cumsum(steps))
    stocks = [c for c in panel.columns if c in real.columns]
    weekend = panel.index.day_of_week >= 5
    panel.loc[weekend, stocks] = np.nan  # stocks do not trade on weekends
    return panel


@pytest.fixture(scope="session")
def panel() -> pd.DataFrame:
    """The shared price panel (read-only)."""
    return make_panel()


@pytest.fixture(scope="session")
def book_chunks(panel: pd.DataFrame) -> list[BookChunk]:
    """A 2,000-account book in 4 chunks (read-only: do not mutate its frames)."""
    return list(generate_book(BOOK_ACCOUNTS, seed=BOOK_SEED, prices=panel, chunk_size=BOOK_CHUNK))


@pytest.fixture(scope="session")
def book(book_chunks: list[BookChunk]) -> dict[str, pd.DataFrame]:
    """The book's tables, chunks concatenated."""
    names = book_chunks[0].tables.keys()
    return {
        name: pd.concat(
            [c.tables[name] for c in book_chunks if name in c.tables], ignore_index=True
        )
        for name in names
    }
