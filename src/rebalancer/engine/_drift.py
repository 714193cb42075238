"""Weights and drift on dense (accounts x slots) arrays.

Row sums never depend on how much zero padding a row carries (see :func:`rowsum`), so the batch
path (wide chunks) and the single-account path (one narrow row) give bit-identical numbers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


#: Slot widths are padded to a multiple of this; up to ``FAST_WIDTH`` numpy's row sum is
#: then padding-invariant (see :func:`rowsum`).
WIDTH_QUANTUM = 8
FAST_WIDTH = 128


def padded_width(k: int) -> int:
    """The slot width a book of ``k`` slots is laid out with (a multiple of 8)."""
    return -(-k // WIDTH_QUANTUM) * WIDTH_QUANTUM


def rowsum(values: npt.NDArray[np.floating] | BoolArray) -> Array:
    """Sum over the slot axis, identical whatever zero padding a row carries.

    numpy sums a contiguous row of ``8m <= 128`` doubles with 8 interleaved accumulators
    (element ``i`` into accumulator ``i % 8``), so trailing zero blocks add exact zeros and the
    result does not depend on the padded width: the fast path. Other widths use a sequential
    cumulative sum (slower, equally padding-invariant). Books from ``build_book`` always have
    widths that are multiples of 8; ``rebalance_batch`` keeps accounts wider than 128 slots in
    chunks of their own so both paths use the same summation for every account.
    """
    arr = np.asarray(values, dtype=np.float64)
    k = arr.shape[1]
    if k == 0:
        return np.zeros(arr.shape[0])
    if k % WIDTH_QUANTUM == 0 and k <= FAST_WIDTH:
        out: Array = np.ascontiguousarray(arr).sum(axis=1)
        return out
    return np.cumsum(arr, axis=1)[:, -1]


def weights(position_value: Array, cash: Array) -> tuple[Array, Array, Array]:
    """``(w, w_cash, account_value)``; weights are 0 where the account value is not positive."""
    value = rowsum(position_value) + cash
    safe = np.where(value > 0, value, 1.0)
    w = np.where(value[:, None] > 0, position_value / safe[:, None], 0.0)
    w_cash = np.where(value > 0, cash / safe, 0.0)
    return w, w_cash, value


def total_drift(w: Array, target: Array, w_cash: Array, cash_target: Array) -> Array:
    """Total drift per account: ``(sum |w - target| + |w_cash - cash_target|) / 2``.

    With weights and targets each summing to 1 this equals the share of the account that would
    have to change hands to be exactly on target (Betterment's measure).
    """
    return (rowsum(np.abs(w - target)) + np.abs(w_cash - cash_target)) / 2.0
