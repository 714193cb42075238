"""Weights and drift on dense (accounts x slots) arrays.

Row sums use a sequential cumulative sum, not numpy's pairwise sum, so padding a row with zero
slots never changes a result in the last bit: the batch path (wide chunks) and the single-account
path (one narrow row) give bit-identical numbers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def rowsum(values: npt.NDArray[np.floating] | BoolArray) -> Array:
    """Sum over the slot axis, in slot order (padding-invariant)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape[1] == 0:
        return np.zeros(arr.shape[0])
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
