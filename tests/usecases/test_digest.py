"""The run id's digest: the per-column row hash equals pandas' frame hash, so run ids are
unchanged by how the sum is computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.engine import Policy, Recommendation
from rebalancer.usecases._digest import DIGEST_COLUMNS, digest_parts, row_hash_sum, run_id_for

TEXT = st.one_of(st.none(), st.text(max_size=6))
FLOAT = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64))


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """Frames shaped like a run's parts: Arrow strings, floats with nulls, ints, times."""
    n = draw(st.integers(0, 12))
    return pd.DataFrame(
        {
            "account_id": pd.array(draw(st.lists(TEXT, min_size=n, max_size=n)), "string"),
            "symbol": pd.array(draw(st.lists(TEXT, min_size=n, max_size=n)), "string[pyarrow]"),
            "quantity": pd.array(draw(st.lists(FLOAT, min_size=n, max_size=n)), "float64"),
            "shares": np.array(draw(st.lists(st.integers(-9, 9), min_size=n, max_size=n)), "int64"),
            "at": pd.to_datetime(
                draw(st.lists(st.integers(0, 10**12), min_size=n, max_size=n)), unit="s"
            ),
            "note": pd.Series(draw(st.lists(TEXT, min_size=n, max_size=n)), dtype=object),
        }
    )


def _pandas_sum(frame: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(frame, index=False).to_numpy().sum(dtype=np.uint64))


@settings(max_examples=60, deadline=None)
@given(frames(), st.data())
def test_row_hash_sum_is_pandas_frame_hash(frame: pd.DataFrame, data: st.DataObject) -> None:
    columns = data.draw(st.lists(st.sampled_from(list(frame.columns)), min_size=1, unique=True))
    assert row_hash_sum(frame, columns) == _pandas_sum(frame[columns])
    assert row_hash_sum(frame) == _pandas_sum(frame)


def test_row_hash_sum_changes_with_a_value_and_ignores_row_order() -> None:
    frame = pd.DataFrame({"a": ["x", "y", "z"], "b": [1.0, 2.0, 3.0]})
    assert row_hash_sum(frame) == row_hash_sum(frame.iloc[::-1])
    changed = frame.assign(b=[1.0, 2.0, 3.5])
    assert row_hash_sum(changed) != row_hash_sum(frame)
    # a column outside the digest does not count
    assert row_hash_sum(frame.assign(c=1), ["a", "b"]) == row_hash_sum(frame)


def _reference_run_id(rec: Recommendation, prices: pd.Series, as_of: pd.Timestamp) -> str:
    """The run id as first written: pandas' hash of each part's column subset."""
    import hashlib
    import json

    from rebalancer.engine import ENGINE_VERSION

    digest = hashlib.sha256()
    head = {"as_of": as_of.isoformat(), "policy": Policy().to_json(), "scope": "all",
            "engine": ENGINE_VERSION, "model": None}  # fmt: skip
    digest.update(json.dumps(head, sort_keys=True).encode())
    for name, columns in DIGEST_COLUMNS.items():
        frame = getattr(rec, name)
        frame = frame if columns is None else frame[columns]
        digest.update(f"{name}:{len(frame)}:{_pandas_sum(frame)}".encode())
    digest.update(prices.sort_index().to_json().encode())
    return digest.hexdigest()[:20]


def test_run_id_equals_the_reference_digest() -> None:
    as_of = pd.Timestamp("2025-01-02")
    rec = Recommendation(
        trades=pd.DataFrame(
            {
                "account_id": ["A1", "A1"],
                "symbol": ["VTI", "BND"],
                "side": ["SELL", "BUY"],
                "quantity": [3.0, 7.0],
                "price": [250.5, 71.25],
                "reason": ["drift", "drift"],
            }
        ),
        accounts=pd.DataFrame(
            {"account_id": ["A1"], "cash_before": [120.0], "drift_before": [0.061]}
        ),
        rejected=pd.DataFrame({"account_id": ["A9"], "reason": ["no price for XYZ"]}),
        as_of=as_of,
    )
    prices = pd.Series({"VTI": 250.5, "BND": 71.25})
    got = run_id_for(rec, prices, as_of, Policy(), "all", None)
    assert got == _reference_run_id(rec, prices, as_of)
    assert digest_parts(rec)["trades"][0] == 2
    moved = Recommendation(
        trades=rec.trades.assign(quantity=[3.0, 8.0]), accounts=rec.accounts,
        rejected=rec.rejected, as_of=as_of,
    )  # fmt: skip
    assert run_id_for(moved, prices, as_of, Policy(), "all", None) != got
