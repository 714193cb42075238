"""Same-run household wash sales: no account buys what another account of its household sells
at a loss in the same run (hand example, batch == single, and a hypothesis property)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.engine import (
    BookArrays,
    Policy,
    Recommendation,
    rebalance_batch,
    recommend_account,
    recommend_book,
)
from tests.engine.books import (
    AS_OF,
    SECURITIES,
    account,
    book,
    holdings,
    lots,
    random_arrays,
)

PRICES = {"VTI": 100.0, "BND": 100.0}
TARGET = Policy(rebalance_to="target", spread_bps=0.0, min_trade_value=0.0)
# Household H1: a taxable account overweight VTI whose VTI lot is under water (bought at 120),
# and an IRA underweight VTI. Alone, each rebalances to 60/40: the taxable account sells VTI at
# a loss and the IRA buys VTI the same day, a wash sale that disallows the loss.
ACCOUNTS = pd.DataFrame(
    [
        account("TAX", account_type="taxable", household_id="H1"),
        account("IRA", account_type="ira", household_id="H1"),
    ]
)
HELD = pd.concat([holdings("TAX", VTI=800, BND=200), holdings("IRA", VTI=400, BND=600)])
LOTS = lots([("TAX", "VTI", "under", 800, 120.0, "2024-06-03"),
             ("TAX", "BND", "b", 200, 100.0, "2024-06-03")])  # fmt: skip


def _trades(rec: pd.DataFrame, account_id: str) -> dict[tuple[str, str], float]:
    mine = rec[rec["account_id"] == account_id]
    return {
        (s, d): q for s, d, q in zip(mine["symbol"], mine["side"], mine["quantity"], strict=True)
    }


def _book(accounts: pd.DataFrame) -> Recommendation:
    tables = book(accounts, HELD, securities=SECURITIES, tax_lots=LOTS)
    return recommend_book(tables, PRICES, TARGET, as_of=AS_OF)


def test_a_same_run_loss_sale_blocks_the_households_buy_of_that_security() -> None:
    rec = _book(ACCOUNTS)
    tax, ira = _trades(rec.trades, "TAX"), _trades(rec.trades, "IRA")
    # The loss sale stands (200 VTI at 100, bought at 120: a 4,000 loss) ...
    assert tax == {("VTI", "SELL"): 200.0, ("BND", "BUY"): 200.0}
    sold = rec.trades[rec.trades["account_id"] == "TAX"].set_index("symbol")
    assert sold.loc["VTI", "realized_gain"] == -4000.0
    # ... and the IRA buys no VTI: VTI is pinned at its 40%, the rest scales to BND: nothing.
    assert ("VTI", "BUY") not in ira
    status = rec.accounts.set_index("account_id")["status"]
    assert "BLOCKED_WASH_SALE" in status["IRA"]


def test_accounts_of_different_households_do_not_block_each_other() -> None:
    apart = ACCOUNTS.assign(household_id=["H1", "H2"])
    rec = _book(apart)
    assert _trades(rec.trades, "IRA")[("VTI", "BUY")] == 200.0


def test_single_account_path_sees_the_household_and_equals_the_batch() -> None:
    batch = _book(ACCOUNTS)
    tables = book(ACCOUNTS, HELD, securities=SECURITIES, tax_lots=LOTS)
    single = recommend_account(tables, PRICES, TARGET, account_id="IRA", as_of=AS_OF)
    mine = batch.trades[batch.trades["account_id"] == "IRA"].reset_index(drop=True)
    pd.testing.assert_frame_equal(single.trades, mine, check_exact=True)
    assert ("VTI", "BUY") not in _trades(single.trades, "IRA")
    # Without its household the account cannot see the loss sale: the buy comes back.
    ira = book(ACCOUNTS[ACCOUNTS["account_id"] == "IRA"], HELD, securities=SECURITIES)
    alone = recommend_account(ira, PRICES, TARGET, account_id="IRA", as_of=AS_OF)
    assert _trades(alone.trades, "IRA")[("VTI", "BUY")] == 200.0


def _loss_sales_and_buys(book: BookArrays, trades: pd.DataFrame) -> tuple[set, set]:
    """(household, symbol) pairs sold at a loss (lot by lot, from the trades' lots column) and
    bought, computed from the trade rows and the input lots, not from the engine's guard."""
    lots_ = book.lots
    unit_cost = np.divide(lots_.cost_basis, lots_.quantity, out=np.zeros_like(lots_.cost_basis),
                          where=lots_.quantity > 0)  # fmt: skip
    cost_of = dict(zip(lots_.lot_id, unit_cost, strict=True))
    household = dict(zip(book.account_id, book.household, strict=True))
    losses, buys = set(), set()
    for row in trades.itertuples(index=False):
        pair = (household[row.account_id], row.symbol)
        if row.side == "BUY":
            buys.add(pair)
        elif row.lots:
            for part in row.lots.split(";"):
                lot_id, units = part.rsplit(":", 1)
                if float(units) > 0 and cost_of[lot_id] > row.price:
                    losses.add(pair)
    return losses, buys


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(["target", "halfway"]),
    p_fractional=st.sampled_from([0.0, 0.4, 1.0]),
)
def test_no_household_buys_what_it_sells_at_a_loss_in_the_same_run(
    seed: int, mode: str, p_fractional: float
) -> None:
    # Households of three consecutive accounts; lots are priced 50%-150% of today's price, so
    # most books sell some lot at a loss while a sibling account buys the security.
    book = random_arrays(np.random.default_rng(seed), 12, 5, p_fractional=p_fractional)
    policy = Policy(rebalance_to=mode, lot_method="hifo")  # type: ignore[arg-type]
    trades, _ = rebalance_batch(book, policy, chunk_size=4)
    losses, buys = _loss_sales_and_buys(book, trades)
    assert not losses & buys, f"same-run wash sales: {sorted(losses & buys)}"
    # Chunking (which splits households across chunks) does not change the trades.
    whole, _ = rebalance_batch(book, policy, chunk_size=100)
    pd.testing.assert_frame_equal(trades, whole, check_exact=True)


def test_the_guard_fires_on_random_books() -> None:
    # The property above is not vacuous: without the guard (plain ``rebalance``) a good share
    # of the same books buy what a sibling sells at a loss.
    from rebalancer.engine import rebalance, trades_frame

    fired = 0
    for seed in range(20):
        book = random_arrays(np.random.default_rng(seed), 12, 5, p_fractional=0.4)
        policy = Policy(rebalance_to="target", lot_method="hifo")
        losses, buys = _loss_sales_and_buys(book, trades_frame(book, rebalance(book, policy)))
        fired += bool(losses & buys)
        guarded, _ = rebalance_batch(book, policy)
        losses, buys = _loss_sales_and_buys(book, guarded)
        assert not losses & buys
    assert fired >= 4


def test_accounts_without_a_household_are_households_of_their_own() -> None:
    from rebalancer.engine._household import _household_codes

    codes = _household_codes(np.array(["H1", None, "H1", None, "H2"], dtype=object))
    assert codes[0] == codes[2]
    assert len({codes[1], codes[3], codes[0], codes[4]}) == 4
