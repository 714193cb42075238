"""From book tables (pandas) to engine arrays, with validation. Pure: no I/O, no clock.

Invalid accounts are collected with a reason naming the account; :func:`build_book` returns
them so a batch run can skip and report them, and the single-account path raises
:class:`~rebalancer.errors.InvalidAccountError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from rebalancer._arrow import codes as _codes
from rebalancer._arrow import member as _member
from rebalancer.engine._arrays import BookArrays
from rebalancer.engine._drift import padded_width
from rebalancer.engine._policy import Policy
from rebalancer.engine._small_book import small_book
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
    """Identifiers as Python strings (None stays None), cheap when already clean strings."""
    if pd.api.types.is_string_dtype(series.dtype) and not series.isna().any():
        return series
    return (
        series.astype(object).where(series.notna(), None).map(lambda v: v if v is None else str(v))
    )


def _distinct(column: pd.Series) -> set[str]:
    """The distinct non-null values as Python strings (hashing in Arrow, not Python)."""
    return {str(v) for v in column.dropna().unique()}


def _domain(column: pd.Series) -> pd.Series:
    """The distinct non-null values, kept as a (possibly Arrow-backed) Series: a membership
    domain for :func:`_member` that is never turned into Python strings."""
    return column.dropna().astype(str).drop_duplicates()


def _price_series(prices: Mapping[str, float] | pd.Series) -> pd.Series:
    series = prices if isinstance(prices, pd.Series) else pd.Series(dict(prices), dtype=float)
    series = pd.to_numeric(series, errors="coerce")
    series.index = series.index.astype(str)
    return series[~series.index.duplicated(keep="last")]


#: What :func:`_reject` returns when nothing is flagged (callers only read it).
_NO_REJECTS = pd.DataFrame(
    {"account_id": pd.Series(dtype=object), "reason": pd.Series(dtype=object)}
)


def _reject(
    frame: pd.DataFrame,
    mask: pd.Series | np.ndarray,
    reason: str | pd.Series | Callable[[pd.DataFrame], pd.Series],
) -> pd.DataFrame:
    """``(account_id, reason)`` of the flagged rows; a callable reason sees only those rows."""
    flags = np.asarray(mask, dtype=bool)
    if not flags.any():
        return _NO_REJECTS  # shared (never modified): most checks flag nothing
    bad = frame.loc[flags]
    rows = bad[["account_id"]].copy()
    if callable(reason):
        rows["reason"] = reason(bad).to_numpy()
    elif isinstance(reason, str):
        rows["reason"] = reason
    else:
        rows["reason"] = reason[flags].to_numpy()
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
    a missing pending cash flow or household, an unknown account type, an unknown model or one
    whose targets are negative, duplicated or do not sum to 1, a negative or missing quantity, a
    duplicate holding, a symbol missing from ``securities``, a missing or non-positive price,
    tax lots of a taxable account that do not sum to its holding, or an unknown restriction kind.
    An account with several faults is listed once, with the first (in that order).
    """
    policy = policy or Policy()
    as_of_ts = _naive_utc(as_of)
    px = _price_series(prices)
    # A household with nothing to reject: laid out without pandas (the same arrays).
    lean = small_book(
        accounts, model_portfolios, holdings, px, as_of=as_of_ts, securities=securities,
        tax_lots=tax_lots, restrictions=restrictions, transactions=transactions, policy=policy,
    )  # fmt: skip
    if lean is not None:
        return Book(arrays=lean, rejected=_NONE_REJECTED.copy())
    return _build_full(
        accounts, model_portfolios, holdings, px, as_of_ts, securities, tax_lots, restrictions,
        transactions, policy,
    )  # fmt: skip


def _build_full(
    accounts: pd.DataFrame,
    model_portfolios: pd.DataFrame,
    holdings: pd.DataFrame,
    px: pd.Series,
    as_of_ts: pd.Timestamp,
    securities: pd.DataFrame | None,
    tax_lots: pd.DataFrame | None,
    restrictions: pd.DataFrame | None,
    transactions: pd.DataFrame | None,
    policy: Policy,
) -> Book:
    """:func:`build_book` in pandas: every check, every rejection reason, any book size."""
    acc, acc_type, rejected = _check_accounts(accounts)
    known_symbols, crypto = _symbol_sets(securities)
    mp, model_id, model_rejects = _check_models(model_portfolios, acc, known_symbols)
    ids = _domain(acc["account_id"])
    h, holding_rejects = _check_holdings(holdings, ids, known_symbols)
    slots, price_rejects = _slots(acc, model_id, mp, h, px)
    taxable_ids = _domain(acc.loc[acc_type == "taxable", "account_id"])
    lots, lot_rejects = _check_lots(tax_lots, taxable_ids, as_of_ts.normalize())
    mismatch = _lot_mismatch(slots, lots, taxable_ids)
    restr, restr_rejects = _check_restrictions(restrictions, ids)
    rejected += [*model_rejects, *holding_rejects, price_rejects, *lot_rejects, mismatch]
    rejected.append(restr_rejects)
    rej = pd.concat(
        [r for r in rejected if not r.empty] or [pd.DataFrame(columns=["account_id", "reason"])]
    )
    rej = rej.drop_duplicates("account_id", keep="first").reset_index(drop=True)
    bad = _distinct(rej["account_id"])
    keep_acc = (
        acc[~_member(acc["account_id"], bad)]
        .sort_values("account_id", kind="stable")
        .reset_index(drop=True)
    )
    cash_weight = mp[mp["symbol"] == CASH].drop_duplicates("model_id").set_index("model_id")
    arrays = _dense(
        keep_acc,
        keep_acc["model_id"].astype(str).map(cash_weight["target_weight"]).fillna(0.0),
        slots[~_member(slots["account_id"], bad)],
        lots[~_member(lots["account_id"], bad)],
        restr[~_member(restr["account_id"], bad)],
        transactions,
        crypto,
        as_of_ts,
        policy,
    )
    return Book(arrays=arrays, rejected=rej[["account_id", "reason"]].astype(str))


#: The rejections of a book with none, as :func:`_build_full` frames them.
_NONE_REJECTED = pd.DataFrame(columns=["account_id", "reason"]).astype(str)


def _naive_utc(as_of: pd.Timestamp | str) -> pd.Timestamp:
    """``as_of`` as a naive UTC timestamp (dates compare with the lots' naive dates)."""
    as_of_ts = pd.Timestamp(as_of)
    if as_of_ts.tzinfo is not None:
        as_of_ts = as_of_ts.tz_convert("UTC").tz_localize(None)
    return as_of_ts


def _check_accounts(accounts: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, list[pd.DataFrame]]:
    """``(accounts, lower-case account type, rejections)``: rows without an id are dropped,
    ids become strings, and a bad cash, flow, household or type rejects the account."""
    acc = accounts.copy()
    acc["account_id"] = _as_str(acc["account_id"])
    acc = acc[acc["account_id"].notna()].reset_index(drop=True)
    cash = pd.to_numeric(acc["cash"], errors="coerce")
    flow = pd.to_numeric(acc["pending_cash_flow"], errors="coerce")
    acc_type = acc["account_type"].astype(str).str.lower()
    rejected = [
        _reject(acc, acc["account_id"].duplicated(keep=False), "duplicate account row"),
        _reject(acc, ~np.isfinite(cash.fillna(np.nan)) | (cash < 0), "cash is missing or negative"),
        _reject(acc, ~np.isfinite(flow.fillna(np.nan)), "pending_cash_flow is missing"),
        _reject(
            acc,
            acc["household_id"].isna() | (acc["household_id"].astype(str).str.strip() == ""),
            "household_id is missing",
        ),
        _reject(
            acc,
            ~_member(acc_type, ACCOUNT_TYPES),
            "account_type " + acc_type + " is not one of taxable, ira, roth",
        ),
    ]
    return acc, acc_type, rejected


def _symbol_sets(securities: pd.DataFrame | None) -> tuple[set[str] | None, set[str]]:
    """``(known symbols, crypto symbols)``; ``None``: no securities table, nothing checked."""
    if securities is None or securities.empty:
        return None, set()
    crypto = set(
        securities.loc[
            securities["asset_class"].astype(str).isin(FRACTIONAL_ASSET_CLASSES), "symbol"
        ].astype(str)
    )
    return set(securities["symbol"].astype(str)), crypto


def _check_models(
    model_portfolios: pd.DataFrame, acc: pd.DataFrame, known_symbols: set[str] | None
) -> tuple[pd.DataFrame, pd.Series, list[pd.DataFrame]]:
    """``(model rows, each account's model id, rejections)``: an account whose model is
    unknown or invalid (see :func:`_bad_models`) is rejected with the model's fault."""
    mp, bad_model, totals = _model_table(model_portfolios, known_symbols)
    model_id = acc["model_id"].astype(str)
    has_model = pd.Series(_member(model_id, totals.index), index=acc.index)
    model_reason = model_id.map(bad_model)
    return (
        mp,
        model_id,
        [
            _reject(acc, ~has_model, "unknown model " + model_id),
            _reject(acc, model_reason.notna() & has_model, model_reason),
        ],
    )


#: Model tables checked, by content: the API checks the same few models on every call.
_MODEL_TABLES: dict[object, tuple[pd.DataFrame, dict[str, str], pd.Series]] = {}
#: Model tables up to this many rows are remembered.
_MODEL_TABLE_ROWS = 10_000


def _model_table(
    model_portfolios: pd.DataFrame, known_symbols: set[str] | None
) -> tuple[pd.DataFrame, dict[str, str], pd.Series]:
    """``(model rows, model id -> its first fault, each model's target sum)``, remembered by
    content (each value with its type, and the known symbols): the result is a pure function
    of them, and callers only read it."""
    names = ["model_id", "symbol", "target_weight"]
    key: object = None
    if len(model_portfolios) <= _MODEL_TABLE_ROWS and model_portfolios.columns.is_unique:
        try:  # the key from the columns themselves: a hit selects nothing
            values = [model_portfolios[c].tolist() for c in names]
            key = (
                tuple((type(v), v) for column in values for v in column),
                len(model_portfolios),
                None if known_symbols is None else frozenset(known_symbols),
            )
            hit = _MODEL_TABLES.get(key)
        except TypeError:  # an unhashable value: not remembered
            key = hit = None
        if hit is not None:
            return hit
    mp = model_portfolios[names].copy()
    mp["model_id"], mp["symbol"] = mp["model_id"].astype(str), mp["symbol"].astype(str)
    mp["target_weight"] = pd.to_numeric(mp["target_weight"], errors="coerce")
    bad_model, totals = _bad_models(mp, known_symbols)
    if key is not None:
        if len(_MODEL_TABLES) >= 64:
            _MODEL_TABLES.clear()
        _MODEL_TABLES[key] = (mp, bad_model, totals)
    return mp, bad_model, totals


def _bad_models(
    mp: pd.DataFrame, known_symbols: set[str] | None
) -> tuple[dict[str, str], pd.Series]:
    """``(model id -> its first fault, each model's target sum)``: a target outside [0, 1],
    a symbol listed twice, an unknown symbol, or targets that do not sum to 1."""
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
        unknown = mp[(mp["symbol"] != CASH) & ~_member(mp["symbol"], known_symbols)]
        for model_id, sym in (
            unknown[["model_id", "symbol"]].drop_duplicates("model_id").itertuples(index=False)
        ):
            bad_model.setdefault(model_id, f"model {model_id} targets unknown symbol {sym}")
    totals = mp.groupby("model_id")["target_weight"].sum()
    for model_id, total in totals[(totals - 1).abs() > _WEIGHT_TOL].items():
        bad_model.setdefault(
            str(model_id), f"targets of model {model_id} sum to {total:.6f}, not 1"
        )
    return bad_model, totals


def _check_holdings(
    holdings: pd.DataFrame, ids: pd.Series, known_symbols: set[str] | None
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """``(holdings of the known accounts, rejections)``: a negative or missing quantity, a
    duplicate holding, CASH held as a security, or an unknown symbol rejects the account."""
    h = holdings[["account_id", "symbol", "quantity"]].copy()
    h["account_id"], h["symbol"] = _as_str(h["account_id"]), h["symbol"].astype(str)
    h = h[_member(h["account_id"], ids)]
    h["quantity"] = pd.to_numeric(h["quantity"], errors="coerce")
    q = h["quantity"]
    rejected = [
        _reject(
            h,
            ~np.isfinite(q.fillna(np.nan)) | (q < 0),
            lambda b: "negative or missing quantity of " + b["symbol"],
        ),
        _reject(
            h,
            h.duplicated(["account_id", "symbol"], keep=False),
            lambda b: "duplicate holding of " + b["symbol"],
        ),
        _reject(h, h["symbol"] == CASH, "holds CASH as a security (cash belongs in accounts.cash)"),
    ]
    if known_symbols is not None:
        rejected.append(
            _reject(
                h, ~_member(h["symbol"], known_symbols), lambda b: "unknown symbol " + b["symbol"]
            )
        )
    return h, rejected


def _slots(
    acc: pd.DataFrame, model_id: pd.Series, mp: pd.DataFrame, h: pd.DataFrame, px: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(slots, rejections)``: every held symbol and every model symbol of each account, with
    its quantity, target and price; a slot without a positive price rejects the account."""
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
    # Look each distinct symbol up once (a map over a million slots is 5x slower).
    codes, distinct = pd.factorize(slots["symbol"], use_na_sentinel=True)
    found = px.index.get_indexer(pd.Index(distinct, dtype=object))
    lookup = np.full(len(distinct) + 1, np.nan)  # the last entry: a missing symbol
    lookup[:-1][found >= 0] = px.to_numpy(dtype=float)[found[found >= 0]]
    slots["price"] = lookup[np.where(codes >= 0, codes, len(distinct))]
    no_price = ~np.isfinite(slots["price"].to_numpy()) | ~(slots["price"].to_numpy() > 0)
    return slots, _reject(slots, no_price, lambda b: "no valid price for " + b["symbol"])


def _check_lots(
    tax_lots: pd.DataFrame | None, taxable_ids: pd.Series, as_of_day: pd.Timestamp
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """``(lots of taxable accounts with their age in days, rejections)``: a lot with a bad
    quantity, cost basis or acquisition date rejects the account."""
    if tax_lots is None or tax_lots.empty:
        empty = pd.DataFrame(
            {"account_id": pd.Series(dtype=object), "symbol": pd.Series(dtype=str),
             "lot_id": pd.Series(dtype=str), "quantity": pd.Series(dtype=float),
             "cost_basis": pd.Series(dtype=float), "age_days": pd.Series(dtype=float)}
        )  # fmt: skip
        return empty, []
    lots = tax_lots[["account_id", "symbol", "lot_id", "quantity", "cost_basis", "acquired"]].copy()
    lots["account_id"], lots["symbol"] = _as_str(lots["account_id"]), lots["symbol"].astype(str)
    lots = lots[_member(lots["account_id"], taxable_ids)]
    lots["quantity"] = pd.to_numeric(lots["quantity"], errors="coerce")
    lots["cost_basis"] = pd.to_numeric(lots["cost_basis"], errors="coerce")
    acquired_day = _to_days(lots["acquired"])
    bad_lot = (
        ~np.isfinite(lots["quantity"].fillna(np.nan))
        | (lots["quantity"] < 0)
        | ~np.isfinite(lots["cost_basis"].fillna(np.nan))
        | (lots["cost_basis"] < 0)
        | np.isnat(acquired_day)
    )
    rejected = [_reject(lots, bad_lot, lambda b: "invalid tax lot of " + b["symbol"])]
    today = np.datetime64(as_of_day.date(), "D")
    lots["age_days"] = _days_between(today, acquired_day)
    return lots, rejected


def _lot_mismatch(slots: pd.DataFrame, lots: pd.DataFrame, taxable_ids: pd.Series) -> pd.DataFrame:
    """Rejections of taxable accounts whose lots do not add up to the holding, per (account,
    symbol): integer keys, no string joins."""
    taxable_slots = slots[_member(slots["account_id"], taxable_ids)]
    universe = pd.Index(
        sorted(_distinct(taxable_slots["symbol"]) | _distinct(lots["symbol"])), dtype=object
    )
    accts = pd.Index(sorted(map(str, taxable_ids)), dtype=object)
    width = max(len(universe), 1)
    slot_key = _codes(taxable_slots["account_id"], accts) * width + _codes(
        taxable_slots["symbol"], universe
    )
    lot_key = _codes(lots["account_id"], accts) * width + _codes(lots["symbol"], universe)
    lot_total = pd.Series(lots["quantity"].to_numpy(dtype=float)).groupby(lot_key).sum()
    held = pd.Series(taxable_slots["quantity"].to_numpy(dtype=float), index=slot_key)
    keys = lot_total.index.union(held.index)
    check = pd.DataFrame(
        {
            "quantity": held.groupby(level=0).sum().reindex(keys, fill_value=0.0).to_numpy(),
            "lot_quantity": lot_total.reindex(keys, fill_value=0.0).to_numpy(),
            "account_id": accts.to_numpy()[keys.to_numpy() // width],
            "symbol": universe.to_numpy()[keys.to_numpy() % width],
        }
    )
    mismatch = (check["quantity"] - check["lot_quantity"]).abs() > _QTY_TOL * np.maximum(
        1.0, check["quantity"].abs()
    )
    return _reject(
        check,
        mismatch,
        lambda b: (
            "tax lots of "
            + b["symbol"]
            + " hold "
            + b["lot_quantity"].round(6).astype(str)
            + " units, the holding is "
            + b["quantity"].round(6).astype(str)
        ),
    )


def _check_restrictions(
    restrictions: pd.DataFrame | None, ids: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(restrictions of the known accounts, rejections)``: an unknown kind rejects."""
    restr = (
        restrictions[["account_id", "symbol", "restriction"]].copy()
        if restrictions is not None and not restrictions.empty
        else pd.DataFrame({"account_id": [], "symbol": [], "restriction": []}, dtype=object)
    )
    restr["account_id"], restr["symbol"] = _as_str(restr["account_id"]), restr["symbol"].astype(str)
    restr["restriction"] = restr["restriction"].astype(str).str.lower()
    restr = restr[_member(restr["account_id"], ids)]
    return restr, _reject(
        restr,
        ~_member(restr["restriction"], RESTRICTION_KINDS),
        lambda b: "unknown restriction " + b["restriction"],
    )


class _Layout(NamedTuple):
    """Where each slot goes in the dense ``(accounts x k)`` arrays (integer codes).

    Rows are the accounts in order, and each account's symbols fill its columns in
    alphabetical order; ``row``, ``code`` (symbol), ``col`` are per slot, sorted that way
    (``order``: from the slots table to that order); ``slot_col[row, code]`` is the column.
    """

    n: int
    k: int
    accounts: pd.Index
    symbols: pd.Index
    row: np.ndarray
    code: np.ndarray
    col: np.ndarray
    order: np.ndarray
    slot_col: np.ndarray

    @property
    def n_sym(self) -> int:
        """Symbol codes per account in a flat ``(account or household, symbol)`` key."""
        return max(len(self.symbols), 1)

    def grid(self, values: np.ndarray, fill: Any, dtype: Any) -> np.ndarray:
        """Per-slot ``values`` (in layout order) as an ``(n, k)`` array, ``fill`` elsewhere."""
        out: np.ndarray = np.full((self.n, self.k), fill, dtype=dtype)
        out[self.row, self.col] = values
        return out

    def pair_codes(self, first_codes: np.ndarray, pair_symbols: pd.Series) -> np.ndarray:
        """``first x n_sym + symbol`` keys of (account or household, symbol) pairs."""
        sym_codes = _codes(pair_symbols, self.symbols)
        ok = (first_codes >= 0) & (sym_codes >= 0)
        return np.asarray(first_codes[ok] * self.n_sym + sym_codes[ok], dtype=np.int64)


def _layout(acc: pd.DataFrame, slots: pd.DataFrame) -> _Layout:
    """The dense layout of the slots: integer codes and a sort, no string joins."""
    n = len(acc)
    accounts = pd.Index(acc["account_id"].astype(object))
    symbols = pd.Index(sorted(_distinct(slots["symbol"])), dtype=object)
    n_sym = max(len(symbols), 1)
    row = _codes(slots["account_id"], accounts)
    code = _codes(slots["symbol"], symbols)
    order = np.lexsort((code, row))  # accounts in order, symbols alphabetical within
    row, code = row[order], code[order]
    first = np.ones(row.size, dtype=bool)
    first[1:] = row[1:] != row[:-1]
    index = np.arange(row.size)
    col = index - np.maximum.accumulate(np.where(first, index, 0))
    k = padded_width(int(col.max()) + 1) if col.size else 0
    slot_col = np.full((n, n_sym), -1, dtype=np.int64)
    slot_col[row, code] = col
    return _Layout(n, k, accounts, symbols, row, code, col, order, slot_col)


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
    """Lay the validated tables out as dense arrays, with integer codes (no string joins)."""
    lay = _layout(acc, slots)
    row, code, order, grid = lay.row, lay.code, lay.order, lay.grid
    sym = lay.symbols.to_numpy(dtype=object)[code] if code.size else np.zeros(0, dtype=object)
    crypto_codes = lay.symbols.get_indexer(pd.Index(sorted(crypto), dtype=object))
    is_crypto = np.isin(code, crypto_codes[crypto_codes >= 0])
    frac_account = acc["fractional_shares"].astype(bool).to_numpy()
    taxable = (acc["account_type"].astype(str).str.lower() == "taxable").to_numpy()
    buy_block, loss_block = _wash_blocks(acc, lay, transactions, as_of, policy)
    kinds = _restriction_flags(restr, lay)
    return BookArrays(
        account_id=acc["account_id"].to_numpy(dtype=object),
        household=acc["household_id"].astype(str).to_numpy(dtype=object),
        cash=pd.to_numeric(acc["cash"]).to_numpy(dtype=float),
        cash_flow=pd.to_numeric(acc["pending_cash_flow"]).to_numpy(dtype=float),
        cash_target=cash_target.to_numpy(dtype=float),
        taxable=taxable,
        days_since_rebalance=_days_since_rebalance(acc, as_of),
        symbol=grid(sym, "", object),
        valid=grid(np.ones(row.size, bool), False, bool),
        quantity=grid(slots["quantity"].to_numpy(dtype=float)[order], 0.0, float),
        price=grid(slots["price"].to_numpy(dtype=float)[order], 1.0, float),
        target=grid(slots["target_weight"].to_numpy(dtype=float)[order], 0.0, float),
        fractional=grid(frac_account[row] | is_crypto, False, bool),
        restricted=grid(kinds["restricted"], False, bool),
        do_not_trade=grid(kinds["do_not_trade"], False, bool),
        wash_buy_block=grid(buy_block, False, bool),
        wash_loss_block=grid(loss_block & taxable[row], False, bool),
        lots=_lot_arrays(lots, lay),
    )


def _wash_blocks(
    acc: pd.DataFrame,
    lay: _Layout,
    transactions: pd.DataFrame | None,
    as_of: pd.Timestamp,
    policy: Policy,
) -> tuple[np.ndarray, np.ndarray]:
    """Per slot (layout order): ``(buy blocked, loss sale blocked)`` by the household's trades
    in the wash-sale window."""
    # Household codes only key the wash-sale pairs (equality, no order): factorize, no sort.
    acc_household, distinct_households = pd.factorize(acc["household_id"].astype(str))
    households = pd.Index(distinct_households, dtype=object)
    row = lay.row
    slot_household_key = acc_household[row] * lay.n_sym + lay.code if row.size else row
    buy_pairs, loss_pairs = wash_sale_blocks(transactions, as_of, policy.wash_sale_days)
    buy_block = np.isin(
        slot_household_key,
        lay.pair_codes(_codes(buy_pairs["household_id"], households), buy_pairs["symbol"]),
    )
    loss_block = np.isin(
        slot_household_key,
        lay.pair_codes(_codes(loss_pairs["household_id"], households), loss_pairs["symbol"]),
    )
    return buy_block, loss_block


def _restriction_flags(restr: pd.DataFrame, lay: _Layout) -> dict[str, np.ndarray]:
    """Per restriction kind, per slot (layout order): whether the account restricts it."""
    slot_key = lay.row * lay.n_sym + lay.code
    kinds = {}
    for kind in RESTRICTION_KINDS:
        pairs = restr[restr["restriction"] == kind]
        kinds[kind] = np.isin(
            slot_key,
            lay.pair_codes(_codes(pairs["account_id"], lay.accounts), pairs["symbol"]),
        )
    return kinds


def _days_since_rebalance(acc: pd.DataFrame, as_of: pd.Timestamp) -> np.ndarray:
    """Days from each account's ``last_rebalanced`` to ``as_of`` (``inf``: never)."""
    last = (
        _to_days(acc["last_rebalanced"])
        if "last_rebalanced" in acc
        else np.full(len(acc), np.datetime64("NaT"), dtype="datetime64[D]")
    )
    today = np.datetime64(as_of.normalize().date(), "D")
    return np.where(np.isnat(last), np.inf, _days_between(today, last))


def _lot_arrays(lots: pd.DataFrame, lay: _Layout) -> LotArrays:
    """The lots of the laid-out slots, sorted by (row, column); lots of no slot are dropped."""
    lot_row = _codes(lots["account_id"], lay.accounts)
    lot_code = _codes(lots["symbol"], lay.symbols)
    lot_col = np.where(
        (lot_row >= 0) & (lot_code >= 0),
        lay.slot_col[np.maximum(lot_row, 0), np.maximum(lot_code, 0)],
        -1,
    )
    keep = np.flatnonzero(lot_col >= 0)
    keep = keep[np.lexsort((lot_col[keep], lot_row[keep]))]
    return LotArrays(
        row=lot_row[keep],
        col=lot_col[keep],
        lot_id=lots["lot_id"].astype(object).to_numpy()[keep],
        quantity=lots["quantity"].to_numpy(dtype=float)[keep],
        cost_basis=lots["cost_basis"].to_numpy(dtype=float)[keep],
        age_days=lots["age_days"].to_numpy(dtype=float)[keep],
    )


def _to_days(series: pd.Series) -> np.ndarray:
    """Dates (date objects, strings, timestamps, None) as ``datetime64[D]`` (NaT if missing)."""
    parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(parsed.to_numpy(), dtype="datetime64[D]")


def _days_between(later: np.datetime64, earlier: np.ndarray) -> np.ndarray:
    """Whole days from ``earlier`` to ``later`` as floats (NaN where ``earlier`` is NaT)."""
    delta = np.asarray(later - earlier, dtype="timedelta64[D]")
    return np.where(np.isnat(delta), np.nan, delta.astype(np.int64).astype(np.float64))
