"""From book tables (pandas) to engine arrays, with validation. Pure: no I/O, no clock.

Invalid accounts are collected with a reason naming the account; :func:`build_book` returns
them so a batch run can skip and report them, and the single-account path raises
:class:`~rebalancer.errors.InvalidAccountError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.engine._arrays import BookArrays
from rebalancer.engine._policy import Policy
from rebalancer.engine._tax import LotArrays
from rebalancer.engine._washsale import wash_sale_blocks

CASH = "CASH"
ACCOUNT_TYPES = ("taxable", "ira", "roth")
RESTRICTION_KINDS = ("restricted", "do_not_trade")
FRACTIONAL_ASSET_CLASSES = ("crypto",)
_WEIGHT_TOL = 1e-6
_QTY_TOL = 1e-6


@dataclass(frozen=True)
class Book:
    """Validated arrays plus the accounts that were rejected (``account_id``, ``reason``)."""

    arrays: BookArrays
    rejected: pd.DataFrame


def _as_str(series: pd.Series) -> pd.Series:
    return (
        series.astype(object).where(series.notna(), None).map(lambda v: v if v is None else str(v))
    )


def _price_series(prices: Mapping[str, float] | pd.Series) -> pd.Series:
    series = prices if isinstance(prices, pd.Series) else pd.Series(dict(prices), dtype=float)
    series = pd.to_numeric(series, errors="coerce")
    series.index = series.index.astype(str)
    return series[~series.index.duplicated(keep="last")]


def _reject(
    frame: pd.DataFrame, mask: pd.Series | np.ndarray, reason: pd.Series | str
) -> pd.DataFrame:
    flags = np.asarray(mask, dtype=bool)
    if not flags.any():
        return frame.iloc[:0][["account_id"]].assign(reason=pd.Series(dtype=object))
    rows = frame.loc[flags, ["account_id"]].copy()
    rows["reason"] = reason if isinstance(reason, str) else reason[flags].to_numpy()
    return rows


def build_book(
    accounts: pd.DataFrame,
    model_portfolios: pd.DataFrame,
    holdings: pd.DataFrame,
    prices: Mapping[str, float] | pd.Series,
    *,
    as_of: pd.Timestamp | str,
    securities: pd.DataFrame | None = None,
    tax_lots: pd.DataFrame | None = None,
    restrictions: pd.DataFrame | None = None,
    transactions: pd.DataFrame | None = None,
    policy: Policy | None = None,
) -> Book:
    """Validate the book tables and lay them out as engine arrays.

    Accounts are rejected (not raised) for: a duplicate account row, missing or negative cash,
    a missing pending cash flow, an unknown account type, an unknown model or one whose targets
    are negative, duplicated or do not sum to 1, a negative or missing quantity, a duplicate
    holding, a symbol missing from ``securities``, a missing or non-positive price, tax lots of a
    taxable account that do not sum to its holding, or an unknown restriction kind.
    """
    policy = policy or Policy()
    as_of_ts = pd.Timestamp(as_of)
    if as_of_ts.tzinfo is not None:
        as_of_ts = as_of_ts.tz_convert("UTC").tz_localize(None)
    as_of_day = as_of_ts.normalize()
    px = _price_series(prices)

    acc = accounts.copy()
    acc["account_id"] = _as_str(acc["account_id"])
    acc = acc[acc["account_id"].notna()].reset_index(drop=True)
    rejected: list[pd.DataFrame] = []
    cash = pd.to_numeric(acc["cash"], errors="coerce")
    flow = pd.to_numeric(acc["pending_cash_flow"], errors="coerce")
    acc_type = acc["account_type"].astype(str).str.lower()
    rejected += [
        _reject(acc, acc["account_id"].duplicated(keep=False), "duplicate account row"),
        _reject(acc, ~np.isfinite(cash.fillna(np.nan)) | (cash < 0), "cash is missing or negative"),
        _reject(acc, ~np.isfinite(flow.fillna(np.nan)), "pending_cash_flow is missing"),
        _reject(
            acc,
            ~acc_type.isin(ACCOUNT_TYPES),
            "account_type " + acc_type + " is not one of taxable, ira, roth",
        ),
    ]

    known_symbols: set[str] | None = None
    crypto: set[str] = set()
    if securities is not None and not securities.empty:
        known_symbols = set(securities["symbol"].astype(str))
        crypto = set(
            securities.loc[
                securities["asset_class"].astype(str).isin(FRACTIONAL_ASSET_CLASSES), "symbol"
            ].astype(str)
        )

    # Models.
    mp = model_portfolios[["model_id", "symbol", "target_weight"]].copy()
    mp["model_id"], mp["symbol"] = mp["model_id"].astype(str), mp["symbol"].astype(str)
    mp["target_weight"] = pd.to_numeric(mp["target_weight"], errors="coerce")
    bad_model: dict[str, str] = {}
    weight = mp["target_weight"]
    for mask, why in (
        (
            ~np.isfinite(weight.fillna(np.nan)) | (weight < 0) | (weight > 1),
            "has a target outside [0, 1]",
        ),
        (mp.duplicated(["model_id", "symbol"], keep=False), "lists a symbol twice"),
    ):
        for model_id in mp.loc[mask, "model_id"].unique():
            bad_model.setdefault(model_id, f"model {model_id} {why}")
    if known_symbols is not None:
        unknown = mp[(mp["symbol"] != CASH) & ~mp["symbol"].isin(known_symbols)]
        for model_id, sym in (
            unknown[["model_id", "symbol"]].drop_duplicates("model_id").itertuples(index=False)
        ):
            bad_model.setdefault(model_id, f"model {model_id} targets unknown symbol {sym}")
    totals = mp.groupby("model_id")["target_weight"].sum()
    for model_id, total in totals[(totals - 1).abs() > _WEIGHT_TOL].items():
        bad_model.setdefault(
            str(model_id), f"targets of model {model_id} sum to {total:.6f}, not 1"
        )
    model_id = acc["model_id"].astype(str)
    has_model = model_id.isin(set(totals.index))
    rejected.append(_reject(acc, ~has_model, "unknown model " + model_id))
    model_reason = model_id.map(bad_model)
    rejected.append(_reject(acc, model_reason.notna() & has_model, model_reason))

    # Holdings.
    ids = set(acc["account_id"])
    h = holdings[["account_id", "symbol", "quantity"]].copy()
    h["account_id"], h["symbol"] = _as_str(h["account_id"]), h["symbol"].astype(str)
    h = h[h["account_id"].isin(ids)]
    h["quantity"] = pd.to_numeric(h["quantity"], errors="coerce")
    q = h["quantity"]
    rejected += [
        _reject(
            h,
            ~np.isfinite(q.fillna(np.nan)) | (q < 0),
            "negative or missing quantity of " + h["symbol"],
        ),
        _reject(
            h,
            h.duplicated(["account_id", "symbol"], keep=False),
            "duplicate holding of " + h["symbol"],
        ),
        _reject(h, h["symbol"] == CASH, "holds CASH as a security (cash belongs in accounts.cash)"),
    ]
    if known_symbols is not None:
        rejected.append(
            _reject(h, ~h["symbol"].isin(known_symbols), "unknown symbol " + h["symbol"])
        )

    # Slots: every held symbol and every model symbol of each account.
    targets = (
        acc[["account_id"]]
        .assign(model_id=model_id)
        .merge(mp[mp["symbol"] != CASH], on="model_id", how="inner")[
            ["account_id", "symbol", "target_weight"]
        ]
    )
    hq = h.drop_duplicates(["account_id", "symbol"])
    slots = hq.merge(targets, on=["account_id", "symbol"], how="outer")
    slots["quantity"] = slots["quantity"].fillna(0.0)
    slots["target_weight"] = slots["target_weight"].fillna(0.0)
    slots["price"] = slots["symbol"].map(px).astype(float)
    no_price = ~np.isfinite(slots["price"].to_numpy()) | ~(slots["price"].to_numpy() > 0)
    rejected.append(_reject(slots, no_price, "no valid price for " + slots["symbol"]))

    # Tax lots of taxable accounts.
    taxable_ids = set(acc.loc[acc_type == "taxable", "account_id"])
    if tax_lots is not None and not tax_lots.empty:
        lots = tax_lots[
            ["account_id", "symbol", "lot_id", "quantity", "cost_basis", "acquired"]
        ].copy()
        lots["account_id"], lots["symbol"] = _as_str(lots["account_id"]), lots["symbol"].astype(str)
        lots = lots[lots["account_id"].isin(taxable_ids)]
        lots["quantity"] = pd.to_numeric(lots["quantity"], errors="coerce")
        lots["cost_basis"] = pd.to_numeric(lots["cost_basis"], errors="coerce")
        acquired = pd.to_datetime(lots["acquired"], errors="coerce")
        bad_lot = (
            ~np.isfinite(lots["quantity"].fillna(np.nan))
            | (lots["quantity"] < 0)
            | ~np.isfinite(lots["cost_basis"].fillna(np.nan))
            | (lots["cost_basis"] < 0)
            | acquired.isna()
        )
        rejected.append(_reject(lots, bad_lot, "invalid tax lot of " + lots["symbol"]))
        lots["age_days"] = (as_of_day - acquired.dt.normalize()).dt.days.astype(float)
    else:
        lots = pd.DataFrame(
            {"account_id": pd.Series(dtype=object), "symbol": pd.Series(dtype=str),
             "lot_id": pd.Series(dtype=str), "quantity": pd.Series(dtype=float),
             "cost_basis": pd.Series(dtype=float), "age_days": pd.Series(dtype=float)}
        )  # fmt: skip
    lot_sum = lots.groupby(["account_id", "symbol"])["quantity"].sum().rename("lot_quantity")
    check = slots[slots["account_id"].isin(taxable_ids)].merge(
        lot_sum.reset_index(), on=["account_id", "symbol"], how="outer"
    )
    check["quantity"] = check["quantity"].fillna(0.0)
    check["lot_quantity"] = check["lot_quantity"].fillna(0.0)
    mismatch = (check["quantity"] - check["lot_quantity"]).abs() > _QTY_TOL * np.maximum(
        1.0, check["quantity"].abs()
    )
    rejected.append(
        _reject(
            check,
            mismatch,
            "tax lots of "
            + check["symbol"]
            + " hold "
            + check["lot_quantity"].round(6).astype(str)
            + " units, the holding is "
            + check["quantity"].round(6).astype(str),
        )
    )

    # Restrictions.
    restr = (
        restrictions[["account_id", "symbol", "restriction"]].copy()
        if restrictions is not None and not restrictions.empty
        else pd.DataFrame({"account_id": [], "symbol": [], "restriction": []}, dtype=object)
    )
    restr["account_id"], restr["symbol"] = _as_str(restr["account_id"]), restr["symbol"].astype(str)
    restr["restriction"] = restr["restriction"].astype(str).str.lower()
    restr = restr[restr["account_id"].isin(ids)]
    rejected.append(
        _reject(
            restr,
            ~restr["restriction"].isin(RESTRICTION_KINDS),
            "unknown restriction " + restr["restriction"],
        )
    )

    rej = pd.concat(
        [r for r in rejected if not r.empty] or [pd.DataFrame(columns=["account_id", "reason"])]
    )
    rej = rej.drop_duplicates("account_id", keep="first").reset_index(drop=True)
    bad = set(rej["account_id"])
    keep_acc = (
        acc[~acc["account_id"].isin(bad)]
        .sort_values("account_id", kind="stable")
        .reset_index(drop=True)
    )
    cash_weight = mp[mp["symbol"] == CASH].drop_duplicates("model_id").set_index("model_id")
    arrays = _dense(
        keep_acc,
        keep_acc["model_id"].astype(str).map(cash_weight["target_weight"]).fillna(0.0),
        slots[~slots["account_id"].isin(bad)],
        lots[~lots["account_id"].isin(bad)],
        restr[~restr["account_id"].isin(bad)],
        transactions,
        crypto,
        as_of_ts,
        policy,
    )
    return Book(arrays=arrays, rejected=rej[["account_id", "reason"]].astype(str))


def _dense(
    acc: pd.DataFrame,
    cash_target: pd.Series,
    slots: pd.DataFrame,
    lots: pd.DataFrame,
    restr: pd.DataFrame,
    transactions: pd.DataFrame | None,
    crypto: set[str],
    as_of: pd.Timestamp,
    policy: Policy,
) -> BookArrays:
    n = len(acc)
    row_of = pd.Series(np.arange(n), index=acc["account_id"].to_numpy())
    slots = slots.assign(row=slots["account_id"].map(row_of).to_numpy())
    slots = slots.sort_values(["row", "symbol"], kind="stable").reset_index(drop=True)
    row = slots["row"].to_numpy(dtype=np.int64)
    col = slots.groupby("row", sort=False).cumcount().to_numpy(dtype=np.int64)
    k = int(col.max()) + 1 if col.size else 0

    def grid(values: np.ndarray, fill: Any, dtype: Any) -> np.ndarray:
        out: np.ndarray = np.full((n, k), fill, dtype=dtype)
        out[row, col] = values
        return out

    frac_account = acc["fractional_shares"].astype(bool).to_numpy()
    sym = slots["symbol"].to_numpy(dtype=object)
    is_crypto = (
        np.isin(sym, np.array(sorted(crypto), dtype=object)) if crypto else np.zeros(row.size, bool)
    )
    household = acc["household_id"].astype(str).to_numpy()
    slot_household = household[row] if row.size else np.zeros(0, dtype=object)
    key = pd.MultiIndex.from_arrays([slot_household, sym])
    buy_block_pairs, loss_block_pairs = wash_sale_blocks(transactions, as_of, policy.wash_sale_days)
    buy_block = (
        key.isin(pd.MultiIndex.from_frame(buy_block_pairs))
        if len(buy_block_pairs)
        else np.zeros(row.size, bool)
    )
    loss_block = (
        key.isin(pd.MultiIndex.from_frame(loss_block_pairs))
        if len(loss_block_pairs)
        else np.zeros(row.size, bool)
    )
    taxable = (acc["account_type"].astype(str).str.lower() == "taxable").to_numpy()
    slot_key = pd.MultiIndex.from_arrays([slots["account_id"].to_numpy(dtype=object), sym])
    kinds = {}
    for kind in RESTRICTION_KINDS:
        pairs = restr[restr["restriction"] == kind]
        kinds[kind] = (
            slot_key.isin(
                pd.MultiIndex.from_arrays(
                    [
                        pairs["account_id"].to_numpy(dtype=object),
                        pairs["symbol"].to_numpy(dtype=object),
                    ]
                )
            )
            if len(pairs)
            else np.zeros(row.size, bool)
        )

    last = (
        pd.to_datetime(acc["last_rebalanced"], errors="coerce")
        if "last_rebalanced" in acc
        else pd.Series(pd.NaT, index=acc.index)
    )
    days = (as_of.normalize() - last.dt.normalize()).dt.days.astype(float).fillna(np.inf).to_numpy()

    lot_slot = lots.merge(
        slots[["account_id", "symbol"]].assign(lrow=row, lcol=col),
        on=["account_id", "symbol"],
        how="inner",
    ).sort_values(["lrow", "lcol", "lot_id"], kind="stable")
    lot_arrays = LotArrays(
        row=lot_slot["lrow"].to_numpy(dtype=np.int64),
        col=lot_slot["lcol"].to_numpy(dtype=np.int64),
        lot_id=lot_slot["lot_id"].astype(str).to_numpy(dtype=object),
        quantity=lot_slot["quantity"].to_numpy(dtype=float),
        cost_basis=lot_slot["cost_basis"].to_numpy(dtype=float),
        age_days=lot_slot["age_days"].to_numpy(dtype=float),
    )
    return BookArrays(
        account_id=acc["account_id"].to_numpy(dtype=object),
        cash=pd.to_numeric(acc["cash"]).to_numpy(dtype=float),
        cash_flow=pd.to_numeric(acc["pending_cash_flow"]).to_numpy(dtype=float),
        cash_target=cash_target.to_numpy(dtype=float),
        taxable=taxable,
        days_since_rebalance=days,
        symbol=grid(sym, "", object),
        valid=grid(np.ones(row.size, bool), False, bool),
        quantity=grid(slots["quantity"].to_numpy(dtype=float), 0.0, float),
        price=grid(slots["price"].to_numpy(dtype=float), 1.0, float),
        target=grid(slots["target_weight"].to_numpy(dtype=float), 0.0, float),
        fractional=grid(frac_account[row] | is_crypto, False, bool),
        restricted=grid(kinds["restricted"], False, bool),
        do_not_trade=grid(kinds["do_not_trade"], False, bool),
        wash_buy_block=grid(np.asarray(buy_block, dtype=bool), False, bool),
        wash_loss_block=grid(np.asarray(loss_block, dtype=bool) & taxable[row], False, bool),
        lots=lot_arrays,
    )
