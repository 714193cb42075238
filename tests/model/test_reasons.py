"""Vectorised reason codes: identical to the per-row implementation they replaced (kept here
verbatim as the reference) on random contribution matrices with ties, zeros, negatives and
missing feature values."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from rebalancer.model._predict import FAMILIES, MAX_REASONS, reason_codes, reason_text


def _num(row: dict[str, float], name: str) -> float:
    value = row.get(name, math.nan)
    return float(value) if value is not None else math.nan


def old_reason_text(family: str, row: dict[str, float]) -> str:
    """The per-row sentence builder before vectorisation (reference)."""
    if family == "sleeve_drift":
        drift = _num(row, "drift")
        return (
            f"sleeve {abs(drift) * 100:.1f} points {'over' if drift >= 0 else 'under'} target "
            f"({_num(row, 'band_ratio'):.1f}x its band)"
        )
    if family == "account_drift":
        return f"account total drift {_num(row, 'account_drift') * 100:.1f} points"
    if family == "cash":
        gap = _num(row, "cash_gap")
        return f"cash {abs(gap) * 100:.1f} points {'above' if gap >= 0 else 'below'} target"
    if family == "cash_flow":
        flow = _num(row, "flow_share")
        kind = "deposit" if flow > 0 else "withdrawal" if flow < 0 else "no cash flow"
        return f"pending {kind} of {abs(flow) * 100:.1f}% of the account"
    if family == "trade_size":
        return f"the gap is worth ${_num(row, 'gap_usd'):,.0f}"
    if family == "tax":
        if _num(row, "st_gain_share") > 0:
            return "a short-term gain would be realized"
        return f"unrealized gain {_num(row, 'unrealized_share') * 100:.0f}% of the position"
    if family == "market":
        return f"63-day momentum {_num(row, 'mom_63') * 100:+.1f}%"
    if family == "restriction":
        for name, text in (
            ("do_not_trade", "do-not-trade"),
            ("restricted", "restricted"),
            ("loss_sale_30d", "wash-sale window"),
        ):
            if _num(row, name) > 0:
                return text
        return "not held yet" if _num(row, "held") == 0 else "no restriction"
    if family == "timing":
        return f"last rebalanced {_num(row, 'days_since_rebalance'):.0f} days ago"
    return family


def old_reason_codes(
    contributions: np.ndarray, features: Sequence[str], rows: pd.DataFrame
) -> list[list[str]]:
    """The per-row ranking before vectorisation (reference)."""
    index = {f: i for i, f in enumerate(features)}
    members = {fam: [index[f] for f in names if f in index] for fam, names in FAMILIES.items()}
    members = {fam: cols for fam, cols in members.items() if cols}
    names = sorted(members)
    scores = np.column_stack([contributions[:, members[n]].sum(axis=1) for n in names])
    records = rows.to_dict("records")
    out: list[list[str]] = []
    for r, row in enumerate(records):
        order = sorted(range(len(names)), key=lambda j: (-round(scores[r, j], 9), names[j]))
        chosen = [names[j] for j in order if scores[r, j] > 0][:MAX_REASONS]
        out.append([f"{fam}: {old_reason_text(fam, row)}" for fam in chosen])
    return out


def random_case(seed: int, n: int, drop: Sequence[str] = ()) -> tuple:
    rng = np.random.default_rng(seed)
    features = [f for names in FAMILIES.values() for f in names if f not in drop]
    rng.shuffle(features)
    features.append("extra_feature")  # a feature in no family
    # Coarse values (multiples of 0.05, many zeros) make ties and zero sums common.
    contributions = rng.integers(-4, 5, size=(n, len(features) + 1)) * 0.05
    contributions[rng.random(contributions.shape) < 0.3] = 0.0
    contributions[: n // 10] = 0.0  # rows without any positive family
    values = rng.choice(
        [-0.37, -0.02, 0.0, 0.004, 0.5, 1.0, 2.75, 1234.5, np.nan], (n, len(features))
    )
    rows = pd.DataFrame(values, columns=features)
    return contributions, features, rows


@pytest.mark.parametrize(("seed", "drop"), [(0, ()), (1, ("drift", "held", "mom_63")), (2, ())])
def test_vectorised_equals_the_per_row_reference(seed: int, drop: tuple[str, ...]) -> None:
    contributions, features, rows = random_case(seed, 3000, drop)
    expected = old_reason_codes(contributions, features, rows)
    got = reason_codes(contributions, features, rows)
    assert got == expected
    assert sum(map(len, got)) > 3000 and any(len(r) == MAX_REASONS for r in got)
    assert any(r == [] for r in got)


def test_one_row_text_matches_the_reference() -> None:
    row = {"drift": -0.031, "band_ratio": None, "flow_share": 0.0, "held": 0.0}
    for family in [*FAMILIES, "unknown"]:
        assert reason_text(family, row) == old_reason_text(family, row)


def test_empty_rows() -> None:
    _, features, rows = random_case(3, 1)
    assert reason_codes(np.zeros((0, len(features) + 1)), features, rows.iloc[:0]) == []
