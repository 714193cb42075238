"""Recommend trades: for the stored book (a run, written to the lake) or a posted portfolio.

The engine (:mod:`rebalancer.engine`) is pure; these use cases are its I/O. A stored run is
identified by a deterministic ``run_id`` (a hash of the inputs, the policy and the engine
version) and writes one object ``recommendations/dt=<as_of date>/run-<run_id>.parquet``:
re-running the same inputs replaces that object instead of adding rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from rebalancer.book import BookTables
from rebalancer.engine import (
    CHUNK_SIZE,
    ENGINE_VERSION,
    Policy,
    Recommendation,
    recommend_account,
    recommend_book,
)
from rebalancer.errors import (
    ConfigError,
    InvalidAccountError,
    MarketDataError,
    NotFoundError,
    OutOfRangeError,
)
from rebalancer.lake import Lake, get_schema
from rebalancer.market._prices import LOOKBACK_DAYS, book_as_of, load_prices, partitions

#: The ``recommendations`` table's columns, in order, from its schema (one source).
RECOMMENDATION_COLUMNS = [c.name for c in get_schema("recommendations").columns]
#: A run that skips more than this share of accounts for one cause says so prominently.
SKIP_WARN_SHARE = 0.01
#: Times the engine accepts (pandas' nanosecond range, with room for the lookback).
MIN_AS_OF = pd.Timestamp("1900-01-01")
MAX_AS_OF = pd.Timestamp("2200-01-01")
_DETAIL = r"\s+(?:of|for)\s+.*"


@dataclass(frozen=True)
class RunResult:
    """What a recommendation run did, and what a reader should be told about it."""

    run_id: str
    as_of: pd.Timestamp
    recommendation: Recommendation
    rows: pd.DataFrame
    keys: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The recommendation summary plus the run identity."""
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            **self.recommendation.summary(),
        }


def parse_as_of(value: str | datetime | pd.Timestamp | None) -> pd.Timestamp | None:
    """An as-of time as a naive UTC timestamp. A time without a zone is UTC; a bare date means
    midnight UTC. Times outside 1900..2200 are refused (:class:`OutOfRangeError`, a 422)."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(
            f"as_of must be a date or timestamp like 2024-12-31T16:00, got {value!r}"
        ) from None
    if ts is pd.NaT:
        raise ConfigError(f"as_of is not a time: {value!r}")
    ts = ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
    if not MIN_AS_OF <= ts <= MAX_AS_OF:
        raise OutOfRangeError(
            f"as_of {ts.isoformat()} is outside the supported range "
            f"{MIN_AS_OF.date()} .. {MAX_AS_OF.date()}"
        )
    return ts


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
    digest = hashlib.sha256()
    head = {"as_of": as_of.isoformat(), "policy": policy.to_json(), "scope": scope,
            "engine": ENGINE_VERSION, "model": model_version}  # fmt: skip
    digest.update(json.dumps(head, sort_keys=True).encode())
    parts = {
        "trades": rec.trades[["account_id", "symbol", "side", "quantity", "price"]],
        "accounts": rec.accounts[["account_id", "cash_before", "drift_before"]],
        "rejected": rec.rejected,
    }
    for name, frame in parts.items():
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        # Sum of row hashes (mod 2^64): independent of row order.
        digest.update(f"{name}:{len(frame)}:{int(hashed.sum(dtype=np.uint64))}".encode())
    digest.update(prices.sort_index().to_json().encode())
    return digest.hexdigest()[:20]


def recommendation_rows(
    rec: Recommendation, run_id: str, as_of: pd.Timestamp, policy: Policy, model_version: str | None
) -> pd.DataFrame:
    """The trades as rows of the ``recommendations`` table (columns from its schema)."""
    rows = rec.trades.assign(
        run_id=run_id,
        as_of=as_of,
        engine_version=ENGINE_VERSION,
        model_version=model_version,
        policy=policy.to_json(),
    )
    return rows[RECOMMENDATION_COLUMNS].reset_index(drop=True)


def book_symbols(book: BookTables) -> set[str]:
    """Every symbol the book holds or targets (what must have a price)."""
    models = book.model_portfolios
    used = models[models["model_id"].astype(str).isin(book.accounts["model_id"].astype(str))]
    return {str(s) for s in book.holdings["symbol"].dropna()} | {
        str(s) for s in used["symbol"].dropna()
    }


def skip_warnings(rec: Recommendation, total: int) -> list[str]:
    """One prominent line per cause that skipped more than 1% of the accounts, with the fix."""
    if total == 0 or rec.rejected.empty:
        return []
    cause = (
        rec.rejected["reason"].astype(str).str.replace(r"\s+of\s+.*|\s+for\s+.*", "", regex=True)
    )
    out = []
    for reason, count in cause.value_counts().items():
        if count > SKIP_WARN_SHARE * total:
            fix = (
                " (prices missing: backfill them, or pass an --as-of where every symbol has a "
                "close)"
                if "price" in str(reason)
                else ""
            )
            out.append(
                f"{count:,} of {total:,} accounts ({100 * count / total:.1f}%) skipped: "
                f"{reason}{fix}"
            )
    return out


def run_recommendations(
    lake: Lake,
    *,
    as_of: str | datetime | pd.Timestamp | None = None,
    account_id: str | None = None,
    policy: Policy | None = None,
    model_version: str | None = None,
    write: bool = True,
    strict: bool = False,
    chunk_size: int = CHUNK_SIZE,
) -> RunResult:
    """Recommend trades for the stored book (``account_id=None``) or one account of it.

    The default ``as_of`` is the last time every symbol the book holds or targets has a
    close (:func:`~rebalancer.market._prices.book_as_of`). Batch runs skip invalid accounts and
    report them in ``recommendation.rejected`` (and in ``warnings`` when one cause skips more
    than 1%); ``strict=True`` fails the run instead. A single-account run raises
    :class:`InvalidAccountError`. With ``write`` the trades go to ``recommendations``.
    """
    policy = policy or Policy()
    when = parse_as_of(as_of)
    if when is None and not partitions(lake):
        raise MarketDataError("market_prices is empty: ingest or backfill prices first")
    book = BookTables.from_lake(lake, household_of=account_id)
    if book.accounts.empty:
        raise NotFoundError("the accounts table is empty: run `rebalancer generate` first")
    when = when or book_as_of(lake, book_symbols(book))
    prices = load_prices(lake, when)
    if prices.empty:
        raise MarketDataError(
            f"no prices closed in the {LOOKBACK_DAYS} days before {when.isoformat()}"
        )
    if account_id is None:
        rec = recommend_book(book, prices, policy, as_of=when, chunk_size=chunk_size)
    else:
        rec = recommend_account(book, prices, policy, account_id=account_id, as_of=when)
    if len(rec.rejected) and strict:
        first = rec.rejected.iloc[0]
        more = f" (and {len(rec.rejected) - 1} more)" if len(rec.rejected) > 1 else ""
        raise InvalidAccountError(f"account {first['account_id']}: {first['reason']}{more}")
    scope = "all" if account_id is None else f"account:{account_id}"
    run_id = run_id_for(rec, prices, when, policy, scope, model_version)
    rows = recommendation_rows(rec, run_id, when, policy, model_version)
    keys = lake.write("recommendations", rows, name=f"run-{run_id}") if write and len(rows) else []
    return RunResult(
        run_id=run_id, as_of=when, recommendation=rec, rows=rows, keys=keys,
        warnings=skip_warnings(rec, len(book.accounts)) if account_id is None else [],
    )  # fmt: skip


def recommend_portfolio(
    book: BookTables,
    *,
    policy: Policy | None = None,
    prices: pd.Series | None = None,
    as_of: str | datetime | pd.Timestamp | None = None,
    lake: Lake | None = None,
) -> Recommendation:
    """Recommend trades for a posted portfolio (nothing is read from the book, nothing written).

    Prices come from ``prices`` where given, the rest from the lake as of ``as_of`` (default:
    the last time every symbol of the portfolio has a close). Each account of ``book`` is
    rebalanced with its household, exactly as a stored book would be.
    """
    when = parse_as_of(as_of)
    given = prices if prices is not None else pd.Series(dtype=float)
    needed = book_symbols(book) - set(given.index.astype(str))
    if needed:
        if lake is None:
            raise MarketDataError(f"no price given for {', '.join(sorted(needed)[:10])}")
        when = when or book_as_of(lake, needed)
        stored = load_prices(lake, when)
        given = pd.concat([stored[~stored.index.isin(given.index)], given])
    if when is None:
        raise ConfigError("as_of is required when every price is given")
    return recommend_book(book, given, policy, as_of=when)
