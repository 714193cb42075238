"""Wash-sale windows from recent transactions (household-wide).

A loss sale followed (or preceded) within the window by a purchase of the same security in
the same household is a wash sale: the loss is disallowed. The engine therefore blocks
(1) buys of a security the household sold at a loss in the last ``days`` days, in every account
of the household (IRS Rev. Rul. 2008-5 extends the rule to IRAs), and (2) loss sales, in
taxable accounts, of a security the household bought in the last ``days`` days.
"""

from __future__ import annotations

import pandas as pd


def wash_sale_blocks(
    transactions: pd.DataFrame | None, as_of: pd.Timestamp, days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(buy_blocked, loss_sale_blocked)``: frames of ``(household_id, symbol)`` pairs.

    Only trades dated in ``[as_of - days, as_of]`` count; later-dated rows are ignored so a
    replay as of a past date sees what was known then.
    """
    empty = pd.DataFrame({"household_id": pd.Series(dtype=str), "symbol": pd.Series(dtype=str)})
    if transactions is None or transactions.empty:
        return empty, empty.copy()
    day = (
        pd.Timestamp(as_of).tz_localize(None).normalize()
        if pd.Timestamp(as_of).tzinfo
        else pd.Timestamp(as_of).normalize()
    )
    trade_day = pd.to_datetime(transactions["trade_date"]).dt.normalize()
    age = (day - trade_day).dt.days
    recent = transactions[(age >= 0) & (age <= days)]
    side = recent["side"].astype(str).str.upper()
    gain = pd.to_numeric(recent["realized_gain"], errors="coerce")
    cols = ["household_id", "symbol"]
    loss_sales = recent.loc[(side == "SELL") & (gain < 0), cols].drop_duplicates()
    buys = recent.loc[side == "BUY", cols].drop_duplicates()
    return (
        loss_sales.astype(str).reset_index(drop=True),
        buys.astype(str).reset_index(drop=True),
    )
