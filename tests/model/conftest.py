"""Model fixtures: a tiny seeded book (three advisors) over a seeded random price panel, and
one small simulation of it, shared read-only by the model tests (kept small: the whole
directory runs in well under a minute)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.book import DEFAULT_MODELS, BookTables, generate_book
from rebalancer.lake import LocalLake
from rebalancer.market._universe import default_universe
from rebalancer.model import (
    SimulationConfig,
    SimulationResult,
    TrainConfig,
    price_bars,
    replay_dates,
    simulate,
    training_set,
    write_simulation,
)
from rebalancer.usecases._model import train_model

BOOK_START = pd.Timestamp("2023-06-01")
ACCOUNTS = 60
SEED = 5


def make_panel(seed: int = 3, end: str = "2024-06-28") -> pd.DataFrame:
    """Business-day closes for every model symbol: seeded geometric random walks."""
    days = pd.bdate_range(end=end, periods=800)
    rng = np.random.default_rng(seed)
    panel = pd.DataFrame(index=days)
    for symbol in DEFAULT_MODELS.symbols:
        vol = 0.035 if symbol.endswith("-USD") else 0.012
        start = 30_000.0 if symbol.endswith("-USD") else float(rng.uniform(20, 600))
        panel[symbol] = start * np.exp(np.cumsum(rng.normal(0.0003, vol, len(days))))
    return panel


def make_book(panel: pd.DataFrame, accounts: int = ACCOUNTS, seed: int = SEED) -> BookTables:
    """A generated book at BOOK_START; advisors reassigned so three advisors share it."""
    chunks = list(generate_book(accounts, seed=seed, prices=panel.loc[:BOOK_START]))
    tables = {
        n: pd.concat([c.tables[n] for c in chunks], ignore_index=True) for n in chunks[0].tables
    }
    acc = tables["accounts"]
    codes = pd.factorize(acc["household_id"])[0] % 3
    acc["advisor_id"] = [f"ADV{c + 1:05d}" for c in codes]
    tables["securities"] = default_universe()
    return BookTables.from_mapping(tables)


@pytest.fixture(scope="session")
def panel() -> pd.DataFrame:
    return make_panel()


@pytest.fixture(scope="session")
def book(panel: pd.DataFrame) -> BookTables:
    return make_book(panel)


@pytest.fixture(scope="session")
def sim_dates(panel: pd.DataFrame) -> list[pd.Timestamp]:
    return replay_dates(panel, BOOK_START, 5, count=6)


@pytest.fixture(scope="session")
def simulation(
    book: BookTables, panel: pd.DataFrame, sim_dates: list[pd.Timestamp]
) -> SimulationResult:
    return simulate(book, panel, sim_dates, SimulationConfig(seed=SEED, noise_rate=0.05))


#: A training config for tiny data: few rounds, no early stop before the last round.
SMALL = TrainConfig(
    seed=3, num_boost_round=30, early_stopping_rounds=30, embargo_days=3, eta=0.3, max_depth=4
)


@pytest.fixture(scope="session")
def sim_lake(tmp_path_factory: pytest.TempPathFactory, simulation: SimulationResult) -> LocalLake:
    """A lake holding the simulation's decisions and features (read-only)."""
    lake = LocalLake(tmp_path_factory.mktemp("train") / "lake")
    write_simulation(lake, simulation, seed=SEED)
    return lake


@pytest.fixture(scope="session")
def data(sim_lake: LocalLake) -> pd.DataFrame:
    """The training set of ``sim_lake``."""
    return training_set(sim_lake)


@pytest.fixture(scope="session")
def registered(sim_lake: LocalLake) -> dict:
    """A model trained on ``sim_lake`` and promoted to current."""
    return train_model(sim_lake, SMALL)


def sharded_model_lake(
    root: Path, panel: pd.DataFrame, model_source: LocalLake, *, accounts: int, seed: int
) -> LocalLake:
    """A lake holding the panel's daily bars, a generated book of ``accounts`` in three
    household shards and ``model_source``'s registered models (its current one current)."""
    from rebalancer.book import write_book
    from tests.model.test_serving_paths import copy_models

    lake = LocalLake(root)
    lake.write("market_prices", price_bars(panel.loc["2022-10-01":BOOK_START]), name="bars")
    book = generate_book(accounts, seed=seed, prices=panel.loc[:BOOK_START])
    assert write_book(lake, book, shards=3).shards == 3
    copy_models(model_source, lake)
    return lake
