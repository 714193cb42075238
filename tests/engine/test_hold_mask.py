"""``hold_mask``: the gate's pins, ``(account_id, symbol)`` rows, as the engine's slot mask."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.engine._recommend import hold_mask
from tests.engine.books import random_arrays


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), share=st.sampled_from([0.0, 0.1, 0.6]))
def test_each_pin_marks_its_own_valid_slot_and_nothing_else(seed: int, share: float) -> None:
    rng = np.random.default_rng(seed)
    book = random_arrays(rng, 30, 8)
    n, k = book.shape
    wanted = book.valid & (rng.random((n, k)) < share)
    rows, cols = np.nonzero(wanted)
    pins = pd.DataFrame(
        {"account_id": book.account_id[rows], "symbol": book.symbol[rows, cols]}
    ).astype("str")
    # pins the book cannot place: an unknown account, an unknown symbol, an empty
    # (padding) symbol, a symbol another account holds; and a duplicate pin
    strays = pd.DataFrame(
        {
            "account_id": ["NOPE", book.account_id[0], book.account_id[0], book.account_id[1]],
            "symbol": [str(book.symbol[0, 0]), "NOT-HELD", "", "S7"],
        }
    )
    given_pins = pd.concat([pins, strays, pins.head(2)], ignore_index=True)
    expect = wanted.copy()
    held = {(a, s) for a, s in zip(given_pins["account_id"], given_pins["symbol"], strict=True)}
    for i in range(n):
        for j in range(k):
            expect[i, j] = book.valid[i, j] and (book.account_id[i], book.symbol[i, j]) in held
    np.testing.assert_array_equal(hold_mask(book, given_pins), expect)


def test_no_pins_hold_nothing() -> None:
    book = random_arrays(np.random.default_rng(1), 5, 4)
    empty = pd.DataFrame({"account_id": [], "symbol": []}, dtype="str")
    assert not hold_mask(book, empty).any()
    assert hold_mask(book, empty).shape == book.shape
