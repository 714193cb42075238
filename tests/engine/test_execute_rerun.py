"""A generated book, rebalanced, its trades executed table by table, rebalanced again: how
much the second run still trades (idempotence end to end: through build_book's validation,
the executed lots, and the wash-sale windows the first run's own trades open)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.book import DEFAULT_MODELS, BookTables, generate_book
from rebalancer.engine import Policy, Recommendation, recommend_book
from rebalancer.market._universe import default_universe

AS_OF = pd.Timestamp("2024-12-31")


def _book(n_accounts: int, seed: int) -> dict[str, pd.DataFrame]:
    days = pd.bdate_range(end=AS_OF, periods=700)
    rng = np.random.default_rng(seed)
    panel = pd.DataFrame(index=days)
    for symbol in DEFAULT_MODELS.symbols:
        vol = 0.035 if symbol.endswith("-USD") else 0.012
        start = 30_000.0 if symbol.endswith("-USD") else float(rng.uniform(20, 600))
        panel[symbol] = start * np.exp(np.cumsum(rng.normal(0.0003, vol, len(days))))
    chunks = list(generate_book(n_accounts, seed=seed, prices=panel, as_of=AS_OF.date()))
    tables = {
        name: pd.concat([c.tables[name] for c in chunks], ignore_index=True)
        for name in chunks[0].tables
    }
    tables["securities"] = default_universe()
    tables["prices"] = panel.iloc[-1]
    return tables


def _run(tables: dict[str, pd.DataFrame], policy: Policy) -> Recommendation:
    return recommend_book(BookTables.from_mapping(tables), tables["prices"], policy, as_of=AS_OF)


def _execute(tables: dict[str, pd.DataFrame], rec: Recommendation) -> dict[str, pd.DataFrame]:
    """The book after the trades settle: cash, holdings, lots, transactions, rebalance dates."""
    out = dict(tables)
    trades = rec.trades
    signed = np.where(trades["side"] == "BUY", 1.0, -1.0) * trades["quantity"]
    acc = tables["accounts"].set_index("account_id")
    after = rec.accounts.set_index("account_id")
    acc.loc[after.index, "cash"] = after["cash_after"].clip(lower=0.0)
    acc["pending_cash_flow"] = 0.0
    traded = trades["account_id"].unique()
    acc.loc[traded, "last_rebalanced"] = AS_OF
    out["accounts"] = acc.reset_index()

    held = tables["holdings"].set_index(["account_id", "symbol"])["quantity"]
    delta = pd.Series(
        signed.to_numpy(), index=pd.MultiIndex.from_frame(trades[["account_id", "symbol"]])
    )
    qty = held.add(delta, fill_value=0.0)
    qty = qty.where(qty.abs() > 1e-9, 0.0)
    out["holdings"] = qty.rename("quantity").reset_index()

    lots = tables["tax_lots"].set_index("lot_id")
    for row in trades[trades["lots"] != ""].itertuples(index=False):
        for part in row.lots.split(";"):
            lot_id, units = part.rsplit(":", 1)
            keep = 1.0 - float(units) / lots.at[lot_id, "quantity"]
            lots.at[lot_id, "cost_basis"] *= keep
            lots.at[lot_id, "quantity"] *= keep
    lots = lots[lots["quantity"] > 1e-9].reset_index()
    taxable = set(acc.index[acc["account_type"] == "taxable"])
    buys = trades[(trades["side"] == "BUY") & trades["account_id"].isin(taxable)]
    new_lots = pd.DataFrame({
        "account_id": buys["account_id"], "symbol": buys["symbol"],
        "lot_id": "NEW-" + buys["account_id"] + "-" + buys["symbol"],
        "quantity": buys["quantity"], "cost_basis": buys["value"], "acquired": AS_OF.date(),
    })  # fmt: skip
    out["tax_lots"] = pd.concat([lots, new_lots], ignore_index=True)

    household = acc["household_id"]
    done = pd.DataFrame({
        "transaction_id": "RUN-" + pd.Series(range(len(trades))).astype(str),
        "account_id": trades["account_id"].to_numpy(),
        "household_id": household.loc[trades["account_id"]].to_numpy(),
        "symbol": trades["symbol"].to_numpy(), "side": trades["side"].to_numpy(),
        "quantity": trades["quantity"].to_numpy(), "price": trades["price"].to_numpy(),
        "trade_date": AS_OF.date(), "realized_gain": trades["realized_gain"].to_numpy(),
    })  # fmt: skip
    out["transactions"] = pd.concat([tables["transactions"], done], ignore_index=True)
    return out


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
    tables = _book(600, seed=seed)
    first = _run(tables, policy)
    assert first.rejected.empty
    assert len(first.trades) > 500  # the generated book has drifted: plenty to do
    second = _run(_execute(tables, first), policy)
    assert second.rejected.empty, second.rejected.head().to_dict("records")
    # Not exact yet (README, "Idempotence end to end"): the first run's own trades open
    # household wash-sale windows that pin sleeves on the re-run, a same-run wash-sale block
    # can outlive the loss sale that caused it, an account that only raised cash to its floor
    # is rebalanced on the re-run, and a few accounts re-trade for reasons not yet traced.
    # Bounded here, so it cannot get worse unnoticed: at most 1% of accounts trade again.
    again = second.trades["account_id"].unique()
    assert len(again) <= 0.01 * len(tables["accounts"]), sorted(again)
