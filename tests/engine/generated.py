"""Generated books for engine tests: the synthetic generator over a seeded random price panel."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.book import DEFAULT_MODELS, BookTables, generate_book
from rebalancer.engine import Policy, Recommendation, recommend_book
from rebalancer.market._universe import default_universe

AS_OF = pd.Timestamp("2024-12-31")


def generated_book(n_accounts: int, seed: int) -> dict[str, pd.DataFrame]:
    """A generated book of ``n_accounts`` plus ``securities`` and ``prices`` (last closes)."""
    days = pd.bdate_range(end=AS_OF, periods=700)
    rng = np.random.default_rng(seed)
    panel = pd.DataFrame(index=days)
    for symbol in DEFAULT_MODELS.symbols:
        vol = 0.035 if symbol.endswith("-USD") else 0.012
        start = 30_000.0 if symbol.endswith("-USD") else float(rng.uniform(20, 600))
        panel[symbol] = start * np.exp(np.cumsum(rng.normal(0.0003, vol, len(days))))
    # Closes in cents, as quoted: numpy's exp differs between CPUs in the last bit, and a price
    # one ulp off moves a trade that sits exactly on a band edge or a minimum (the golden runs
    # must give the same trades on every machine).
    panel = panel.round(2)
    chunks = list(generate_book(n_accounts, seed=seed, prices=panel, as_of=AS_OF.date()))
    tables = {
        name: pd.concat([c.tables[name] for c in chunks], ignore_index=True)
        for name in chunks[0].tables
    }
    tables["securities"] = default_universe()
    tables["prices"] = panel.iloc[-1]
    return tables


def run_book(tables: dict[str, pd.DataFrame], policy: Policy) -> Recommendation:
    """The batch path over a generated book."""
    return recommend_book(BookTables.from_mapping(tables), tables["prices"], policy, as_of=AS_OF)
