"""The lean household layout (``_small_book``) gives exactly the full path's arrays, or
declines: hypothesis over small books with clean and faulty values of every table."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebalancer.engine import Policy, build_book
from rebalancer.engine._book import _build_full, _naive_utc, _price_series
from rebalancer.engine._small_book import MAX_ACCOUNTS, small_book
from tests.engine.books import SECURITIES

#: A trade date the full path parses element by element warns; both paths must agree on it.
pytestmark = pytest.mark.filterwarnings("ignore:Could not infer format")
AS_OF = pd.Timestamp("2024-12-31 16:00")
SYMBOLS = ["VTI", "BND", "VXUS", "AAPL", "BTC-USD"]
MODELS = pd.DataFrame(
    {
        "model_id": ["M6040", "M6040", "MALL", "MALL", "MALL", "MALL", "BAD", "BAD"],
        "symbol": ["VTI", "BND", "VTI", "BND", "BTC-USD", "CASH", "VTI", "BND"],
        "target_weight": [0.6, 0.4, 0.3, 0.3, 0.3, 0.1, 0.6, 0.6],
    }
)
DAY = dt.date(2024, 12, 20)

clean = st.booleans()
names = st.sampled_from(["A1", "A2", "A3", "A4"])
symbols = st.sampled_from([*SYMBOLS, "ZZZ", "CASH"])
quantity = st.one_of(st.integers(0, 300).map(float), st.sampled_from([-1.0, np.nan, 0.5]))
dates = st.one_of(
    st.dates(dt.date(2024, 9, 1), dt.date(2025, 2, 1)),
    st.sampled_from([None, "2024-12-01", "not a date", pd.Timestamp("2024-12-02")]),
)


@st.composite
def books(draw: st.DrawFn) -> dict[str, Any]:
    """A household of 1-4 accounts; each value clean or, when drawn so, faulty."""
    faulty = draw(st.booleans())  # else only values no check rejects (but lot totals)

    def pick(good: list[Any], bad: list[Any]) -> Any:
        return draw(st.sampled_from(good + bad if faulty else good))

    ids = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    if faulty and draw(st.booleans()) and len(ids) > 1:
        ids.append(ids[0])  # a duplicate account row
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "household_id": [pick(["H1", "H1", "H2"], [" ", None]) for _ in ids],
            "account_type": [
                pick(["taxable", "ira", "roth", "TAXABLE"], ["brokerage", "İra"]) for _ in ids
            ],
            "model_id": [pick(["M6040", "MALL", "MALL"], ["BAD", "NOPE"]) for _ in ids],
            "cash": [pick([0.0, 1500.0, 25_000.0], [-5.0, np.nan]) for _ in ids],
            "pending_cash_flow": [pick([0.0, 900.0, -3000.0], [np.inf]) for _ in ids],
            "fractional_shares": [draw(st.booleans()) for _ in ids],
            "last_rebalanced": [draw(dates) for _ in ids],
        }
    )
    pairs = draw(st.lists(st.tuples(names, symbols, quantity), max_size=10))
    if not faulty:  # no CASH, unknown symbol, bad quantity or duplicate holding
        pairs = list({(a, s): (a, s, q) for a, s, q in pairs if s in SYMBOLS and q >= 0}.values())
    holdings = pd.DataFrame(pairs, columns=["account_id", "symbol", "quantity"])
    holdings = holdings.astype({"account_id": "str", "symbol": "str", "quantity": "float64"})
    lot_rows = []
    for a, s, q in pairs:
        if draw(st.booleans()):  # lots that add up (or not) to the holding
            split = draw(st.sampled_from([0.0, 0.5, 1.0]))
            extra = draw(st.sampled_from([0.0, 0.0, 1.0, 3e-7]))
            lot_rows += [
                (a, s, f"{a}-{s}-1", q * split, 100.0, draw(dates)),
                (a, s, f"{a}-{s}-2", q * (1 - split) + extra, pick([50.0], [-1.0]), DAY),
            ]
    lots = pd.DataFrame(
        lot_rows, columns=["account_id", "symbol", "lot_id", "quantity", "cost_basis", "acquired"]
    )
    restrictions = pd.DataFrame(
        draw(
            st.lists(
                st.tuples(
                    names,
                    symbols,
                    st.just(pick(["restricted", "do_not_trade", "DO_NOT_TRADE"], ["halted"])),
                ),
                max_size=3,
            )
        ),
        columns=["account_id", "symbol", "restriction"],
    )
    transactions = pd.DataFrame(
        draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["H1", "H2", None]),
                    symbols,
                    st.sampled_from(["BUY", "SELL", "sell", "HOLD"]),
                    dates,
                    st.sampled_from([-50.0, 0.0, 20.0, np.nan]),
                ),
                max_size=4,
            )
        ),
        columns=["household_id", "symbol", "side", "trade_date", "realized_gain"],
    )
    prices = {s: pick([100.0, 31.5], [0.0, np.nan]) for s in SYMBOLS}
    return {
        "accounts": accounts,
        "model_portfolios": MODELS,
        "holdings": holdings,
        "prices": pd.Series(prices),
        "securities": SECURITIES if draw(st.booleans()) else None,
        "tax_lots": lots,
        "restrictions": restrictions,
        "transactions": transactions,
    }


def assert_same(x: object, y: object, path: str = "arrays") -> None:
    """Equal arrays of equal dtypes (object arrays: equal values of the same types)."""
    if dataclasses.is_dataclass(x):
        for f in dataclasses.fields(x):
            assert_same(getattr(x, f.name), getattr(y, f.name), f"{path}.{f.name}")
    elif isinstance(x, np.ndarray):
        assert isinstance(y, np.ndarray), path
        assert (x.dtype, x.shape) == (y.dtype, y.shape), path
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), path
        if x.dtype == object:
            assert [type(v) for v in x.ravel()] == [type(v) for v in y.ravel()], path
    else:
        assert x == y, path


def _both(tables: dict[str, Any], policy: Policy) -> tuple[Any, Any]:
    """``(build_book, the full path)`` of the same tables (the full path first)."""
    frames = {k: v for k, v in tables.items() if k != "prices"}
    full = _build_full(
        tables["accounts"], tables["model_portfolios"], tables["holdings"],
        _price_series(tables["prices"]), _naive_utc(AS_OF), tables["securities"],
        tables["tax_lots"], tables["restrictions"], tables["transactions"], policy,
    )  # fmt: skip
    fast = build_book(prices=tables["prices"], as_of=AS_OF, policy=policy, **frames)
    return fast, full


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=books(), days=st.sampled_from([30, 5]))
def test_build_book_equals_the_full_path(tables: dict[str, Any], days: int) -> None:
    try:
        fast, full = _both(tables, Policy(wash_sale_days=days))
    except Exception as error:  # a trade date the full path cannot parse: both raise it
        with pytest.raises(type(error)):
            build_book(
                prices=tables.pop("prices"), as_of=AS_OF, policy=Policy(wash_sale_days=days),
                **tables,
            )  # fmt: skip
        return
    assert_same(fast.arrays, full.arrays)
    pd.testing.assert_frame_equal(fast.rejected, full.rejected)
    ascii_types = all(str(k).isascii() for k in tables["accounts"]["account_type"])
    if full.rejected.empty and ascii_types:  # nothing to reject: the lean layout takes it
        assert _lean(tables) is not None  # (Arrow lower-cases "İra" to "ira", Python not)


def _clean_household() -> dict[str, Any]:
    accounts = pd.DataFrame(
        {
            "account_id": ["A2", "A1"],
            "household_id": ["H1", "H1"],
            "account_type": ["taxable", "ira"],
            "model_id": ["MALL", "M6040"],
            "cash": [1000.0, 50.0],
            "pending_cash_flow": [0.0, 2500.0],
            "fractional_shares": [False, True],
            "last_rebalanced": [dt.date(2024, 6, 3), None],
        }
    ).astype({"account_id": "str", "household_id": "str", "account_type": "str", "model_id": "str"})
    holdings = pd.DataFrame(
        {
            "account_id": ["A2", "A2", "A1"],
            "symbol": ["VTI", "AAPL", "BND"],
            "quantity": [10.0, 4.0, 7.0],
        }
    ).astype({"account_id": "str", "symbol": "str"})
    lots = pd.DataFrame(
        {
            "account_id": ["A2", "A2", "A2"],
            "symbol": ["VTI", "VTI", "AAPL"],
            "lot_id": ["l1", "l2", "l3"],
            "quantity": [6.0, 4.0, 4.0],
            "cost_basis": [700.0, 300.0, 900.0],
            "acquired": [dt.date(2023, 1, 5), dt.date(2024, 12, 1), dt.date(2024, 11, 20)],
        }
    ).astype({"account_id": "str", "symbol": "str", "lot_id": "str"})
    transactions = pd.DataFrame(
        {
            "household_id": ["H1", "H1"],
            "symbol": ["BND", "AAPL"],
            "side": ["SELL", "BUY"],
            "trade_date": [dt.date(2024, 12, 20), dt.date(2024, 12, 22)],
            "realized_gain": [-40.0, 0.0],
        }
    ).astype({"household_id": "str", "symbol": "str", "side": "str"})
    restrictions = pd.DataFrame(
        {"account_id": ["A2"], "symbol": ["AAPL"], "restriction": ["do_not_trade"]}
    ).astype("str")
    return {
        "accounts": accounts, "model_portfolios": MODELS, "holdings": holdings,
        "prices": pd.Series({s: 100.0 for s in SYMBOLS}), "securities": SECURITIES,
        "tax_lots": lots, "restrictions": restrictions, "transactions": transactions,
    }  # fmt: skip


def _lean(tables: dict[str, Any]) -> Any:
    frames = {k: v for k, v in tables.items() if k not in ("prices", "model_portfolios")}
    return small_book(
        frames.pop("accounts"), tables["model_portfolios"], frames.pop("holdings"),
        _price_series(tables["prices"]), as_of=_naive_utc(AS_OF), policy=Policy(), **frames,
    )  # fmt: skip


def test_a_clean_household_is_laid_out_lean_with_its_blocks() -> None:
    tables = _clean_household()
    lean = _lean(tables)
    assert lean is not None  # the lean layout was taken
    fast, full = _both(tables, Policy())
    assert_same(lean, full.arrays)
    assert_same(fast.arrays, full.arrays)
    assert full.rejected.empty
    assert list(lean.account_id) == ["A1", "A2"]
    assert lean.wash_buy_block.any() and lean.wash_loss_block.any() and lean.do_not_trade.any()
    assert lean.lots.row.size == 3


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: t["holdings"].__setitem__("quantity", [10.0, 4.0, -7.0]),
        lambda t: t["tax_lots"].__setitem__("quantity", [6.0, 4.0, 3.0]),
        lambda t: t["accounts"].__setitem__("model_id", ["MALL", "BAD"]),
        lambda t: t["restrictions"].__setitem__("restriction", ["halted"]),
        lambda t: t["prices"].__setitem__("BND", 0.0),
    ],
)
def test_a_book_with_a_rejection_goes_to_the_full_path(spoil: Any) -> None:
    tables = _clean_household()
    spoil(tables)
    assert _lean(tables) is None
    fast, full = _both(tables, Policy())
    assert not fast.rejected.empty
    pd.testing.assert_frame_equal(fast.rejected, full.rejected)


def test_a_book_beyond_a_household_goes_to_the_full_path() -> None:
    tables = _clean_household()
    many = pd.concat([tables["accounts"]] * (MAX_ACCOUNTS // 2 + 1), ignore_index=True)
    many["account_id"] = [f"A{i}" for i in range(len(many))]
    assert _lean({**tables, "accounts": many}) is None
