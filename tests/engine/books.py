"""Small hand-built books for engine tests (the book generator is not needed here)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rebalancer.book import BookTables
from rebalancer.engine import BookArrays, LotArrays

AS_OF = "2024-12-31"

SECURITIES = pd.DataFrame(
    {
        "symbol": ["VTI", "BND", "VXUS", "AAPL", "BTC-USD"],
        "name": ["Total market", "Bonds", "Intl", "Apple", "Bitcoin"],
        "asset_class": ["equity_etf", "bond_etf", "equity_etf", "equity", "crypto"],
        "currency": ["USD"] * 5,
        "calendar": ["XNYS"] * 4 + ["24/7"],
        "active": [True] * 5,
    }
)


def account(account_id: str = "A1", **overrides: Any) -> dict[str, Any]:
    """One accounts row with neutral defaults."""
    row: dict[str, Any] = {
        "account_id": account_id,
        "household_id": "H1",
        "client_id": "C1",
        "advisor_id": "ADV1",
        "account_type": "ira",
        "model_id": "M6040",
        "cash": 0.0,
        "pending_cash_flow": 0.0,
        "fractional_shares": False,
        "last_rebalanced": None,
        "opened": "2020-01-02",
    }
    row.update(overrides)
    return row


def model(model_id: str = "M6040", **weights: float) -> pd.DataFrame:
    """A model portfolio; ``CASH`` may be passed as a keyword."""
    weights = weights or {"VTI": 0.6, "BND": 0.4}
    return pd.DataFrame(
        {
            "model_id": model_id,
            "symbol": list(weights),
            "target_weight": list(weights.values()),
        }
    )


def holdings(account_id: str = "A1", **quantities: float) -> pd.DataFrame:
    """Holdings rows of one account."""
    return pd.DataFrame(
        {
            "account_id": account_id,
            "symbol": list(quantities),
            "quantity": [float(q) for q in quantities.values()],
        }
    )


def book(
    accounts: dict[str, Any] | list[dict[str, Any]] | pd.DataFrame,
    held: pd.DataFrame,
    models: pd.DataFrame | None = None,
    **tables: pd.DataFrame | None,
) -> BookTables:
    """A :class:`BookTables` from one account row (or several), holdings and a model."""
    if isinstance(accounts, dict):
        accounts = [accounts]
    frame = accounts if isinstance(accounts, pd.DataFrame) else pd.DataFrame(accounts)
    return BookTables.from_frames(
        accounts=frame, holdings=held, model_portfolios=model() if models is None else models,
        **tables,  # type: ignore[arg-type]
    )  # fmt: skip


def lots(rows: list[tuple[str, str, str, float, float, str]]) -> pd.DataFrame:
    """Tax lots from ``(account_id, symbol, lot_id, quantity, cost_per_unit, acquired)``."""
    frame = pd.DataFrame(
        rows, columns=["account_id", "symbol", "lot_id", "quantity", "unit_cost", "acquired"]
    )
    frame["cost_basis"] = frame["quantity"] * frame.pop("unit_cost")
    return frame


def random_arrays(rng: np.random.Generator, n: int, k: int, **knobs: float) -> BookArrays:
    """A random dense book: some accounts near target, some far, with restrictions and lots.

    ``knobs``: probabilities ``p_restricted``, ``p_dnt``, ``p_wash``, ``p_near`` and
    ``p_fractional`` (account allows fractional shares).
    """
    p_restricted = knobs.get("p_restricted", 0.05)
    p_dnt = knobs.get("p_dnt", 0.03)
    p_wash = knobs.get("p_wash", 0.05)
    p_near = knobs.get("p_near", 0.4)
    width = rng.integers(1, k + 1, n)
    valid = np.arange(k)[None, :] < width[:, None]
    price = np.where(valid, np.exp(rng.uniform(np.log(1.0), np.log(3000.0), (n, k))), 1.0)
    raw = np.where(valid & (rng.random((n, k)) < 0.85), rng.random((n, k)) + 0.05, 0.0)
    cash_target = np.where(rng.random(n) < 0.5, rng.uniform(0, 0.1, n), 0.0)
    total = raw.sum(axis=1)
    no_target = total == 0
    cash_target = np.where(no_target, 1.0, cash_target)
    target = np.where(no_target[:, None], 0.0, raw / np.where(no_target, 1.0, total)[:, None])
    target = target * (1 - cash_target)[:, None]
    value = np.exp(rng.uniform(np.log(500.0), np.log(2e6), n))
    near = rng.random(n) < p_near
    noise = np.where(near[:, None], rng.normal(0, 0.005, (n, k)), rng.normal(0, 0.1, (n, k)))
    w = np.where(valid, np.clip(target + noise, 0, None), 0.0)
    w_cash = np.clip(cash_target + np.where(near, 0.0, rng.normal(0, 0.05, n)), 0, None)
    scale = w.sum(axis=1) + w_cash
    w, w_cash = w / scale[:, None], w_cash / scale
    frac_acct = rng.random(n) < knobs.get("p_fractional", 0.4)
    crypto = valid & (rng.random((n, k)) < 0.05)
    quantity = w * value[:, None] / price
    quantity = np.where(frac_acct[:, None] | crypto, quantity, np.round(quantity))
    quantity = np.where(valid, quantity, 0.0)
    cash = w_cash * value
    flow_kind = rng.random(n)
    cash_flow = np.where(
        flow_kind < 0.15,
        rng.uniform(0, 0.3, n) * value,
        np.where(flow_kind < 0.3, -rng.uniform(0, 0.4, n) * value, 0.0),
    )
    taxable = rng.random(n) < 0.5
    # Lots: 1-3 per held taxable slot, costs around the price (vectorized: 3 lots, some empty).
    held_r, held_c = np.nonzero(valid & taxable[:, None] & (quantity > 0))
    used = np.arange(3)[None, :] < rng.integers(1, 4, held_r.size)[:, None]
    share = np.where(used, rng.random((held_r.size, 3)) + 0.01, 0.0)
    share = share / share.sum(axis=1, keepdims=True)
    lot_qty = share * quantity[held_r, held_c][:, None]
    lot_qty[:, 0] = quantity[held_r, held_c] - lot_qty[:, 1:].sum(axis=1)
    unit_cost = price[held_r, held_c][:, None] * rng.uniform(0.5, 1.5, (held_r.size, 3))
    lot_rows = np.repeat(held_r, 3)
    lot_cols = np.repeat(held_c, 3)
    lot_ids = np.array([f"L{i}" for i in range(lot_rows.size)], dtype=object)
    symbols = np.array([[f"S{j}" for j in range(k)]] * n, dtype=object)
    return BookArrays(
        account_id=np.array([f"A{i:04d}" for i in range(n)], dtype=object),
        # Households of up to three consecutive accounts (no draw: seeds keep their books).
        household=np.array([f"H{i // 3:04d}" for i in range(n)], dtype=object),
        cash=cash,
        cash_flow=cash_flow,
        cash_target=cash_target,
        taxable=taxable,
        days_since_rebalance=np.where(rng.random(n) < 0.2, np.inf, rng.integers(0, 400, n)),
        symbol=np.where(valid, symbols, ""),
        valid=valid,
        quantity=quantity,
        price=price,
        target=np.where(valid, target, 0.0),
        fractional=valid & (frac_acct[:, None] | crypto),
        restricted=valid & (rng.random((n, k)) < p_restricted),
        do_not_trade=valid & (rng.random((n, k)) < p_dnt),
        wash_buy_block=valid & (rng.random((n, k)) < p_wash),
        wash_loss_block=valid & taxable[:, None] & (rng.random((n, k)) < p_wash),
        lots=LotArrays(
            row=lot_rows.astype(np.int64),
            col=lot_cols.astype(np.int64),
            lot_id=lot_ids,
            quantity=np.maximum(lot_qty.ravel(), 0.0),
            cost_basis=(np.maximum(lot_qty, 0.0) * unit_cost).ravel(),
            age_days=rng.integers(0, 1500, lot_rows.size).astype(float),
        ),
    )
