"""The run id's digest: what a recommendation run hashes, once for the whole book or a sum of
per-shard parts (the same id either way).

A run id is a hash of the run's inputs (as-of, policy, scope, engine and model version,
prices) and of its result summarised per part (trades, accounts, rejected) as the row count
and the sum of pandas' row hashes mod 2**64: a sum is independent of row order, so shards can
be hashed apart and added.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
from pandas.core.util.hashing import combine_hash_arrays

from rebalancer.engine import ENGINE_VERSION, Policy, Recommendation

#: The result's parts, in the order they are hashed, with the columns each contributes
#: (``None``: every column).
DIGEST_COLUMNS: dict[str, list[str] | None] = {
    "trades": ["account_id", "symbol", "side", "quantity", "price"],
    "accounts": ["account_id", "cash_before", "drift_before"],
    "rejected": None,
}


def row_hash_sum(frame: pd.DataFrame, columns: list[str] | None = None) -> int:
    """Sum (mod 2**64) of ``pd.util.hash_pandas_object(frame[columns], index=False)``.

    The same number, without building the column subset (a frame ``take`` that costs more
    than the hashing on a single account's few rows): each column hashed as a Series and
    combined as pandas combines a frame's columns.
    """
    names = list(frame.columns) if columns is None else columns
    if not names:
        return int(
            pd.util.hash_pandas_object(frame[[]], index=False).to_numpy().sum(dtype=np.uint64)
        )
    hashes = (pd.util.hash_pandas_object(frame[name], index=False).to_numpy() for name in names)
    combined = combine_hash_arrays(hashes, len(names))
    return int(combined.sum(dtype=np.uint64))


def digest_parts(rec: Recommendation) -> dict[str, list[int]]:
    """Per part, ``[rows, sum of row hashes mod 2**64]``: what a run id hashes of its result."""
    return {
        name: [len(frame), row_hash_sum(frame, DIGEST_COLUMNS[name])]
        for name, frame in (
            ("trades", rec.trades),
            ("accounts", rec.accounts),
            ("rejected", rec.rejected),
        )
    }


def run_id_from_parts(
    parts: dict[str, list[int]],
    prices: pd.Series,
    as_of: pd.Timestamp,
    policy: Policy,
    scope: str,
    model_version: str | None,
) -> str:
    """The run id of a result summarised by :func:`digest_parts` (parts of shards summed)."""
    digest = hashlib.sha256()
    head = {"as_of": as_of.isoformat(), "policy": policy.to_json(), "scope": scope,
            "engine": ENGINE_VERSION, "model": model_version}  # fmt: skip
    digest.update(json.dumps(head, sort_keys=True).encode())
    for name in DIGEST_COLUMNS:
        rows, total = parts[name]
        digest.update(f"{name}:{rows}:{total % 2**64}".encode())
    digest.update(prices.sort_index().to_json().encode())
    return digest.hexdigest()[:20]


def run_id_for(
    rec: Recommendation,
    prices: pd.Series,
    as_of: pd.Timestamp,
    policy: Policy,
    scope: str,
    model_version: str | None,
) -> str:
    """A deterministic run id: same time, policy, scope, engine, prices and result -> same id.

    The result (every trade, every account's cash and drift, every rejection) is a pure
    function of the book, so hashing it instead of the raw tables (millions of lots) is as
    reproducible and much cheaper; two books that yield identical rows share an object with
    identical content.
    """
    return run_id_from_parts(digest_parts(rec), prices, as_of, policy, scope, model_version)
