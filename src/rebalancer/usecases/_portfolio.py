"""A posted portfolio (the API's ``POST /v1/recommendations``): its book context and its
per-holding answer.

The portfolio arrives as a :class:`BookTables` built from the request; what it references in
the stored book (a model id, the securities universe) and the prices it does not carry come
from the lake, through parameterized queries. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd

from rebalancer.book import BookTables
from rebalancer.engine import Policy, Recommendation
from rebalancer.errors import InvalidAccountError
from rebalancer.lake import Lake
from rebalancer.usecases._recommend import recommend_portfolio, resolve_prices


def book_models(lake: Lake, model_ids: Iterable[str]) -> pd.DataFrame:
    """The ``model_portfolios`` rows of ``model_ids``; :class:`InvalidAccountError` naming an
    id the book does not have."""
    wanted = sorted({str(m) for m in model_ids})
    if not wanted:
        return pd.DataFrame(columns=["model_id", "symbol", "target_weight"])
    rows = (
        lake.query(
            "SELECT model_id, symbol, target_weight FROM model_portfolios WHERE model_id IN :ids",
            params={"ids": wanted},
        )
        if lake.list_objects("model_portfolios")
        else pd.DataFrame(columns=["model_id", "symbol", "target_weight"])
    )
    missing = sorted(set(wanted) - set(rows["model_id"].astype(str)))
    if missing:
        raise InvalidAccountError(f"model_id {missing[0]}: no such model in the book")
    return rows


def book_securities(lake: Lake) -> pd.DataFrame:
    """The securities universe (empty when the lake has none: symbols are then unchecked)."""
    if not lake.list_objects("securities"):
        return pd.DataFrame(columns=["symbol", "asset_class"])
    return lake.query("SELECT * FROM securities")


def recommend_posted(
    book: BookTables,
    account_id: str,
    *,
    lake: Lake | None,
    policy: Policy,
    prices: pd.Series | None = None,
    as_of: str | datetime | pd.Timestamp | None = None,
) -> tuple[Recommendation, pd.Series]:
    """Recommend trades for ``account_id`` of a posted household: ``(recommendation, prices)``.

    Raises :class:`InvalidAccountError` with the engine's reason when the portfolio cannot be
    rebalanced; a sibling's fault only leaves the sibling out (listed in ``rejected``).
    """
    resolved, when = resolve_prices(book, lake, prices=prices, as_of=as_of)
    rec = recommend_portfolio(book, policy=policy, prices=resolved, as_of=when, lake=lake)
    mine = rec.rejected[rec.rejected["account_id"].astype(str) == account_id]
    if len(mine):
        raise InvalidAccountError(f"account {account_id}: {mine.iloc[0]['reason']}")
    return rec, resolved


def holding_actions(
    book: BookTables, rec: Recommendation, prices: pd.Series, account_id: str
) -> pd.DataFrame:
    """One row per symbol the account holds or targets: action (BUY, SELL, HOLD), quantities
    before and after, price, model target, and weights before and after the trades."""
    acc = book.accounts[book.accounts["account_id"].astype(str) == account_id].iloc[0]
    held = book.holdings[book.holdings["account_id"].astype(str) == account_id]
    before = held.groupby(held["symbol"].astype(str))["quantity"].sum().astype(float)
    models = book.model_portfolios
    mine = models[models["model_id"].astype(str) == str(acc["model_id"])]
    target = pd.Series(
        mine["target_weight"].to_numpy(dtype=float), index=mine["symbol"].astype(str)
    )
    target = target[target.index != "CASH"]
    trades = rec.trades[rec.trades["account_id"].astype(str) == account_id]
    signed = (
        (trades["quantity"].astype(float) * np.where(trades["side"] == "BUY", 1.0, -1.0))
        .groupby(trades["symbol"].astype(str))
        .sum()
    )
    symbols = sorted(set(before.index) | set(target.index))
    q0 = before.reindex(symbols, fill_value=0.0)
    dq = signed.reindex(symbols, fill_value=0.0)
    q1 = q0 + dq
    px = prices.reindex(symbols).astype(float)
    summary = rec.accounts[rec.accounts["account_id"].astype(str) == account_id].iloc[0]
    value0 = float(summary["account_value"])
    value1 = float((q1 * px).sum()) + float(summary["cash_after"])
    frame = pd.DataFrame(
        {
            "symbol": symbols,
            "action": np.where(dq > 0, "BUY", np.where(dq < 0, "SELL", "HOLD")),
            "quantity_before": q0.to_numpy(),
            "trade_quantity": dq.abs().to_numpy(),
            "quantity_after": q1.to_numpy(),
            "price": px.to_numpy(),
            "target_weight": target.reindex(symbols, fill_value=0.0).to_numpy(),
            "weight_before": (q0 * px).to_numpy() / value0 if value0 > 0 else 0.0,
            "weight_after": (q1 * px).to_numpy() / value1 if value1 > 0 else 0.0,
        }
    )
    return with_model_advice(frame, rec, account_id)


def with_model_advice(frame: pd.DataFrame, rec: Recommendation, account_id: str) -> pd.DataFrame:
    """Per-symbol rows of one account with the model's action, confidence, reasons and
    whether the gate pinned the sleeve (all null when no model advised)."""
    advice = rec.advice
    if advice is None:
        return frame.assign(
            model_action=None, model_confidence=None, model_reasons=None, model_pinned=None
        )
    mine = advice[advice["account_id"].astype(str) == str(account_id)]
    mine = mine.drop_duplicates("symbol").set_index("symbol").reindex(frame["symbol"])
    return frame.assign(
        model_action=mine["model_action"].to_numpy(object),
        model_confidence=mine["model_confidence"].to_numpy(np.float64),
        model_reasons=[r if isinstance(r, list) else None for r in mine["model_reasons"]],
        model_pinned=mine["pinned"].to_numpy(object) if "pinned" in mine else None,
    )
