"""Batch and single-account recommendation: tables in, trade and account frames out."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rebalancer._arrow import codes
from rebalancer.book._tables import BookTables
from rebalancer.engine._arrays import (
    BLOCKED_RESTRICTED,
    BLOCKED_WASH_SALE,
    CASH_SHORT,
    NO_IMPROVEMENT,
    SHORTFALL,
    SKIPPED_COST,
    TRIGGERED,
    BookArrays,
    RebalanceResult,
    reason_codes,
)
from rebalancer.engine._book import Book, build_book
from rebalancer.engine._drift import FAST_WIDTH, padded_width
from rebalancer.engine._household import Piece, resolve
from rebalancer.engine._policy import Policy
from rebalancer.engine._sizing import rebalance, rules_act
from rebalancer.errors import InvalidAccountError

#: Bumped whenever the engine can produce different trades for the same input.
ENGINE_VERSION = "1.2.0"

#: Accounts per vectorized step. Small enough that a chunk's (accounts x slots) float arrays
#: stay in the CPU cache (4,096 x 24 doubles is 768 KiB): on the benchmark book this sizes
#: accounts about 1.5x faster than chunks of 16,384, with the same trades (results do not
#: depend on the chunking).
CHUNK_SIZE = 4_096

_REASONS = np.array([reason_codes(i) for i in range(128)], dtype=object)
_STATUS_NAMES = {
    TRIGGERED: "TRIGGERED",
    CASH_SHORT: "CASH_SHORT",
    SHORTFALL: "WITHDRAWAL_SHORTFALL",
    NO_IMPROVEMENT: "NO_IMPROVEMENT",
    SKIPPED_COST: "SKIPPED_SMALL_OR_COSTLY",
    BLOCKED_RESTRICTED: "BLOCKED_RESTRICTED",
    BLOCKED_WASH_SALE: "BLOCKED_WASH_SALE",
}
_STATUS = np.array([reason_codes(i, _STATUS_NAMES) for i in range(128)], dtype=object)

TRADE_COLUMNS = [
    "account_id", "symbol", "side", "quantity", "price", "value", "est_tax", "realized_gain",
    "cost", "reason", "lots", "target_weight", "post_weight", "drift_before", "drift_after",
]  # fmt: skip
ACCOUNT_COLUMNS = [
    "account_id", "status", "trades", "account_value", "cash_before", "cash_after",
    "drift_before", "drift_after", "turnover",
]  # fmt: skip


@dataclass(frozen=True)
class Recommendation:
    """Trades (one row per trade), a summary per account, the rejected accounts, and the time
    the prices were taken (what :func:`~rebalancer.engine.execute` fills at).

    ``advice``: the advisor-action model's per-sleeve advice when a model was used
    (``Policy.model`` advise or gate; the use-case layer fills it), with its ``model_version``.
    """

    trades: pd.DataFrame
    accounts: pd.DataFrame
    rejected: pd.DataFrame
    as_of: pd.Timestamp | None = None
    advice: pd.DataFrame | None = None
    model_version: str | None = None

    def summary(self) -> dict[str, Any]:
        """Counts for a one-line report."""
        turnover = float(self.trades["value"].sum()) if len(self.trades) else 0.0
        total = float(self.accounts["account_value"].clip(lower=0).sum())
        return {
            "accounts": len(self.accounts),
            "accounts_traded": int((self.accounts["trades"] > 0).sum()),
            "trades": len(self.trades),
            "rejected": len(self.rejected),
            "turnover_usd": turnover,
            "turnover_pct": 100.0 * turnover / total if total > 0 else 0.0,
        }


def trades_frame(
    book: BookArrays, result: RebalanceResult, *, strings: bool = False
) -> pd.DataFrame:
    """One row per trade (``quantity`` and ``value`` positive, ``side`` BUY or SELL); with
    ``strings`` the identifier and reason columns are strings (``str``), not objects."""
    r, c = np.nonzero(result.quantity)
    signed = result.quantity[r, c]
    k = book.shape[1]
    lots = book.lots
    sold = result.lot_sold
    taken = sold > 0
    lots_col = np.full(r.size, "", dtype=object)
    if taken.any():
        # 'lot:units;lot:units' per traded slot: one string concatenation per group (reduceat
        # over object arrays), not a Python groupby.
        key = (lots.row * k + lots.col)[taken]
        order = np.argsort(key, kind="stable")
        key = key[order]
        units = np.round(sold[taken][order], 6).astype(str).astype(object)
        text = lots.lot_id[taken][order].astype(object) + ":" + units + ";"
        starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
        joined = np.add.reduceat(text, starts)
        slot_key = r * k + c
        where = np.searchsorted(key[starts], slot_key)
        found = (where < starts.size) & (
            key[starts][np.minimum(where, starts.size - 1)] == slot_key
        )
        lots_col[found] = [t[:-1] for t in joined[where[found]]]
    as_text = _text if strings else _same
    return pd.DataFrame(
        {
            "account_id": as_text(book.account_id[r]),
            "symbol": as_text(book.symbol[r, c]),
            "side": as_text(np.where(signed > 0, "BUY", "SELL").astype(object)),
            "quantity": np.abs(signed),
            "price": book.price[r, c],
            "value": np.abs(result.value[r, c]),
            "est_tax": result.est_tax[r, c],
            "realized_gain": result.realized_gain[r, c],
            "cost": result.cost[r, c],
            "reason": as_text(_REASONS[result.reason[r, c].astype(np.int64) & 127]),
            "lots": as_text(lots_col),
            "target_weight": result.target_weight[r, c],
            "post_weight": result.post_weight[r, c],
            "drift_before": result.drift_before[r],
            "drift_after": result.drift_after[r],
        },
        columns=TRADE_COLUMNS,
    )


def accounts_frame(
    book: BookArrays, result: RebalanceResult, *, strings: bool = False
) -> pd.DataFrame:
    """One row per account: status codes, cash and drift before and after, turnover (``strings``:
    the id and status as strings, as in :func:`trades_frame`)."""
    value = result.account_value
    traded = np.abs(result.value).sum(axis=1)
    as_text = _text if strings else _same
    return pd.DataFrame(
        {
            "account_id": as_text(book.account_id),
            "status": as_text(_STATUS[result.status.astype(np.int64) & 127]),
            "trades": (result.quantity != 0).sum(axis=1),
            "account_value": value,
            "cash_before": result.cash_before,
            "cash_after": result.cash_after,
            "drift_before": result.drift_before,
            "drift_after": result.drift_after,
            "turnover": np.divide(traded, value, out=np.zeros_like(value), where=value > 0),
        },
        columns=ACCOUNT_COLUMNS,
    )


def _text(values: np.ndarray) -> Any:
    """Object strings as a ``str`` array: what ``Series.astype("str")`` gives them."""
    return pd.array(values, dtype="str")


def _same(values: np.ndarray) -> np.ndarray:
    return values


def book_chunks(
    book: BookArrays, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[np.ndarray, BookArrays]]:
    """``(account rows, sub-book)`` chunks of ``book`` as the batch path sizes them.

    Accounts are grouped by their padded slot width (stable within a width) and each chunk is
    trimmed to its widest account, so a book of mostly 12-sleeve accounts computes on 16-wide
    arrays rather than on the width of its widest account. Results do not depend on the
    grouping (row sums are padding-invariant), and accounts wider than the fast row-sum width
    land in chunks of their own kind, summed as on their own.
    """
    n = book.shape[0]
    used = np.where(book.valid, np.arange(book.shape[1]) + 1, 0).max(axis=1, initial=0)
    padded = padded_width_of(used)
    order = np.argsort(padded, kind="stable").astype(np.int64)
    # One chunk as it is: already in width order, small enough, and no account wider than
    # the fast row-sum width (those are summed differently, so never share a chunk).
    one = n <= chunk_size and not bool((padded > FAST_WIDTH).any())
    if n and one and bool((order == np.arange(n)).all()):
        yield order, _trim(book)
        return
    widths = padded[order]
    for start in range(0, n, chunk_size):
        index = order[start : start + chunk_size]
        width = widths[start : start + chunk_size]
        # A chunk never mixes fast-width and wide accounts (their row sums differ).
        wide = width > FAST_WIDTH
        for part, part_width in ((index[~wide], width[~wide]), (index[wide], width[wide])):
            if part.size:  # rows and trimmed columns in one gather (widths are sorted)
                yield part, book.rows(part, int(part_width[-1]))


def rebalance_batch(
    book: BookArrays, policy: Policy, *, chunk_size: int = CHUNK_SIZE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebalance every account, ``chunk_size`` accounts per vectorized step (bounds memory).

    Chunks come from :func:`book_chunks`; households whose accounts would buy what another
    sells at a loss in the same run are rerun with that buy blocked (see ``_household``). Any
    ``chunk_size`` gives the same trades, returned in book order.
    """

    def run(sub: BookArrays) -> list[tuple[np.ndarray, BookArrays, RebalanceResult]]:
        return [
            (index, chunk, rebalance(chunk, policy))
            for index, chunk in book_chunks(sub, chunk_size)
        ]

    pieces = resolve(book, [Piece(*triple) for triple in run(book)], run)
    if not pieces:
        pieces = [Piece(np.arange(0), _trim(book), rebalance(_trim(book), policy))]
    trade_frame = _stacked([trades_frame(p.chunk, p.result, strings=True) for p in pieces])
    account_frame = _stacked([accounts_frame(p.chunk, p.result, strings=True) for p in pieces])
    order = np.concatenate([p.rows for p in pieces])
    if order.size and not bool((order == np.arange(order.size)).all()):
        # Back to book order: accounts by their row, trades by their account's row (stable,
        # so each account keeps its slot order).
        account_frame = account_frame.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
        account_row = pd.Series(np.arange(order.size), index=book.account_id)
        trade_rows = account_row.reindex(trade_frame["account_id"].to_numpy()).to_numpy()
        trade_frame = trade_frame.iloc[np.argsort(trade_rows, kind="stable")].reset_index(drop=True)
    return trade_frame, account_frame


def _stacked(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(frames, ignore_index=True)``; one frame (a household) is already that."""
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def padded_width_of(widths: np.ndarray) -> np.ndarray:
    """:func:`padded_width` of an array of widths."""
    return -(-widths // 8) * 8


def _trim(book: BookArrays) -> BookArrays:
    """Drop trailing all-padding slot columns (a narrow chunk computes on narrow arrays)."""
    if book.shape[0] == 0:
        return book
    used = np.flatnonzero(book.valid.any(axis=0))
    width = padded_width(int(used[-1]) + 1) if used.size else 0
    if width >= book.shape[1]:
        return book
    values: dict[str, Any] = {
        name: (arr[:, :width] if isinstance(arr, np.ndarray) and arr.ndim == 2 else arr)
        for name, arr in vars(book).items()
    }
    return BookArrays(**values)


def hold_mask(book: BookArrays, pinned: pd.DataFrame) -> np.ndarray:
    """Per slot: whether ``(account_id, symbol)`` is in ``pinned`` (valid slots only).

    Ids are matched through Arrow hashing (:func:`~rebalancer._arrow.codes`) and each pin
    against its own account's row of symbol codes: a shard's ~80k pins cost ~0.04 s, not
    ~0.15 s."""
    n, k = book.shape
    hold = np.zeros((n, k), dtype=bool)
    if n == 0 or k == 0 or pinned.empty:
        return hold
    row = codes(pinned["account_id"], book.account_id)
    slot_code, symbols = pd.factorize(book.symbol.ravel())
    code = codes(pinned["symbol"], symbols)
    keep = (row >= 0) & (code >= 0)
    row, code = row[keep], code[keep]
    hit = (slot_code.reshape(n, k)[row] == code[:, None]) & book.valid[row]
    pin, col = np.nonzero(hit)
    hold[row[pin], col] = True
    return hold


def prepare_book(
    book: BookTables,
    prices: Mapping[str, float] | pd.Series,
    policy: Policy | None = None,
    *,
    as_of: pd.Timestamp | str,
) -> Book:
    """The engine's validated arrays of ``book`` and its rejected accounts: what
    :func:`recommend_book` rebalances, built once when a caller first asks
    :func:`acting_accounts` (the model's gate scores only those)."""
    return build_book(
        book.accounts, book.model_portfolios, book.holdings, prices, as_of=as_of,
        securities=book.securities, tax_lots=book.tax_lots, restrictions=book.restrictions,
        transactions=book.transactions, policy=policy or Policy(),
    )  # fmt: skip


def acting_accounts(
    prepared: Book, policy: Policy | None = None, *, chunk_size: int = CHUNK_SIZE
) -> list[str]:
    """Ids of the accounts this run's own rules act on (a rule fires or cash is short, see
    :func:`~rebalancer.engine._sizing.rules_act`): the only accounts whose pins count, so the
    only ones a gate needs the model's advice on. The rest trade nothing."""
    policy = policy or Policy()
    arrays = prepared.arrays
    acts = np.zeros(arrays.shape[0], dtype=bool)
    for rows, chunk in book_chunks(arrays, chunk_size):
        acts[rows] = rules_act(chunk, policy)
    return [str(a) for a in arrays.account_id[acts]]


def recommend_book(
    book: BookTables,
    prices: Mapping[str, float] | pd.Series,
    policy: Policy | None = None,
    *,
    as_of: pd.Timestamp | str,
    chunk_size: int = CHUNK_SIZE,
    pinned: pd.DataFrame | None = None,
    prepared: Book | None = None,
) -> Recommendation:
    """Batch path: validate the book, skip and report invalid accounts, rebalance the rest.

    One bad account never fails the run: it is listed in ``rejected`` with its reason.
    ``pinned`` (``account_id``, ``symbol`` rows; the model's gate) holds those sleeves for
    this run: no trade but a sale a cash shortfall forces (see ``BookArrays.hold``), and only
    in :func:`acting_accounts`. ``prepared``: :func:`prepare_book` of the same ``book``,
    ``prices``, ``policy`` and ``as_of``, if the caller built it already.
    """
    policy = policy or Policy()
    built = prepared or prepare_book(book, prices, policy, as_of=as_of)
    arrays = built.arrays
    if pinned is not None:
        arrays = dataclasses.replace(arrays, hold=hold_mask(arrays, pinned))
    trades, summary = rebalance_batch(arrays, policy, chunk_size=chunk_size)
    when = pd.Timestamp(as_of)
    when = when.tz_convert("UTC").tz_localize(None) if when.tzinfo is not None else when
    return Recommendation(trades=trades, accounts=summary, rejected=built.rejected, as_of=when)


def recommend_account(
    book: BookTables,
    prices: Mapping[str, float] | pd.Series,
    policy: Policy | None = None,
    *,
    account_id: str,
    as_of: pd.Timestamp | str,
    pinned: pd.DataFrame | None = None,
    prepared: Book | None = None,
) -> Recommendation:
    """Single-account path (for the API): the batch path on the account's household.

    ``book`` holds at least the account's household (:meth:`BookTables.from_lake` with
    ``household_of=`` reads just that): one account's trades depend on its siblings' through the
    same-run wash-sale guard, so the trades equal the batch run's exactly. The household's
    ``transactions`` set the wash-sale window. Raises :class:`InvalidAccountError` naming the
    account if its data cannot be rebalanced, :class:`NotFoundError` if it is not in the book;
    a sibling's bad data only leaves that sibling out, as in a batch run, and is listed in
    ``rejected`` (the guard could not see its trades). ``prepared``: :func:`prepare_book` of
    that household, if the caller built it already.
    """
    account_id = str(account_id)
    rec = recommend_book(
        book.household_of(account_id), prices, policy, as_of=as_of, pinned=pinned,
        prepared=prepared,
    )  # fmt: skip
    if len(rec.rejected):
        mine = rec.rejected[rec.rejected["account_id"].astype(str) == account_id]
        if len(mine):
            raise InvalidAccountError(f"account {account_id}: {mine.iloc[0]['reason']}")

    def only(frame: pd.DataFrame) -> pd.DataFrame:
        ours = frame["account_id"].to_numpy() == account_id
        if ours.all():  # an account alone in its household: every row (a fresh frame) is its
            return frame
        return frame[ours].reset_index(drop=True)

    return Recommendation(
        trades=only(rec.trades), accounts=only(rec.accounts), rejected=rec.rejected,
        as_of=rec.as_of,
    )  # fmt: skip
