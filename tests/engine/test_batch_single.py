"""Batch path == single-account path (hypothesis), and invalid accounts named in errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.engine import Policy, recommend_account, recommend_book
from rebalancer.errors import InvalidAccountError
from tests.engine.books import AS_OF, SECURITIES, account, book, holdings, lots, model

SYMBOLS = ["VTI", "BND", "VXUS", "AAPL", "BTC-USD"]
MODELS = pd.concat(
    [
        model("M6040", VTI=0.6, BND=0.4),
        model("MALL", VTI=0.3, BND=0.3, VXUS=0.2, AAPL=0.1, CASH=0.1),
        model("MCRY", VTI=0.5, **{"BTC-USD": 0.05}, BND=0.45),
    ],
    ignore_index=True,
)

account_rows = st.fixed_dictionaries(
    {
        "model_id": st.sampled_from(["M6040", "MALL", "MCRY"]),
        "account_type": st.sampled_from(["taxable", "ira", "roth"]),
        "household_id": st.sampled_from(["H1", "H2"]),
        "cash": st.floats(0, 50_000),
        "pending_cash_flow": st.sampled_from([0.0, 5_000.0, -5_000.0, -200_000.0]),
        "fractional_shares": st.booleans(),
        "quantities": st.lists(st.integers(0, 2_000), min_size=5, max_size=5),
        "restricted": st.sampled_from([None, *SYMBOLS]),
    }
)


def _frames(rows: list[dict]) -> tuple[pd.DataFrame, ...]:
    accts, held, book_lots, restr = [], [], [], []
    for i, row in enumerate(rows):
        aid = f"A{i}"
        accts.append(account(aid, **{k: row[k] for k in ("model_id", "account_type", "household_id", "cash", "pending_cash_flow", "fractional_shares")}))  # fmt: skip
        qty = {s: float(q) for s, q in zip(SYMBOLS, row["quantities"], strict=True) if q}
        if "BTC-USD" in qty:
            qty["BTC-USD"] /= 1000
        held.append(holdings(aid, **qty))
        for j, (sym, q) in enumerate(qty.items()):
            half = q / 2
            book_lots.append(lots([(aid, sym, f"{aid}-{sym}-a", half, 80.0 + j, "2021-03-01"),
                                   (aid, sym, f"{aid}-{sym}-b", q - half, 120.0 - j, "2024-11-01")]))  # fmt: skip
        if row["restricted"]:
            restr.append(pd.DataFrame([{"account_id": aid, "symbol": row["restricted"], "restriction": "restricted", "reason": None}]))  # fmt: skip
    transactions = pd.DataFrame([{"transaction_id": "T1", "account_id": "X", "household_id": "H1", "symbol": "BND", "side": "SELL", "quantity": 1.0, "price": 1.0, "trade_date": "2024-12-20", "realized_gain": -5.0}])  # fmt: skip
    return (
        pd.DataFrame(accts),
        pd.concat(held, ignore_index=True),
        pd.concat(book_lots, ignore_index=True) if book_lots else None,
        pd.concat(restr, ignore_index=True) if restr else None,
        transactions,
    )


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(account_rows, min_size=1, max_size=4),
    prices=st.lists(st.floats(1.0, 5_000.0), min_size=5, max_size=5),
    mode=st.sampled_from(["target", "halfway", "band_edge"]),
)
def test_batch_and_single_give_identical_trades(
    rows: list[dict], prices: list[float], mode: str
) -> None:
    accts, held, book_lots, restr, tx = _frames(rows)
    price_map = dict(zip(SYMBOLS, prices, strict=True))
    policy = Policy(rebalance_to=mode, fee_per_trade=1.0)  # type: ignore[arg-type]
    extra = {"securities": SECURITIES, "tax_lots": book_lots, "restrictions": restr,
             "transactions": tx}  # fmt: skip
    batch = recommend_book(book(accts, held, MODELS, **extra), price_map, policy, as_of=AS_OF,
                           chunk_size=3)  # fmt: skip
    assert batch.rejected.empty
    for aid, hh in zip(accts["account_id"], accts["household_id"], strict=True):
        # The single path sees the account's household (same-run wash sales), nothing more.
        family = accts[accts["household_id"] == hh]
        family_held = held[held["account_id"].isin(family["account_id"])]
        single = recommend_account(book(family, family_held, MODELS, **extra), price_map, policy,
                                   account_id=aid, as_of=AS_OF)  # fmt: skip
        mine = batch.trades[batch.trades["account_id"] == aid].reset_index(drop=True)
        pd.testing.assert_frame_equal(single.trades, mine, check_exact=True)
        theirs = batch.accounts[batch.accounts["account_id"] == aid].reset_index(drop=True)
        pd.testing.assert_frame_equal(single.accounts, theirs, check_exact=True)


PRICES = {"VTI": 100.0, "BND": 100.0}


def _single(
    acct: dict,
    held: pd.DataFrame,
    mdl: pd.DataFrame | None = None,
    prices: dict | None = None,
    **kw: object,
) -> None:
    tables = book(acct, held, mdl, securities=SECURITIES, **kw)  # type: ignore[arg-type]
    recommend_account(tables, PRICES if prices is None else prices, account_id=acct["account_id"],
                      as_of=AS_OF)  # fmt: skip


@pytest.mark.parametrize(
    ("acct", "held", "mdl", "prices", "kw", "message"),
    [
        (account("ACC-NEG"), holdings("ACC-NEG", VTI=-5, BND=10), None, None, {}, "negative or missing quantity of VTI"),
        (account("ACC-SUM"), holdings("ACC-SUM", VTI=5), model(VTI=0.6, BND=0.3), None, {}, "sum to 0.900000, not 1"),
        (account("ACC-UNK"), holdings("ACC-UNK", VTI=5, ZZZ=3), None, None, {}, "unknown symbol ZZZ"),
        (account("ACC-PX"), holdings("ACC-PX", VTI=5), None, {"VTI": 100.0}, {}, "no valid price for BND"),
        (account("ACC-PX0"), holdings("ACC-PX0", VTI=5), None, {"VTI": 0.0, "BND": 1.0}, {}, "no valid price for VTI"),
        (account("ACC-NAN"), holdings("ACC-NAN", VTI=float("nan")), None, None, {}, "negative or missing quantity"),
        (account("ACC-CASH", cash=-1.0), holdings("ACC-CASH", VTI=5), None, None, {}, "cash is missing or negative"),
        (account("ACC-HH", household_id=None), holdings("ACC-HH", VTI=5), None, None, {}, "household_id is missing"),
        (account("ACC-TYPE", account_type="401k"), holdings("ACC-TYPE", VTI=5), None, None, {}, "account_type 401k"),
        (account("ACC-MOD", model_id="X"), holdings("ACC-MOD", VTI=5), None, None, {}, "unknown model X"),
        (account("ACC-NEGW"), holdings("ACC-NEGW", VTI=5), model(VTI=1.2, BND=-0.2), None, {}, "outside [0, 1]"),
        (account("ACC-DUP"), pd.concat([holdings("ACC-DUP", VTI=5), holdings("ACC-DUP", VTI=6)]), None, None, {}, "duplicate holding of VTI"),
        (account("ACC-LOT", account_type="taxable"), holdings("ACC-LOT", VTI=5), None, None,
         {"tax_lots": lots([("ACC-LOT", "VTI", "x", 4, 1.0, "2020-01-01")])}, "tax lots of VTI hold 4.0 units, the holding is 5.0"),
        (account("ACC-RST"), holdings("ACC-RST", VTI=5), None, None,
         {"restrictions": pd.DataFrame([{"account_id": "ACC-RST", "symbol": "VTI", "restriction": "maybe"}])}, "unknown restriction maybe"),
    ],
)  # fmt: skip
def test_invalid_account_is_rejected_with_its_name(acct: dict, held: pd.DataFrame, mdl: pd.DataFrame | None,
                                                  prices: dict | None, kw: dict, message: str) -> None:  # fmt: skip
    with pytest.raises(InvalidAccountError) as info:
        _single(acct, held, mdl, prices, **kw)
    assert f"account {acct['account_id']}:" in str(info.value)
    assert message in str(info.value)


def test_huge_book_values_and_hostile_ids_do_not_break_the_engine() -> None:
    # 1e12 dollars, ids with quotes and unicode: still valid, still balanced.
    acct = account("a'; DROP TABLE x; --é", cash=1e12)
    tables = book(acct, holdings(acct["account_id"]))
    rec = recommend_account(tables, PRICES, account_id=acct["account_id"], as_of=AS_OF)
    assert rec.accounts.loc[0, "cash_after"] >= 0
    assert np.isclose(
        rec.trades["value"].sum() + rec.accounts.loc[0, "cash_after"] + rec.trades["cost"].sum(),
        1e12,
    )


def test_accounts_wider_than_the_fast_row_sum_never_share_a_chunk_with_narrow_ones() -> None:
    # 144 slots: some accounts use more than 128 (summed sequentially), the rest fewer. Any
    # chunking, and each account on its own, must give the same trades bit for bit.
    from rebalancer.engine import rebalance_batch
    from tests.engine.books import random_arrays

    book = random_arrays(np.random.default_rng(0), 40, 144)
    used = np.where(book.valid, np.arange(144) + 1, 0).max(axis=1)
    # Narrow ones with many slots: their fast row sums differ from sequential ones in the bits.
    narrow, wide = np.flatnonzero((used > 64) & (used <= 128)), np.flatnonzero(used > 128)
    assert narrow.size and wide.size
    picked = np.concatenate([narrow[:6], wide[:1]])
    picked = picked[np.argsort(-(-used[picked] // 8), kind="stable")]  # in width order
    mixed = book.rows(picked)
    policy = Policy()
    together = rebalance_batch(mixed, policy)
    for chunk_size in (1, 2, 4_096):
        apart = rebalance_batch(mixed, policy, chunk_size=chunk_size)
        for mine, theirs in zip(together, apart, strict=True):  # trades, then accounts
            pd.testing.assert_frame_equal(mine, theirs, check_exact=True)
    for i in range(mixed.shape[0]):
        alone = rebalance_batch(mixed.rows(np.array([i])), policy)
        for mine, theirs in zip(together, alone, strict=True):
            ours = mine[mine["account_id"] == mixed.account_id[i]].reset_index(drop=True)
            pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
