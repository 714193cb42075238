"""`rebalancer generate` for real: two at once, SIGKILLed mid-run, readers during a publish.

Each test starts the installed CLI (``.venv/bin/rebalancer``) as separate processes on a lake
holding ~15 months of daily bars, then checks what a reader sees: one whole book (every table
from one version, row counts as generated), referential integrity (every account's advisor,
client and model exist) and taxable holdings equal to the sum of their lots.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rebalancer.lake import LocalLake
from rebalancer.lake._manifest import read_manifest
from tests.book.book_checks import book_problems
from tests.book.conftest import make_panel
from tests.cli.test_book import _bars

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "rebalancer"
BIG = 20_000  # accounts of a run that gets raced or killed: ~20 chunks, a few seconds


@pytest.fixture(scope="module")
def prices_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prices") / "lake"
    lake = LocalLake(root)
    lake.write("market_prices", _bars(make_panel("2021-09-01", "2022-12-28")))
    lake.close()
    return root


@pytest.fixture
def root(prices_only: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "lake"
    shutil.copytree(prices_only, copy)
    return copy


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCER_")}
    env["COLUMNS"] = "200"
    return env


def _start(root: Path, accounts: int, seed: int, chunk: int = 1000) -> subprocess.Popen[str]:
    args = ["--lake", str(root), "generate", "--accounts", str(accounts), "--seed", str(seed)]
    return subprocess.Popen(
        [str(CLI), *args, "--chunk-size", str(chunk)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def _generate(root: Path, accounts: int, seed: int) -> None:
    proc = _start(root, accounts, seed)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def _versions_on_disk(root: Path) -> set[str]:
    base = root / "_book" / "versions"
    return {p.name for p in base.iterdir()} if base.exists() else set()


def test_two_generates_at_once_end_with_one_whole_book(root: Path) -> None:
    _generate(root, 2_000, seed=1)
    first, second = _start(root, BIG, seed=2), _start(root, BIG - 5_000, seed=3)
    results = [p.communicate(timeout=300) for p in (first, second)]
    codes = [first.returncode, second.returncode]
    assert sorted(codes) == [0, 8], (codes, [err for _, err in results])
    refused = results[codes.index(8)][1]
    errors = [line for line in refused.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in refused, refused
    assert "another run is publishing a book into this lake (pid" in errors[0]
    winner = (BIG, BIG - 5_000)[codes.index(0)]
    lake = LocalLake(root)
    assert book_problems(lake, accounts={winner}) == []
    manifest = read_manifest(lake.blobs)
    assert manifest is not None and manifest.accounts == winner
    assert _versions_on_disk(root) == {manifest.version, manifest.previous}


def _wait_for_writing(proc: subprocess.Popen[str], root: Path, before: set[str]) -> bool:
    """Wait until the run has written part of its version (True) or has exited (False)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if _versions_on_disk(root) - before:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise AssertionError("generate wrote nothing in 180 s")


def test_generate_killed_mid_run_leaves_the_old_book(root: Path) -> None:
    _generate(root, 3_000, seed=1)
    published = {3_000}
    mid_run = 0
    # Kill once before anything is written, then at several points after the run's first
    # object appears (the machine's load moves start-up time, so the clock starts there).
    for attempt, delay in enumerate((None, 0.0, 0.3, 0.8, 1.5, 2.5)):
        before = _versions_on_disk(root)
        proc = _start(root, BIG + attempt, seed=10 + attempt)
        if delay is None:
            time.sleep(0.5)
        elif _wait_for_writing(proc, root, before):
            time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        lake = LocalLake(root)
        manifest = read_manifest(lake.blobs)
        assert manifest is not None
        if manifest.accounts == BIG + attempt:
            published.add(BIG + attempt)  # it switched the book before the kill
        elif _versions_on_disk(root) - {manifest.version, manifest.previous}:
            mid_run += 1  # killed with part of its version written
        assert book_problems(lake, accounts=published) == [], delay
        assert len(lake.read("accounts")) == manifest.accounts
        lake.close()
    assert mid_run >= 3, "the kills should land while a book is being written"
    # The kernel released the dead runs' lock: the next run goes ahead, and its cleanup
    # removes their partial versions (only the current and the previous book remain).
    _generate(root, 1_500, seed=99)
    manifest = read_manifest(LocalLake(root).blobs)
    assert manifest is not None and manifest.accounts == 1_500
    assert _versions_on_disk(root) == {manifest.version, manifest.previous}
    assert book_problems(LocalLake(root), accounts={1_500}) == []


def test_readers_during_publishes_see_one_whole_book(root: Path, tmp_path: Path) -> None:
    _generate(root, 3_000, seed=1)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-m", "tests.book._reader", str(root), str(stop)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        time.sleep(1.0)
        for accounts, seed in ((BIG, 2), (8_000, 3), (BIG, 4)):
            _generate(root, accounts, seed)
    finally:
        stop.touch()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    summary = json.loads(out)
    assert summary["problems"] == []
    assert summary["versions"] >= 3 and summary["iterations"] >= 10, summary
