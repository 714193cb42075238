"""A generated book, rebalanced, its trades executed (``rebalancer.engine.execute``),
rebalanced again: how much the second run still trades (idempotence end to end: through
build_book's validation, the executed lots, and the wash-sale windows the first run's own
trades open)."""

from __future__ import annotations

import pytest

from rebalancer.book import BookTables
from rebalancer.engine import Policy, execute, recommend_book
from tests.engine.generated import AS_OF, generated_book


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize(
    "policy",
    [
        Policy(),  # the defaults: hybrid bands, halfway, 5 bps spread
        Policy(rebalance_to="target", fee_per_trade=1.0, cash_reserve=0.02),
        Policy(rebalance_to="band_edge", band="relative", relative_band=0.25),
    ],
    ids=["defaults", "target-fee-reserve", "band-edge-relative"],
)
def test_executing_a_run_and_rerunning_trades_at_most_one_percent_of_accounts(
    policy: Policy, seed: int
) -> None:
    tables = generated_book(600, seed=seed)
    book = BookTables.from_mapping(tables)
    first = recommend_book(book, tables["prices"], policy, as_of=AS_OF)
    assert first.rejected.empty
    assert len(first.trades) > 500  # the generated book has drifted: plenty to do
    second = recommend_book(execute(book, first), tables["prices"], policy, as_of=AS_OF)
    assert second.rejected.empty, second.rejected.head().to_dict("records")
    # Not exact yet (README, "Idempotence end to end"): the first run's own trades open
    # household wash-sale windows that pin sleeves on the re-run, a same-run wash-sale block
    # can outlive the loss sale that caused it, an account that only raised cash to its floor
    # is rebalanced on the re-run, and a few accounts re-trade for reasons not yet traced.
    # Bounded here, so it cannot get worse unnoticed: at most 1% of accounts trade again.
    again = second.trades["account_id"].unique()
    assert len(again) <= 0.01 * len(tables["accounts"]), sorted(again)
