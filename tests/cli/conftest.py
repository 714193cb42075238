"""Shared CLI fixtures: run the command as a user does (a real process) or in-process
(``CliRunner``), and a small hand-written book for ``recommend``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from rebalancer.lake import LocalLake
from tests.small_book import AS_OF as AS_OF  # the verbs' tests import it from here
from tests.small_book import write_three_accounts

CLI = [sys.executable, "-m", "rebalancer.cli"]


def env_for(lake: str | Path) -> dict[str, str]:
    """The caller's environment without REBALANCER_*, pointed at ``lake``, 200 columns wide."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCER_")}
    env["REBALANCER_LAKE"] = str(lake)
    env["COLUMNS"] = "200"
    return env


def run(args: list[str], lake: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m rebalancer.cli ARGS`` in a child process on ``lake``."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env_for(lake), timeout=120
    )


def invoke(lake: str | Path, *args: str) -> tuple[int, str, str]:
    """``rebalancer --lake LAKE ARGS`` in this process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, ["--lake", str(lake), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def book_lake(lake: LocalLake) -> LocalLake:
    """Three accounts (one invalid), prices as 5m and daily bars around the as-of time."""
    return write_three_accounts(lake)
