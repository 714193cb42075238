"""Execute a recommendation: the book after its trades settle at the recommended prices.

Backtests replay a policy day by day through ``recommend_book`` and ``execute``; what-if views
and the idempotence tests re-run the engine on the executed book. Pure: frames in, frames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.book._tables import BookTables
from rebalancer.engine._recommend import Recommendation
from rebalancer.errors import InvalidAccountError

_ZERO = 1e-9


def execute(book: BookTables, recommendation: Recommendation) -> BookTables:
    """The book after the recommendation's trades fill at their prices on its ``as_of`` day.

    * cash becomes each rebalanced account's ``cash_after`` (fees and spread paid, pending
      cash flow applied, which is then zero);
    * holdings move by the signed trade quantities (positions sold out disappear);
    * sales draw the tax lots named in the ``lots`` column, unit by unit, cost basis pro rata;
      buys in taxable accounts open a lot at cost (``value``) dated ``as_of``;
    * every trade is appended to ``transactions`` (the wash-sale window of the next run);
    * ``last_rebalanced`` moves to ``as_of`` for accounts that traded.

    Rejected accounts are left as they were. Raises :class:`InvalidAccountError` if a trade
    names an account or a lot that the book does not hold.
    """
    as_of = recommendation.as_of
    if as_of is None:
        raise InvalidAccountError("the recommendation has no as_of: it cannot be executed")
    trades = recommendation.trades
    accounts = _settle_accounts(book.accounts, recommendation.accounts, trades, as_of)
    return BookTables(
        accounts=accounts,
        model_portfolios=book.model_portfolios,
        holdings=_move_holdings(book.holdings, trades),
        tax_lots=_move_lots(book.tax_lots, trades, accounts, as_of),
        restrictions=book.restrictions,
        transactions=_append_transactions(book.transactions, trades, accounts, as_of),
        securities=book.securities,
    )


def _signed(trades: pd.DataFrame) -> np.ndarray:
    return np.where(trades["side"] == "BUY", 1.0, -1.0) * trades["quantity"].to_numpy(float)


def _settle_accounts(
    accounts: pd.DataFrame, after: pd.DataFrame, trades: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Cash after the trades, the cash flow consumed, the rebalance date moved."""
    acc = accounts.set_index(accounts["account_id"].astype(str), drop=False)
    unknown = sorted(set(after["account_id"].astype(str)) - set(acc.index))
    if unknown:
        raise InvalidAccountError(f"account {unknown[0]}: not in the book being executed")
    ids = after["account_id"].astype(str).to_numpy()
    acc = acc.astype({"cash": float, "pending_cash_flow": float})
    # cash_after is >= 0 by the engine's invariants; clip the last-bit noise of a sum.
    acc.loc[ids, "cash"] = after["cash_after"].clip(lower=0.0).to_numpy()
    acc.loc[ids, "pending_cash_flow"] = 0.0
    traded = trades["account_id"].astype(str).unique()
    if "last_rebalanced" not in acc.columns:
        acc["last_rebalanced"] = None
    acc["last_rebalanced"] = acc["last_rebalanced"].astype(object)
    acc.loc[traded, "last_rebalanced"] = as_of.date()
    return acc.reset_index(drop=True)


def _move_holdings(holdings: pd.DataFrame, trades: pd.DataFrame) -> pd.DataFrame:
    """Quantities plus signed trades; zero positions dropped."""
    key = ["account_id", "symbol"]
    held = holdings.assign(account_id=holdings["account_id"].astype(str))
    held = held.groupby(key, sort=False)["quantity"].sum()
    delta = (
        pd.Series(_signed(trades), index=pd.MultiIndex.from_frame(trades[key].astype(str)))
        .groupby(level=[0, 1], sort=False)
        .sum()
    )
    qty = held.add(delta, fill_value=0.0)
    qty = qty[qty.abs() > _ZERO]
    return qty.rename("quantity").reset_index()


def _sold_units(trades: pd.DataFrame) -> pd.Series:
    """Units sold per lot id, parsed from the ``lots`` column (``lot:units;lot:units``)."""
    lots = trades.loc[(trades["side"] == "SELL") & (trades["lots"].astype(str) != ""), "lots"]
    if lots.empty:
        return pd.Series(dtype=float)
    parts = lots.astype(str).str.split(";").explode()
    lot_id = parts.str.rsplit(":", n=1).str[0]
    units = pd.to_numeric(parts.str.rsplit(":", n=1).str[1], errors="raise")
    return units.groupby(lot_id.to_numpy()).sum()


def _move_lots(
    lots: pd.DataFrame, trades: pd.DataFrame, accounts: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Sold units leave their lots (basis pro rata); taxable buys open lots at cost."""
    sold = _sold_units(trades)
    out = lots.copy()
    if len(sold):
        ids = out["lot_id"].astype(str)
        unknown = sorted(set(sold.index) - set(ids))
        if unknown:
            raise InvalidAccountError(f"lot {unknown[0]}: sold by a trade but not in tax_lots")
        take = ids.map(sold).fillna(0.0).to_numpy()
        quantity = out["quantity"].to_numpy(float)
        keep = np.divide(quantity - take, quantity, out=np.zeros_like(quantity), where=quantity > 0)
        out["cost_basis"] = out["cost_basis"].to_numpy(float) * keep
        out["quantity"] = quantity * keep
        out = out[out["quantity"] > _ZERO]
    taxable = accounts.loc[accounts["account_type"].astype(str) == "taxable", "account_id"]
    buys = trades[(trades["side"] == "BUY") & trades["account_id"].astype(str).isin(taxable)]
    stamp = as_of.strftime("%Y%m%d")
    new = pd.DataFrame(
        {
            "account_id": buys["account_id"].astype(str).to_numpy(),
            "symbol": buys["symbol"].astype(str).to_numpy(),
            "lot_id": ("X" + stamp + "-" + buys["account_id"].astype(str) + "-"
                       + buys["symbol"].astype(str)).to_numpy(),
            "quantity": buys["quantity"].to_numpy(float),
            "cost_basis": buys["value"].to_numpy(float),
            "acquired": as_of.date(),
        }
    )  # fmt: skip
    frames = [f for f in (out, new) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else out.reset_index(drop=True)


def _append_transactions(
    transactions: pd.DataFrame, trades: pd.DataFrame, accounts: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """The trades as transactions (ids ``X<yyyymmdd>-<n>``), after the existing ones."""
    if trades.empty:
        return transactions
    household = accounts.set_index(accounts["account_id"].astype(str))["household_id"]
    ids = trades["account_id"].astype(str)
    done = pd.DataFrame(
        {
            "transaction_id": [f"X{as_of:%Y%m%d}-{i}" for i in range(len(trades))],
            "account_id": ids.to_numpy(),
            "household_id": household.reindex(ids).to_numpy(),
            "symbol": trades["symbol"].to_numpy(),
            "side": trades["side"].to_numpy(),
            "quantity": trades["quantity"].to_numpy(float),
            "price": trades["price"].to_numpy(float),
            "trade_date": as_of.date(),
            "realized_gain": trades["realized_gain"].to_numpy(float),
        }
    )
    frames = [f for f in (transactions, done) if len(f)]
    return pd.concat(frames, ignore_index=True)
