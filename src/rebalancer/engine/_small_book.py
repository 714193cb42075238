"""A household's book as engine arrays, without pandas: the single-account path's builder.

:func:`~rebalancer.engine._book.build_book` spends most of a household's time in pandas' fixed
cost per operation (a few hundred operations of tens of microseconds on frames of a few rows).
:func:`small_book` lays a small, *clean* book out in plain Python and numpy instead. It decides
no rejection: at the first value the full path could reject (or one it would parse, coerce or
sum differently: a string number, a missing value, a non-ASCII account type, a lot total near
the tolerance) it returns ``None`` and the caller runs the full path, which words the reasons.
So the rules stay in one place and the arrays are the full path's exactly (a property test
compares both on random households, valid and not).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.engine._arrays import BookArrays
from rebalancer.engine._drift import padded_width
from rebalancer.engine._policy import Policy
from rebalancer.engine._tax import LotArrays
from rebalancer.engine._washsale import wash_sale_blocks

#: Books up to this many accounts (a household) and rows per table take the lean layout.
MAX_ACCOUNTS = 32
MAX_ROWS = 2_048

CASH = "CASH"
_ACCOUNT_TYPES = ("taxable", "ira", "roth")
_RESTRICTION_KINDS = ("restricted", "do_not_trade")
_FRACTIONAL_ASSET_CLASSES = ("crypto",)
_WEIGHT_TOL = 1e-6
_QTY_TOL = 1e-6
_NUMBERS = (np.dtype(np.float64), np.dtype(np.int64))


class _UncleanError(Exception):
    """A value the lean layout does not decide on: the full path takes the book."""


def small_book(
    accounts: pd.DataFrame,
    model_portfolios: pd.DataFrame,
    holdings: pd.DataFrame,
    px: pd.Series,
    *,
    as_of: pd.Timestamp,
    securities: pd.DataFrame | None,
    tax_lots: pd.DataFrame | None,
    restrictions: pd.DataFrame | None,
    transactions: pd.DataFrame | None,
    policy: Policy,
) -> BookArrays | None:
    """The arrays :func:`~rebalancer.engine._book.build_book` lays out for a small book with
    no rejected account, or ``None`` (too big, or the full path must decide)."""
    tables = (holdings, tax_lots, restrictions, transactions, model_portfolios)
    if not 0 < len(accounts) <= MAX_ACCOUNTS or any(
        t is not None and len(t) > MAX_ROWS for t in tables
    ):
        return None
    try:
        return _layout(
            accounts, model_portfolios, holdings, px, as_of, securities, tax_lots,
            restrictions, transactions, policy,
        )  # fmt: skip
    except _UncleanError:
        return None


def _require(ok: bool) -> None:
    if not ok:
        raise _UncleanError


def _strings(frame: pd.DataFrame, column: str) -> list[str]:
    """The column's values, every one a ``str`` (else unclean)."""
    values = frame[column].tolist()
    _require(all(type(v) is str for v in values))
    return values


def _numbers(frame: pd.DataFrame, column: str) -> list[float]:
    """A float64 or int64 column's values as floats (a parse or coercion: unclean)."""
    series = frame[column]
    _require(series.dtype in _NUMBERS)
    return [float(v) for v in series.tolist()]


def _days(frame: pd.DataFrame, column: str) -> np.ndarray:
    """:func:`~rebalancer.engine._book._to_days` of a column, plain dates without pandas."""
    values = frame[column].tolist()
    if all(type(v) is dt.date for v in values):
        return np.array(values, dtype="datetime64[D]").reshape(len(values))
    from rebalancer.engine._book import _to_days

    return _to_days(frame[column])


def _layout(
    accounts: pd.DataFrame,
    model_portfolios: pd.DataFrame,
    holdings: pd.DataFrame,
    px: pd.Series,
    as_of: pd.Timestamp,
    securities: pd.DataFrame | None,
    tax_lots: pd.DataFrame | None,
    restrictions: pd.DataFrame | None,
    transactions: pd.DataFrame | None,
    policy: Policy,
) -> BookArrays:
    from rebalancer.engine._book import _days_between, _model_table

    # accounts: every check of _check_accounts passes, or unclean
    ids = _strings(accounts, "account_id")
    _require(len(set(ids)) == len(ids))
    cash = _numbers(accounts, "cash")
    flow = _numbers(accounts, "pending_cash_flow")
    _require(all(math.isfinite(c) and c >= 0 for c in cash))
    _require(all(math.isfinite(f) for f in flow))
    households = _strings(accounts, "household_id")
    _require(all(h.isascii() and h.strip() != "" for h in households))
    kinds = _strings(accounts, "account_type")
    _require(all(k.isascii() and k.lower() in _ACCOUNT_TYPES for k in kinds))
    taxable_of = {a: k.lower() == "taxable" for a, k in zip(ids, kinds, strict=True)}
    models = _strings(accounts, "model_id")
    fractional = accounts["fractional_shares"]
    _require(fractional.dtype == np.dtype(bool))
    household_of = dict(zip(ids, households, strict=True))

    known, crypto = _symbol_sets(securities)
    mp, bad_model, totals = _model_table(model_portfolios, known)
    model_ids = set(map(str, totals.index))
    _require(all(m in model_ids and m not in bad_model for m in models))
    targets: dict[str, list[tuple[str, float]]] = {}
    cash_weight: dict[str, float] = {}
    for m, s, w in zip(
        mp["model_id"].tolist(), mp["symbol"].tolist(), mp["target_weight"].tolist(), strict=True
    ):
        if s == CASH:
            cash_weight.setdefault(m, w)
        else:
            targets.setdefault(m, []).append((s, w))

    # slots: held symbols and model symbols of each account, priced
    prices = dict(zip(px.index.tolist(), px.to_numpy(dtype=float).tolist(), strict=True))
    slots: dict[str, dict[str, list[float]]] = {a: {} for a in ids}  # symbol -> [qty, target]
    for a, s, q in _held(holdings, slots.keys(), known):
        slots[a][s] = [q, 0.0]
    for a, m in zip(ids, models, strict=True):
        for s, w in targets.get(m, ()):
            slots[a].setdefault(s, [0.0, 0.0])[1] = w
    for mine in slots.values():
        for s in mine:
            p = prices.get(s, math.nan)
            _require(math.isfinite(p) and p > 0)

    lots = _lots(tax_lots, {a for a, t in taxable_of.items() if t}, as_of, _days_between)
    _check_lot_totals(slots, taxable_of, lots)
    restricted = _restrictions(restrictions, set(ids))

    # the dense layout: accounts sorted, each account's symbols alphabetical
    order = sorted(ids)
    n = len(order)
    row_of = {a: i for i, a in enumerate(order)}
    width = max((len(slots[a]) for a in order), default=0)
    k = padded_width(width) if any(slots[a] for a in order) else 0
    symbol = np.full((n, k), "", dtype=object)
    valid = np.zeros((n, k), dtype=bool)
    quantity = np.zeros((n, k))
    price = np.ones((n, k))
    target = np.zeros((n, k))
    frac = np.zeros((n, k), dtype=bool)
    flags = {kind: np.zeros((n, k), dtype=bool) for kind in _RESTRICTION_KINDS}
    buy_block = np.zeros((n, k), dtype=bool)
    loss_block = np.zeros((n, k), dtype=bool)
    buy_pairs, loss_pairs = _wash_pairs(transactions, as_of, policy.wash_sale_days)
    frac_of = dict(zip(ids, fractional.to_numpy().tolist(), strict=True))
    col_of: dict[tuple[str, str], int] = {}
    for r, a in enumerate(order):
        household, taxable = household_of[a], taxable_of[a]
        for c, s in enumerate(sorted(slots[a])):
            col_of[a, s] = c
            q, w = slots[a][s]
            symbol[r, c], valid[r, c], quantity[r, c], target[r, c] = s, True, q, w
            price[r, c] = prices[s]
            frac[r, c] = frac_of[a] or s in crypto
            for kind in _RESTRICTION_KINDS:
                flags[kind][r, c] = (a, s, kind) in restricted
            buy_block[r, c] = (household, s) in buy_pairs
            loss_block[r, c] = taxable and (household, s) in loss_pairs
    position = {a: i for i, a in enumerate(ids)}  # input row of each account
    take = [position[a] for a in order]
    today = np.datetime64(as_of.normalize().date(), "D")
    last = (
        _days(accounts, "last_rebalanced")
        if "last_rebalanced" in accounts
        else np.full(len(ids), np.datetime64("NaT"), dtype="datetime64[D]")
    )
    since = np.where(np.isnat(last), np.inf, _days_between(today, last))
    return BookArrays(
        account_id=np.array(order, dtype=object),
        household=np.array([household_of[a] for a in order], dtype=object),
        cash=np.array(cash, dtype=float)[take],
        cash_flow=np.array(flow, dtype=float)[take],
        cash_target=np.array([cash_weight.get(models[i], 0.0) for i in take], dtype=float),
        taxable=np.array([taxable_of[a] for a in order], dtype=bool),
        days_since_rebalance=since[take],
        symbol=symbol,
        valid=valid,
        quantity=quantity,
        price=price,
        target=target,
        fractional=frac,
        restricted=flags["restricted"],
        do_not_trade=flags["do_not_trade"],
        wash_buy_block=buy_block,
        wash_loss_block=loss_block,
        lots=_lot_arrays(lots, row_of, col_of),
    )


def _symbol_sets(securities: pd.DataFrame | None) -> tuple[set[str] | None, set[str]]:
    """:func:`~rebalancer.engine._book._symbol_sets` for a table of string symbols."""
    if securities is None or securities.empty:
        return None, set()
    symbols = _strings(securities, "symbol")
    classes = securities["asset_class"].tolist()
    _require(all(type(c) is str for c in classes))
    crypto = {s for s, c in zip(symbols, classes, strict=True) if c in _FRACTIONAL_ASSET_CLASSES}
    return set(symbols), crypto


def _held(
    holdings: pd.DataFrame, ids: Collection[str], known: set[str] | None
) -> list[tuple[str, str, float]]:
    """``(account, symbol, quantity)`` of the holdings of ``ids`` (other accounts' rows are
    dropped, as the full path drops them); one :func:`_check_holdings` would reject is
    unclean."""
    rows = [
        row
        for row in zip(
            _strings(holdings, "account_id"),
            _strings(holdings, "symbol"),
            _numbers(holdings, "quantity"),
            strict=True,
        )
        if row[0] in ids
    ]
    seen: set[tuple[str, str]] = set()
    for a, s, q in rows:
        _require(math.isfinite(q) and q >= 0 and s != CASH and (known is None or s in known))
        _require((a, s) not in seen)
        seen.add((a, s))
    return rows


def _lots(
    tax_lots: pd.DataFrame | None, taxable: set[str], as_of: pd.Timestamp, days_between: Any
) -> list[tuple[str, str, object, float, float, float]]:
    """``(account, symbol, lot id, quantity, cost basis, age in days)`` of the taxable
    accounts' lots, in table order; a lot :func:`_check_lots` would reject is unclean."""
    if tax_lots is None or tax_lots.empty:
        return []
    accounts = _strings(tax_lots, "account_id")
    mine = [i for i, a in enumerate(accounts) if a in taxable]
    if not mine:
        return []
    symbols = _strings(tax_lots, "symbol")
    qty, basis = _numbers(tax_lots, "quantity"), _numbers(tax_lots, "cost_basis")
    lot_ids = tax_lots["lot_id"].astype(object).to_numpy()
    acquired = _days(tax_lots, "acquired")[mine]
    _require(not bool(np.isnat(acquired).any()))
    age = days_between(np.datetime64(as_of.normalize().date(), "D"), acquired)
    out = []
    for i, days in zip(mine, age.tolist(), strict=True):
        q, b = qty[i], basis[i]
        _require(math.isfinite(q) and q >= 0 and math.isfinite(b) and b >= 0)
        out.append((accounts[i], symbols[i], lot_ids[i], q, b, float(days)))
    return out


def _check_lot_totals(
    slots: Mapping[str, Mapping[str, list[float]]],
    taxable_of: Mapping[str, bool],
    lots: list[tuple[str, str, object, float, float, float]],
) -> None:
    """Every taxable (account, symbol)'s lots add up to its holding, clearly inside the
    tolerance (near it, the full path's summation order decides)."""
    total: dict[tuple[str, str], float] = {}
    for a, s, _, q, _, _ in lots:
        total[a, s] = total.get((a, s), 0.0) + q
    held = {(a, s): v[0] for a, mine in slots.items() if taxable_of[a] for s, v in mine.items()}
    for key in held.keys() | total.keys():
        q = held.get(key, 0.0)
        _require(abs(q - total.get(key, 0.0)) <= 0.5 * _QTY_TOL * max(1.0, abs(q)))


def _restrictions(restrictions: pd.DataFrame | None, ids: set[str]) -> set[tuple[str, str, str]]:
    """``(account, symbol, kind)`` of the book's accounts; an unknown kind is unclean."""
    if restrictions is None or restrictions.empty:
        return set()
    out = set()
    for a, s, kind in zip(
        _strings(restrictions, "account_id"),
        _strings(restrictions, "symbol"),
        _strings(restrictions, "restriction"),
        strict=True,
    ):
        if a in ids:
            _require(kind.isascii() and kind.lower() in _RESTRICTION_KINDS)
            out.add((a, s, kind.lower()))
    return out


def _wash_pairs(
    transactions: pd.DataFrame | None, as_of: pd.Timestamp, days: int
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """:func:`wash_sale_blocks` as sets of ``(household, symbol)``: ``(buys blocked, loss
    sales blocked)``; plain dates, sides and gains without pandas."""
    if transactions is None or transactions.empty:
        return set(), set()
    cols = ("household_id", "symbol", "side", "trade_date")
    values = [transactions[c].tolist() for c in cols]
    gains = transactions["realized_gain"]
    plain = gains.dtype in _NUMBERS and all(type(v) is str for column in values[:3] for v in column)
    plain = plain and all(type(d) is dt.date for d in values[3])
    plain = plain and all(side.isascii() for side in values[2])
    if not plain:
        blocked_buys, blocked_losses = wash_sale_blocks(transactions, as_of, days)
        return _pairs(blocked_buys), _pairs(blocked_losses)
    day = as_of.tz_localize(None) if as_of.tzinfo else as_of
    today = day.normalize().date()
    loss_sales: set[tuple[str, str]] = set()
    buys: set[tuple[str, str]] = set()
    for h, s, side, when, gain in zip(*values, gains.tolist(), strict=True):
        if not 0 <= (today - when).days <= days:
            continue
        side = side.upper()
        if side == "SELL" and gain < 0:
            loss_sales.add((h, s))
        elif side == "BUY":
            buys.add((h, s))
    return loss_sales, buys


def _pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["household_id"].tolist(), frame["symbol"].tolist(), strict=True))


def _lot_arrays(
    lots: list[tuple[str, str, object, float, float, float]],
    row_of: Mapping[str, int],
    col_of: Mapping[tuple[str, str], int],
) -> LotArrays:
    """The lots of laid-out slots sorted by (row, column), table order within a slot."""
    placed = [
        (row_of[a], col_of[a, s], i)
        for i, (a, s, *_) in enumerate(lots)
        if a in row_of and (a, s) in col_of
    ]
    placed.sort(key=lambda t: (t[0], t[1]))  # stable: table order within a slot
    picked = [lots[i] for _, _, i in placed]
    lot_id = np.empty(len(picked), dtype=object)
    lot_id[:] = [p[2] for p in picked]
    return LotArrays(
        row=np.array([r for r, _, _ in placed], dtype=np.int64),
        col=np.array([c for _, c, _ in placed], dtype=np.int64),
        lot_id=lot_id,
        quantity=np.array([p[3] for p in picked], dtype=float),
        cost_basis=np.array([p[4] for p in picked], dtype=float),
        age_days=np.array([p[5] for p in picked], dtype=float),
    )
