"""``trades_frame`` / ``accounts_frame`` with ``strings=True`` are the object frames cast to
``str`` column by column: the batch's frames, built without a cast afterwards."""

from __future__ import annotations

import pandas as pd

from rebalancer.engine import Policy, build_book, rebalance, trades_frame
from rebalancer.engine._recommend import accounts_frame
from tests.engine.generated import AS_OF, generated_book


def test_string_frames_equal_the_cast_object_frames() -> None:
    t = generated_book(200, seed=11)
    built = build_book(
        t["accounts"], t["model_portfolios"], t["holdings"], t["prices"], as_of=AS_OF,
        securities=t["securities"], tax_lots=t["tax_lots"], restrictions=t["restrictions"],
        transactions=t["transactions"], policy=Policy(),
    )  # fmt: skip
    result = rebalance(built.arrays, Policy())
    trades = trades_frame(built.arrays, result)
    assert len(trades) > 0 and (trades["lots"] != "").any()
    cast = trades.astype(dict.fromkeys(["account_id", "symbol", "side", "reason", "lots"], "str"))
    pd.testing.assert_frame_equal(trades_frame(built.arrays, result, strings=True), cast)
    accounts = accounts_frame(built.arrays, result)
    pd.testing.assert_frame_equal(
        accounts_frame(built.arrays, result, strings=True),
        accounts.astype({"account_id": "str", "status": "str"}),
    )
    empty = trades.iloc[:0].reset_index(drop=True)
    nothing = rebalance(built.arrays.rows(pd.RangeIndex(0).to_numpy()), Policy())
    pd.testing.assert_frame_equal(
        trades_frame(built.arrays.rows(pd.RangeIndex(0).to_numpy()), nothing, strings=True),
        empty.astype(dict.fromkeys(["account_id", "symbol", "side", "reason", "lots"], "str")),
    )
