"""Same-run household wash sales.

The wash-sale window runs 30 days either side of a loss sale, so it includes the day of the
run itself: if one account of a household sells a security at a loss while another account
of the same household (an IRA included, IRS Rev. Rul. 2008-5) buys it in the same run, the
loss is disallowed. The per-account blocks built from past transactions cannot see that, so
the batch path checks every run's trades household by household and, for each conflicting
``(household, security)``, blocks the *buy* in every account of the household and reruns
those households. The loss sale stands (it is usually the drift trade of an overweight taxable
account); the buying accounts invest elsewhere, flagged ``BLOCKED_WASH_SALE``.

Blocks only grow, each round adds at least one, and an account's trades depend only on its
own household's data and blocks, so the result does not depend on the chunking and the
single-account path gets the same trades by rebalancing the account's household.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd

from rebalancer.engine._arrays import BookArrays, RebalanceResult
from rebalancer.engine._drift import BoolArray
from rebalancer.engine._sizing import _result_rows
from rebalancer.engine._tax import lot_facts


class Piece(NamedTuple):
    """One chunk's result: the book rows it covers, the (trimmed) sub-book and its result."""

    rows: np.ndarray
    chunk: BookArrays
    result: RebalanceResult


def _trade_sides(
    pieces: Iterable[Piece], household_code: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(buy households, buy symbols, loss-sale households, loss-sale symbols)``."""
    buy_h, buy_s, loss_h, loss_s = [], [], [], []
    for piece in pieces:
        chunk, result = piece.chunk, piece.result
        rows_h = household_code[piece.rows]
        r, c = np.nonzero(result.quantity > 0)
        buy_h.append(rows_h[r])
        buy_s.append(chunk.symbol[r, c])
        lots = chunk.lots
        if lots.row.size:
            price = np.where(chunk.valid, chunk.price, 1.0)
            gain, _ = lot_facts(lots, price, chunk.wash_loss_block)
            lost = (result.lot_sold > 0) & (gain < 0) & chunk.taxable[lots.row]
            lr, lc = lots.row[lost], lots.col[lost]
            loss_h.append(rows_h[lr])
            loss_s.append(chunk.symbol[lr, lc])

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    return cat(buy_h, np.int64), cat(buy_s, object), cat(loss_h, np.int64), cat(loss_s, object)


_NO_CONFLICTS = pd.DataFrame({"household": np.zeros(0, np.int64), "symbol": np.zeros(0, object)})
#: Buys checked against loss sales as Python pairs first (a household's handful).
_FEW = 256


def conflicts(pieces: Iterable[Piece], household_code: np.ndarray) -> pd.DataFrame:
    """``(household, symbol)`` pairs bought in one account and sold at a loss in another.

    ``household`` is the code in ``household_code``; empty when the run has none.
    """
    buy_h, buy_s, loss_h, loss_s = _trade_sides(pieces, household_code)
    empty = _NO_CONFLICTS  # shared, only read (most runs have no conflict)
    if loss_h.size == 0 or buy_h.size == 0:
        return empty
    near = np.isin(buy_h, loss_h)  # only households with a loss sale can conflict
    if near.sum() <= _FEW and not _overlap(buy_h[near], buy_s[near], loss_h, loss_s):
        return empty  # a household's few trades: no pair in common, no frames to merge
    buys = pd.DataFrame({"household": buy_h[near], "symbol": buy_s[near]})
    losses = pd.DataFrame({"household": loss_h, "symbol": loss_s})
    both = buys.merge(losses.drop_duplicates(), on=["household", "symbol"])
    return both.drop_duplicates().reset_index(drop=True) if len(both) else empty


def _overlap(buy_h: np.ndarray, buy_s: np.ndarray, loss_h: np.ndarray, loss_s: np.ndarray) -> bool:
    """Whether some ``(household, symbol)`` is both bought and sold at a loss."""
    bought = set(zip(buy_h.tolist(), buy_s.tolist(), strict=True))
    return any(pair in bought for pair in zip(loss_h.tolist(), loss_s.tolist(), strict=True))


def resolve(
    book: BookArrays,
    pieces: list[Piece],
    rerun: Callable[[BookArrays], list[tuple[np.ndarray, BookArrays, RebalanceResult]]],
) -> list[Piece]:
    """Rerun the households of same-run wash sales with their buys blocked, until none is left.

    ``rerun(sub_book)`` rebalances a sub-book and returns ``(sub rows, chunk, result)``
    triples; its rows are mapped back to ``book`` rows here.
    """
    household_code = _household_codes(book.household)
    extra: BoolArray = np.zeros(book.shape, dtype=bool)
    # Only the households just rerun can have a conflict left: the others' trades are final.
    fresh = pieces
    while True:
        found = conflicts(fresh, household_code)
        if found.empty:
            return pieces
        rows = np.flatnonzero(np.isin(household_code, found["household"].to_numpy()))
        # Block each conflicting symbol in every valid slot of its household.
        pair = pd.MultiIndex.from_frame(found)
        r, c = np.nonzero(book.valid[rows])
        slot = pd.MultiIndex.from_arrays([household_code[rows][r], book.symbol[rows][r, c]])
        hit = slot.isin(pair)
        new = np.zeros((rows.size, book.shape[1]), dtype=bool)
        new[r[hit], c[hit]] = True
        if not (new & ~extra[rows]).any():  # cannot happen: a blocked buy is never made
            raise AssertionError("same-run wash-sale guard made no progress")
        extra[rows] |= new
        sub = book.rows(rows)
        sub = dataclasses.replace(sub, wash_buy_block=sub.wash_buy_block | extra[rows])
        fresh = [Piece(rows[i], chunk, result) for i, chunk, result in rerun(sub)]
        pieces = [p for p in (_without(piece, rows) for piece in pieces) if p is not None]
        pieces += fresh


def _household_codes(household: np.ndarray) -> np.ndarray:
    """An integer per household; an account without one is a household of its own."""
    codes = pd.factorize(household)[0].astype(np.int64)
    missing = np.flatnonzero(codes < 0)
    codes[missing] = codes.max(initial=-1) + 1 + np.arange(missing.size)
    return codes


def _without(piece: Piece, rows: np.ndarray) -> Piece | None:
    """``piece`` minus the given book rows (None when nothing is left)."""
    keep = ~np.isin(piece.rows, rows)
    if keep.all():
        return piece
    if not keep.any():
        return None
    local = np.flatnonzero(keep)
    return Piece(
        piece.rows[local],
        piece.chunk.rows(local),
        _result_rows(piece.result, piece.chunk, local),
    )
