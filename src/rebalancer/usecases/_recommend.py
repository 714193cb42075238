"""Recommend trades: for the stored book (a run, written to the lake) or a posted portfolio.

The engine (:mod:`rebalancer.engine`) is pure; these use cases are its I/O. A stored run is
identified by a deterministic ``run_id`` (a hash of the inputs, the policy and the engine
version) and writes one object ``recommendations/dt=<as_of date>/run-<run_id>.parquet``:
re-running the same inputs replaces that object instead of adding rows.

A sharded book (:mod:`rebalancer.book._shards`) runs shard by shard
(:mod:`rebalancer.usecases._batch`): the same trades and the same ``run_id`` as the whole-book
run, in memory that follows the shard; a single account reads its household's shard objects
alone (:func:`~rebalancer.book._shards.read_household`), no SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from rebalancer.book import BookTables
from rebalancer.book._shards import read_household, sharded_manifest
from rebalancer.engine import (
    CASH,
    CHUNK_SIZE,
    ENGINE_VERSION,
    Policy,
    Recommendation,
    prepare_book,
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
from rebalancer.lake._manifest import BookManifest, book_snapshot
from rebalancer.market._latest import prices_from_latest, read_latest_prices
from rebalancer.market._prices import LOOKBACK_DAYS, book_as_of, load_prices, partitions
from rebalancer.usecases._advice import (
    action_counts,
    advice_rows,
    advise,
    explain_trades,
    feature_bars,
    gated_accounts,
    model_predictor,
    pinned_sleeves,
    with_pins,
)
from rebalancer.usecases._batch import (
    RunContext,
    ShardProgress,
    run_shards,
    save_context,
    sharded_symbols,
)
from rebalancer.usecases._digest import run_id_for

if TYPE_CHECKING:
    from rebalancer.model._predict import Predictor

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
    #: A sharded run that did not collect its trades: the summary's counts and sums.
    totals: dict[str, float | int] | None = None
    #: The model that advised the run (``Policy.model`` advise or gate), else None.
    model_version: str | None = None
    #: Sleeves the model scored per action, and how many the gate pinned (empty: no model).
    model_counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """The recommendation summary plus the run identity."""
        if self.totals is None:
            counts = self.recommendation.summary()
        else:
            t, value = self.totals, float(self.totals["value"])
            counts = {
                "accounts": int(t["accounts"]), "accounts_traded": int(t["traded"]),
                "trades": int(t["trades"]), "rejected": int(t["rejected"]),
                "turnover_usd": float(t["turnover"]),
                "turnover_pct": 100.0 * float(t["turnover"]) / value if value > 0 else 0.0,
            }  # fmt: skip
        return {"run_id": self.run_id, "as_of": self.as_of.isoformat(), **counts}


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


def recommendation_rows(
    rec: Recommendation, run_id: str, as_of: pd.Timestamp, policy: Policy, model_version: str | None
) -> pd.DataFrame:
    """The trades as rows of the ``recommendations`` table (columns from its schema); the
    model's action, confidence and reasons for each traded sleeve when a model advised."""
    rows = advice_rows(rec.trades, rec.advice)
    run = {"run_id": run_id, "as_of": as_of, "engine_version": ENGINE_VERSION,
           "model_version": model_version, "policy": policy.to_json()}  # fmt: skip
    # One frame of the columns' arrays and the run's scalars: what assigning the scalars,
    # selecting the columns and resetting the index gives, at a third of the fixed cost.
    return pd.DataFrame(
        {c: rows[c].array if c in rows.columns else run[c] for c in RECOMMENDATION_COLUMNS},
        index=pd.RangeIndex(len(rows)),
    )


def book_symbols(book: BookTables) -> set[str]:
    """Every symbol the book holds or targets (what must have a price; not ``CASH``)."""
    models = book.model_portfolios
    # Plain lists (a household's few rows cost less than a pandas filter); a missing model id
    # matches a missing one, as ``isin`` matches them.
    ids = book.accounts["model_id"].astype(str).tolist()
    wanted = {m for m in ids if not pd.isna(m)}
    any_missing = len(wanted) < len(set(ids))
    used = (
        s
        for m, s in zip(
            models["model_id"].astype(str).tolist(), models["symbol"].tolist(), strict=True
        )
        if (m in wanted if not pd.isna(m) else any_missing) and not pd.isna(s)
    )
    # The model's CASH sleeve is the account's cash: it has no price to look up.
    return ({str(s) for s in book.holdings["symbol"].dropna()} | {str(s) for s in used}) - {CASH}


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
    stream: bool | None = None,
    collect: bool = True,
    progress: ShardProgress | None = None,
    workers: int | None = None,
) -> RunResult:
    """Recommend trades for the stored book (``account_id=None``) or one account of it.

    The default ``as_of`` is the last time every symbol the book holds or targets has a
    close (:func:`~rebalancer.market._prices.book_as_of`). Batch runs skip invalid accounts and
    report them in ``recommendation.rejected`` (and in ``warnings`` when one cause skips more
    than 1%); ``strict=True`` fails the run instead. A single-account run raises
    :class:`InvalidAccountError`. With ``write`` the trades go to ``recommendations``.

    A batch over a sharded book streams shard by shard (``stream=None``: when sharded;
    ``False``: read the whole book at once); ``collect=False`` then keeps only the totals
    (``RunResult.totals``; ``recommendation`` holds the rejected accounts alone), so memory
    follows the shard. ``progress(done, shards)`` is called after each shard. ``workers``:
    processes that stage shards of a local lake (None: one per core, at most
    :data:`~rebalancer.usecases._batch.MAX_DEFAULT_WORKERS`, for a book of at least
    :data:`~rebalancer.usecases._batch.MIN_WORKER_ACCOUNTS`; the run is the same for any).
    """
    policy = policy or Policy()
    when = parse_as_of(as_of)
    if when is None and read_latest_prices(lake) is None and not partitions(lake):
        raise MarketDataError("market_prices is empty: ingest or backfill prices first")
    predictor = model_predictor(lake, policy)  # before any work: no model is a ModelError
    model_version = _model_version(predictor, model_version)
    if account_id is None and stream is not False:
        blobs = getattr(lake, "blobs", None)
        if blobs is not None:
            with book_snapshot(blobs):
                manifest = sharded_manifest(lake)
                if manifest is not None:
                    return _run_sharded(
                        lake, manifest, when, policy, model_version, write=write,
                        strict=strict, chunk_size=chunk_size, collect=collect, progress=progress,
                        workers=workers,
                    )  # fmt: skip
        if stream:
            raise ConfigError("stream=True needs a sharded book (see `rebalancer generate`)")
    book = (
        BookTables.from_lake(lake)
        if account_id is None
        else read_household(lake, account_id)  # its shard's objects when the book is sharded
    )
    if book.accounts.empty:
        raise NotFoundError("the accounts table is empty: run `rebalancer generate` first")
    # One account: the latest-prices object (cached per process) when it can answer, no query.
    cached = None if account_id is None else _prices_from_latest(lake, book_symbols(book), when)
    if cached is not None:
        when, prices = cached
    else:
        when = when or book_as_of(lake, book_symbols(book))
        prices = load_prices(lake, when)
    if prices.empty:
        raise MarketDataError(
            f"no prices closed in the {LOOKBACK_DAYS} days before {when.isoformat()}"
        )
    scope_book = book if account_id is None else book.household_of(account_id)
    prepared = prepare_book(scope_book, prices, policy, as_of=when)
    gated = gated_accounts(scope_book, prepared, policy, chunk_size=chunk_size)
    # A whole book scores the accounts a gate acts on and explains only its traded sleeves
    # (below); one account, its household's every sleeve, with reasons.
    scored = scope_book if gated is None or account_id is not None else book.select(gated)
    advice = (
        None
        if predictor is None
        else advise(
            scored, feature_bars(lake, when), when, policy, predictor,
            reasons=account_id is not None,
        )
    )  # fmt: skip
    pinned = pinned_sleeves(advice, policy, gated)
    if account_id is None:
        rec = recommend_book(
            book, prices, policy, as_of=when, chunk_size=chunk_size, pinned=pinned,
            prepared=prepared,
        )  # fmt: skip
        advice = explain_trades(advice, rec.trades, predictor)
    else:
        rec = recommend_account(
            scope_book, prices, policy, account_id=account_id, as_of=when, pinned=pinned,
            prepared=prepared,
        )  # fmt: skip
        if advice is not None:
            advice = advice[advice["account_id"] == str(account_id)].reset_index(drop=True)
    if advice is not None:
        rec = replace(rec, advice=with_pins(advice, policy, gated), model_version=model_version)
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
        model_version=model_version, model_counts=action_counts(advice, policy, gated),
    )  # fmt: skip


#: Per lake: the latest-prices frame last answered from and its answers, by (as-of, and the
#: symbols when the as-of is derived from them). Keyed on the frame object itself, which
#: :func:`read_latest_prices` replaces whenever it re-reads or a write refreshes it.
_latest_answers: dict[
    str, tuple[pd.DataFrame, dict[object, tuple[pd.Timestamp, pd.Series] | None]]
] = {}


def _prices_from_latest(
    lake: Lake, symbols: set[str], when: pd.Timestamp | None
) -> tuple[pd.Timestamp, pd.Series] | None:
    """:func:`prices_from_latest`, answered once per latest-prices object (the API asks the
    same question for every account)."""
    latest = read_latest_prices(lake)
    blobs = getattr(lake, "blobs", None)
    if latest is None or blobs is None:
        return prices_from_latest(lake, symbols, when)
    uri = blobs.uri("")
    memo = _latest_answers.get(uri)
    if memo is None or memo[0] is not latest:
        memo = (latest, {})
        _latest_answers[uri] = memo
    key = (when, None if when is not None else frozenset(symbols))
    if key not in memo[1]:
        if len(memo[1]) > 256:
            memo[1].clear()
        memo[1][key] = prices_from_latest(lake, symbols, when)
    answer = memo[1][key]
    if answer is None:
        return None
    as_of, prices = answer  # the caller may change its prices: a copy each time
    return as_of, prices.copy()


def _model_version(predictor: Predictor | None, asked: str | None) -> str | None:
    """The run's model version: the predictor's when a model advises (an explicit ``asked``
    version must be that one), else whatever the caller recorded."""
    if predictor is None:
        return asked
    if asked is not None and asked != predictor.version:
        raise ConfigError(
            f"model_version {asked} is not the model that would advise ({predictor.version})"
        )
    return predictor.version


def _sharded_context(
    lake: Lake,
    manifest: BookManifest,
    when: pd.Timestamp | None,
    policy: Policy,
    model_version: str | None,
    chunk_size: int = CHUNK_SIZE,
) -> RunContext:
    """A sharded run's shared inputs: the as-of (default: the book's) and the prices."""
    when = when or book_as_of(lake, sharded_symbols(lake, manifest))
    prices = load_prices(lake, when)
    if prices.empty:
        raise MarketDataError(
            f"no prices closed in the {LOOKBACK_DAYS} days before {when.isoformat()}"
        )
    if manifest.accounts == 0:
        raise NotFoundError("the accounts table is empty: run `rebalancer generate` first")
    return RunContext(manifest, prices, when, policy, model_version, chunk_size)


def plan_sharded_run(
    lake: Lake,
    *,
    as_of: str | datetime | pd.Timestamp | None = None,
    policy: Policy | None = None,
    model_version: str | None = None,
) -> RunContext:
    """The first step of a distributed run: fix the book version, as-of and prices once and
    save them under the run (:func:`~rebalancer.usecases._batch.save_context`), so each shard
    worker loads them without a query. Raises :class:`ConfigError` for an unsharded book."""
    when = parse_as_of(as_of)
    blobs = getattr(lake, "blobs", None)
    if blobs is None:
        raise ConfigError("a distributed run needs a lake with an object store")
    with book_snapshot(blobs):
        manifest = sharded_manifest(lake)
        if manifest is None:
            raise ConfigError("the published book is not sharded: nothing to distribute")
        policy = policy or Policy()
        model_version = _model_version(model_predictor(lake, policy), model_version)
        ctx = _sharded_context(lake, manifest, when, policy, model_version)
    save_context(lake, ctx)
    return ctx


def _run_sharded(
    lake: Lake,
    manifest: BookManifest,
    when: pd.Timestamp | None,
    policy: Policy,
    model_version: str | None,
    *,
    write: bool,
    strict: bool,
    chunk_size: int,
    collect: bool,
    progress: ShardProgress | None,
    workers: int | None = None,
) -> RunResult:
    """The batch over a sharded book (:mod:`rebalancer.usecases._batch`)."""
    ctx = _sharded_context(lake, manifest, when, policy, model_version, chunk_size)
    when = ctx.as_of
    done = run_shards(
        lake, ctx, write=write, strict=strict, collect=collect, progress=progress,
        workers=workers,
    )  # fmt: skip
    model_counts = done.model_counts
    trades = done.trades if done.trades is not None else pd.DataFrame()
    rec = Recommendation(
        trades=trades.drop(columns=["run_id"], errors="ignore"), accounts=done.accounts,
        rejected=done.rejected, as_of=when,
    )  # fmt: skip
    rows = trades[RECOMMENDATION_COLUMNS] if len(trades) else trades
    return RunResult(
        run_id=done.run_id, as_of=when, recommendation=rec, rows=rows, keys=done.keys,
        warnings=skip_warnings(rec, int(done.totals["accounts"])),
        totals=None if collect else done.totals,
        model_version=ctx.model_version, model_counts=model_counts,
    )  # fmt: skip


def resolve_prices(
    book: BookTables,
    lake: Lake | None,
    *,
    prices: pd.Series | None = None,
    as_of: str | datetime | pd.Timestamp | None = None,
) -> tuple[pd.Series, pd.Timestamp]:
    """``(prices, as_of)`` for a posted portfolio: the given prices, the rest from the lake as
    of ``as_of`` (default: the last time every missing symbol has a close). A holding's price
    is known before the trades (an answer shows it), and :func:`recommend_portfolio` uses the
    same rule."""
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
    return given, when


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
    given, when = resolve_prices(book, lake, prices=prices, as_of=as_of)
    policy = policy or Policy()
    if policy.model == "off":
        return recommend_book(book, given, policy, as_of=when)
    if lake is None:
        raise ConfigError(f"policy model={policy.model} needs the lake (its model and prices)")
    predictor = model_predictor(lake, policy)
    assert predictor is not None
    advice = advise(book, feature_bars(lake, when), when, policy, predictor)
    prepared = prepare_book(book, given, policy, as_of=when)
    gated = gated_accounts(book, prepared, policy)
    rec = recommend_book(
        book, given, policy, as_of=when, pinned=pinned_sleeves(advice, policy, gated),
        prepared=prepared,
    )  # fmt: skip
    return replace(rec, advice=with_pins(advice, policy, gated), model_version=predictor.version)
