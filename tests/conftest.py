"""Shared fixtures: a fresh local lake per test, and schema-shaped sample frames."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings as hypothesis_settings

from rebalancer.lake import LocalLake, TableSchema, get_schema

# CI explores the same examples on every run (reproducible, never flaky); a developer's run
# draws new ones each time, and a failure prints the blob that replays it.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[LocalLake]:
    """An empty LocalLake in a temporary directory."""
    local = LocalLake(tmp_path / "lake")
    yield local
    local.close()


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read a developer's REBALANCER_* environment or write to ./lake."""
    for name in list(os.environ):
        if name.startswith("REBALANCER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REBALANCER_LAKE", str(tmp_path / "default-lake"))
    from rebalancer.config import get_settings

    get_settings.cache_clear()


def sample_frame(table: str | TableSchema, rows: int = 12, *, seed: int = 0) -> pd.DataFrame:
    """A valid frame for any table, built from its schema alone (rows spread over 3 days)."""
    schema = table if isinstance(table, TableSchema) else get_schema(table)
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2024-03-01 14:30:00")
    data: dict[str, object] = {}
    for col in schema.columns:
        if col.type == "string":
            data[col.name] = [f"{col.name}-{i % 5}" for i in range(rows)]
        elif col.type in ("double", "float"):
            data[col.name] = rng.uniform(1.0, 100.0, rows).round(4)
        elif col.type in ("bigint", "int", "smallint"):
            data[col.name] = rng.integers(0, 1000, rows)
        elif col.type == "boolean":
            data[col.name] = rng.integers(0, 2, rows).astype(bool)
        elif col.type == "timestamp":
            data[col.name] = [base + pd.Timedelta(hours=8 * i) for i in range(rows)]
        elif col.type == "date":
            data[col.name] = [(base + pd.Timedelta(days=i)).date() for i in range(rows)]
        else:  # pragma: no cover - a new type needs a sample here
            raise AssertionError(f"no sample for type {col.type}")
    return pd.DataFrame(data)
