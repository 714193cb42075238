"""Integrity of a published book, as a reader sees it (shared by the publish tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.book import BOOK_TABLES
from rebalancer.lake import Lake
from rebalancer.lake._manifest import book_snapshot, version_prefix


def read_book(lake: Lake) -> tuple[str | None, dict[str, pd.DataFrame], dict[str, list[str]]]:
    """Every book table, read with one manifest pinned: (version, frames, keys per table)."""
    blobs = lake.blobs  # type: ignore[attr-defined]
    with book_snapshot(blobs) as manifest:
        keys = {t: lake.list_objects(t) for t in BOOK_TABLES}
        frames = {t: lake.read(t) for t in BOOK_TABLES}
    return (manifest.version if manifest else None), frames, keys


def book_problems(lake: Lake, *, accounts: set[int] | None = None) -> list[str]:
    """What is wrong with the book a reader sees now (empty list: a whole, consistent book).

    Checks: every table's objects come from one version; rows match the manifest; every
    account's advisor, client and model exist; holdings equal the sum of their lots
    (taxable accounts); the account count is one of ``accounts`` if given.
    """
    version, book, keys = read_book(lake)
    problems: list[str] = []
    if version is not None:
        prefix = lake.blobs.uri(version_prefix(version))  # type: ignore[attr-defined]
        stray = [k for t in BOOK_TABLES for k in keys[t] if not k.startswith(prefix)]
        if stray:
            problems.append(f"objects outside version {version}: {stray[:3]}")
    acc = book["accounts"]
    if accounts is not None and len(acc) not in accounts:
        problems.append(f"{len(acc)} accounts, expected one of {sorted(accounts)}")
    for column, table in (
        ("advisor_id", "advisors"),
        ("client_id", "clients"),
        ("model_id", "model_portfolios"),
    ):
        missing = ~acc[column].isin(book[table][column])
        if missing.any():
            problems.append(f"{int(missing.sum())} accounts point at a missing {column}")
    for table in ("holdings", "tax_lots", "restrictions"):
        orphans = ~book[table]["account_id"].isin(acc["account_id"])
        if orphans.any():
            problems.append(f"{int(orphans.sum())} {table} rows of unknown accounts")
    taxable = set(acc.loc[acc["account_type"] == "taxable", "account_id"])
    lots = book["tax_lots"][book["tax_lots"]["account_id"].isin(taxable)]
    held = book["holdings"][book["holdings"]["account_id"].isin(taxable)]
    summed = lots.groupby(["account_id", "symbol"])["quantity"].sum()
    held_q = held.set_index(["account_id", "symbol"])["quantity"]
    if set(summed.index) != set(held_q.index) or not np.allclose(
        summed.reindex(held_q.index).to_numpy(), held_q.to_numpy(), rtol=1e-12
    ):
        problems.append("taxable holdings differ from the sum of their lots")
    return problems
