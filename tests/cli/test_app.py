"""The root of `rebalancer`: global options, usage errors, settings, the error mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import run


def test_local_backend_refuses_s3_lake(tmp_path: Path) -> None:
    result = run(["query", "SELECT 1"], "s3://bucket/lake")
    assert result.returncode == 2
    assert "REBALANCER_BACKEND=aws" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "--format"], "requires an argument"),
        (["no-such-verb"], "No such command 'no-such-verb'"),
        (["query", "SELECT 1", "--format", "xml"], "'xml' is not one of"),
        (["backfill", "--start"], "requires an argument"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(args, tmp_path / "lake")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
