"""Same seed, same bytes; different seed, different book; chunks independent of what follows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from rebalancer.book import generate_book, write_book
from rebalancer.lake import LocalLake


def _digests(root: Path) -> dict[str, str]:
    """Digest per object, keyed by its path inside the book version (the version id is new
    on every run; the bytes under it are not)."""
    (version,) = (root / "_book" / "versions").iterdir()
    return {
        str(p.relative_to(version)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(version.rglob("*.parquet"))
    }


def test_same_seed_same_bytes(tmp_path: Path, panel: pd.DataFrame) -> None:
    digests = []
    for run in ("a", "b"):
        lake = LocalLake(tmp_path / run)
        write_book(lake, generate_book(700, seed=5, prices=panel, chunk_size=300))
        lake.close()
        digests.append(_digests(tmp_path / run))
    assert len(digests[0]) == 8 * 3 - 2 * 2  # 6 chunk tables x 3 parts + 2 static tables
    assert digests[0] == digests[1]


def test_different_seed_different_book(tmp_path: Path, panel: pd.DataFrame) -> None:
    first = next(generate_book(300, seed=5, prices=panel, chunk_size=300)).tables
    second = next(generate_book(300, seed=6, prices=panel, chunk_size=300)).tables
    assert not first["holdings"].equals(second["holdings"])
    assert not first["accounts"]["cash"].equals(second["accounts"]["cash"])
    assert first["model_portfolios"].equals(second["model_portfolios"])  # data, not random


def test_a_chunk_does_not_depend_on_the_book_size(panel: pd.DataFrame) -> None:
    small = list(generate_book(400, seed=9, prices=panel, chunk_size=200))
    big = list(generate_book(1_000, seed=9, prices=panel, chunk_size=200))
    for table in ("clients", "accounts", "holdings", "tax_lots", "transactions", "restrictions"):
        for i in range(2):
            # the advisor count grows with the book (about 400 accounts each): ids differ
            left = small[i].tables[table].drop(columns="advisor_id", errors="ignore")
            right = big[i].tables[table].drop(columns="advisor_id", errors="ignore")
            pd.testing.assert_frame_equal(left, right)
    assert len(big) == 5 and big[-1].start == 800 and big[-1].stop == 1_000


def test_as_of_changes_the_snapshot(panel: pd.DataFrame) -> None:
    latest = next(generate_book(200, seed=9, prices=panel, chunk_size=200)).tables
    earlier = next(
        generate_book(
            200, seed=9, prices=panel, chunk_size=200, as_of=pd.Timestamp("2021-06-30").date()
        )
    ).tables
    assert pd.to_datetime(earlier["tax_lots"]["acquired"]).max() < pd.Timestamp("2021-06-30")
    assert pd.to_datetime(latest["tax_lots"]["acquired"]).max() > pd.Timestamp("2022-06-30")
