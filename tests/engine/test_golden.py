"""Golden trades: three seeded books x three policies give the recorded trades, account
summaries and rejections (``tests/engine/golden/*.parquet``). A change that moves a single
trade, a cent of tax or a weight in its ninth significant digit fails, naming the value.

Floats are compared to a relative 1e-9, not bit for bit, and not as a hash of their text:
numpy's SIMD kernels differ between CPUs in the last bits, and sums of many terms carry that
into the tenth digit now and then (hashes of floats at 10 significant digits, recorded on one
machine, failed on the next with the very same code). The lots column (``lot:quantity`` text)
is compared by lot id exactly and by quantity to the same tolerance.

If a change is *meant* to alter trades, bump ``ENGINE_VERSION`` and re-record with
``python -m tests.engine.test_golden``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.engine import Policy, Recommendation
from tests.engine.generated import generated_book, run_book

POLICIES = {
    "defaults": Policy(),
    "target-fee-reserve": Policy(rebalance_to="target", fee_per_trade=1.0, cash_reserve=0.02),
    "band-edge-relative-fifo": Policy(
        rebalance_to="band_edge", band="relative", relative_band=0.25, lot_method="fifo"
    ),
}
SEEDS = (11, 12, 13)
PARTS = ("trades", "accounts", "rejected")
GOLDEN_DIR = Path(__file__).parent / "golden"
RTOL = 1e-9


def _run(seed: int, policy_name: str) -> Recommendation:
    return run_book(generated_book(400, seed=seed), POLICIES[policy_name])


def _golden(part: str, seed: int, policy_name: str) -> pd.DataFrame:
    rows = pd.read_parquet(GOLDEN_DIR / f"{part}.parquet")
    case = rows[(rows["case_seed"] == seed) & (rows["case_policy"] == policy_name)]
    return case.drop(columns=["case_seed", "case_policy"]).reset_index(drop=True)


def _lots(column: pd.Series) -> tuple[list[list[str]], np.ndarray]:
    """``lot:quantity[;lot:quantity...]`` text as lot ids and their quantities."""
    ids: list[list[str]] = []
    quantities: list[float] = []
    for text in column.fillna("").astype(str):
        pairs = [p.rsplit(":", 1) for p in text.split(";") if p]
        ids.append([lot for lot, _ in pairs])
        quantities.extend(float(q) for _, q in pairs)
    return ids, np.asarray(quantities, dtype=np.float64)


def assert_frames_match(got: pd.DataFrame, want: pd.DataFrame, where: str) -> None:
    """Same columns and rows in order; text and integers exact, floats to :data:`RTOL`."""
    got = got.reset_index(drop=True)
    assert list(got.columns) == list(want.columns), f"{where}: columns differ"
    assert len(got) == len(want), f"{where}: {len(got)} rows, golden has {len(want)}"
    for name in want.columns:
        label = f"{where}.{name}"
        if name == "lots":
            got_ids, got_q = _lots(got[name])
            want_ids, want_q = _lots(want[name])
            assert got_ids == want_ids, f"{label}: lot ids differ"
            np.testing.assert_allclose(got_q, want_q, rtol=RTOL, atol=1e-12, err_msg=label)
        elif pd.api.types.is_float_dtype(want[name].dtype):
            np.testing.assert_allclose(
                got[name].to_numpy(np.float64), want[name].to_numpy(np.float64),
                rtol=RTOL, atol=1e-12, equal_nan=True, err_msg=label,
            )  # fmt: skip
        else:
            mismatch = got[name].astype(str).to_numpy() != want[name].astype(str).to_numpy()
            first = int(np.argmax(mismatch)) if mismatch.any() else -1
            assert first < 0, (
                f"{label} row {first}: {got[name].iloc[first]!r} != {want[name].iloc[first]!r}"
            )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("policy_name", list(POLICIES))
def test_trades_match_the_golden_run(seed: int, policy_name: str) -> None:
    rec = _run(seed, policy_name)
    for part in PARTS:
        assert_frames_match(
            getattr(rec, part), _golden(part, seed, policy_name), f"{seed}/{policy_name}/{part}"
        )


def test_the_comparison_catches_one_moved_value() -> None:
    """A quantity moved in its ninth digit, a lot quantity or one reason text each fail."""
    want = _golden("trades", 11, "defaults")
    assert len(want) > 0
    moved = want.copy()
    moved.loc[0, "quantity"] = moved.loc[0, "quantity"] * (1 + 1e-8) + 1e-8
    with pytest.raises(AssertionError):
        assert_frames_match(moved, want, "moved")
    with_lots = want[want["lots"].fillna("").str.len() > 0].reset_index(drop=True)
    relot = with_lots.copy()
    lot, quantity = str(relot.loc[0, "lots"]).split(";")[0].rsplit(":", 1)
    relot.loc[0, "lots"] = f"{lot}:{float(quantity) + 1}"
    with pytest.raises(AssertionError):
        assert_frames_match(relot, with_lots, "relot")
    renamed = want.copy()
    renamed.loc[len(want) - 1, "reason"] = "something else"
    with pytest.raises(AssertionError):
        assert_frames_match(renamed, want, "renamed")
    assert_frames_match(want.copy(), want, "same")  # and an equal frame passes


def record() -> None:  # pragma: no cover - re-recording helper
    """Write the golden Parquet files from this code (after an intended change)."""
    GOLDEN_DIR.mkdir(exist_ok=True)
    parts: dict[str, list[pd.DataFrame]] = {p: [] for p in PARTS}
    for seed in SEEDS:
        for name in POLICIES:
            rec = _run(seed, name)
            for part in PARTS:
                frame = getattr(rec, part).reset_index(drop=True)
                parts[part].append(frame.assign(case_seed=seed, case_policy=name))
    for part, frames in parts.items():
        pd.concat(frames, ignore_index=True).to_parquet(
            GOLDEN_DIR / f"{part}.parquet", compression="zstd", index=False
        )
        print(f"wrote {GOLDEN_DIR / f'{part}.parquet'}")


if __name__ == "__main__":  # pragma: no cover
    record()
