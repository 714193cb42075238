"""Model use cases: simulate or import decisions, train, list models, score a household.

Entry points (``rebalancer decisions|train|models``, the API's model routes, the training
entry points) call these; the logic is in :mod:`rebalancer.model`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from rebalancer.errors import ConfigError, NotFoundError
from rebalancer.lake import Lake
from rebalancer.market import latest_close_time
from rebalancer.model._decisions import ImportResult, import_decisions
from rebalancer.model._features import holding_features
from rebalancer.model._registry import (
    current_version,
    list_versions,
    model_metadata,
    promote_version,
)
from rebalancer.model._simulate import SimulationConfig, replay_dates, simulate, write_simulation

if TYPE_CHECKING:  # training and scoring import XGBoost; reading metadata (the API) must not
    from rebalancer.model._predict import Predictor
    from rebalancer.model._train import TrainConfig

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation wrote: rows, dates, the advisors' styles and the ceiling."""

    rows: int
    accounts: int
    dates: list[pd.Timestamp]
    actions: dict[str, int]
    ceiling: dict[str, Any]
    rule_agreement: float
    styles: pd.DataFrame
    keys: list[str]


def simulate_decisions(
    lake: Lake,
    *,
    accounts: int = 500,
    dates: int = 30,
    step_days: int = 10,
    start: date | None = None,
    seed: int = 7,
    noise_rate: float = 0.03,
    progress: Progress | None = None,
) -> SimulationSummary:
    """Generate a synthetic book at ``start`` from the lake's daily prices, replay it over
    ``dates`` sessions ``step_days`` apart, and write the simulated decisions and their
    features to the lake (names fixed by the seed: a rerun replaces them).

    ``start`` defaults to the latest session that leaves room for every replay date.
    """
    from rebalancer.book import DEFAULT_MODELS, MIN_HISTORY_DAYS, BookTables, generate_book
    from rebalancer.market import load_price_panel
    from rebalancer.market._universe import default_universe

    if dates < 1:
        raise ConfigError(f"--dates must be at least 1, got {dates}")
    config = SimulationConfig(seed=seed, step_days=step_days, noise_rate=noise_rate)
    panel = load_price_panel(lake, DEFAULT_MODELS.symbols)
    symbols = list(DEFAULT_MODELS.symbols)
    every = replay_dates(panel, panel.index[0], 1, symbols=symbols)
    if start is None:
        need = dates * step_days
        if len(every) <= need:
            raise ConfigError(
                f"the lake's prices cover {len(every)} sessions; {dates} dates {step_days} "
                "sessions apart need more (fewer --dates or a smaller --step-days)"
            )
        first = every[-need]
    else:
        later = [d for d in every if d.date() >= start]
        if not later:
            raise ConfigError(f"--start {start} is after the last priced session")
        first = later[0]
    if (first - panel.index[0]).days < MIN_HISTORY_DAYS:
        raise ConfigError(
            f"the replay starts {first.date()}, less than {MIN_HISTORY_DAYS} days after the "
            f"first price ({panel.index[0].date()}): backfill more history or a later --start"
        )
    replay = replay_dates(panel, first, step_days, symbols=symbols, count=dates)
    chunks = list(generate_book(accounts, seed=seed, prices=panel.loc[:first], as_of=first.date()))
    tables = {
        name: pd.concat([c.tables[name] for c in chunks], ignore_index=True)
        for name in chunks[0].tables
    }
    tables["securities"] = default_universe()
    book = BookTables.from_mapping(tables)
    result = simulate(book, panel, replay, config, progress=progress)
    keys = write_simulation(lake, result, seed=seed)
    d = result.dataset
    return SimulationSummary(
        rows=len(d),
        accounts=int(d["account_id"].nunique()),
        dates=replay,
        actions={a: int(n) for a, n in d["action"].value_counts().items()},
        ceiling=result.ceiling(),
        rule_agreement=float((d["rule"] == d["action"]).mean()) if len(d) else 0.0,
        styles=result.styles_frame(),
        keys=keys,
    )


def import_decision_file(
    lake: Lake, path: str | Path, *, strict: bool = False, features: bool = True
) -> ImportResult:
    """Import a firm's own decisions from a CSV (see :func:`rebalancer.model.import_decisions`)."""
    return import_decisions(lake, path, strict=strict, features=features)


def train_model(
    lake: Lake,
    config: TrainConfig | None = None,
    *,
    source: str = "",
    promote: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build the training set through ``Lake.query``, train, evaluate and register a model
    version (promoted to current unless ``promote`` is false). Returns its metadata."""
    from rebalancer.model._registry import register
    from rebalancer.model._train import empty_features, train, training_set

    data = training_set(lake, source=source)
    trained = train(data, config, progress=progress)
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(data.drop(columns=["note"]), index=False).to_numpy().tobytes()
    ).hexdigest()
    snapshot = {
        "rows": len(data),
        "sources": trained.sources,
        "first_as_of": str(data["as_of"].min()),
        "last_as_of": str(data["as_of"].max()),
        "sha256": digest,
        "query": "sql/features/training_set.sql",
        "source_filter": source or "all",
        "empty_features": empty_features(data),
    }
    return register(lake, trained, snapshot=snapshot, promote=promote)


def list_models(lake: Lake) -> list[dict[str, Any]]:
    """One summary per registered version, oldest first (``current`` marks the promoted one)."""
    current = current_version(lake)
    out = []
    for version in list_versions(lake):
        meta = model_metadata(lake, version)
        out.append(
            {
                "version": version,
                "current": version == current,
                "created_at": meta.get("created_at"),
                "rows": meta.get("training", {}).get("rows"),
                **{k: meta["metrics"].get(k) for k in ("macro_f1", "ece", "rule_macro_f1")},
                "ceiling_macro_f1": meta["metrics"].get("ceiling_macro_f1"),
            }
        )
    return out


def get_model(lake: Lake, version: str | None = None) -> dict[str, Any]:
    """One version's metadata (the current model by default); NotFoundError if none."""
    return model_metadata(lake, version)


def promote_model(lake: Lake, version: str) -> dict[str, Any]:
    """Make a registered version the current model."""
    return promote_version(lake, version)


def score_household(
    lake: Lake,
    account_id: str,
    *,
    as_of: pd.Timestamp | None = None,
    predictor: Predictor | None = None,
) -> pd.DataFrame:
    """The model's action, confidence and reasons for every sleeve of the account's household:
    the features SQL run on that household alone (the same text training reads), scored by
    the configured predictor. ``as_of`` defaults to the newest close in the lake."""
    from rebalancer.model._predict import get_predictor

    found = lake.query(
        "SELECT household_id FROM accounts WHERE account_id = :account_id",
        params={"account_id": str(account_id)},
    )
    if found.empty:
        raise NotFoundError(f"account {account_id} not found in the accounts table")
    household = found["household_id"].iloc[0]
    when = as_of if as_of is not None else latest_close_time(lake) + pd.Timedelta(days=1)
    rows = holding_features(lake, when, household=str(household))
    if pd.isna(household):
        rows = rows[rows["account_id"] == str(account_id)]
    predictor = predictor or get_predictor(lake)
    scored = predictor.predict(rows)
    keys = rows[["account_id", "household_id", "advisor_id", "symbol"]].reset_index(drop=True)
    return pd.concat([keys, scored], axis=1).assign(model_version=predictor.version)
