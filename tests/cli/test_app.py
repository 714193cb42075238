"""The root of `rebalancer`: global options, usage errors, settings, the error mapping."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from rebalancer.errors import ConfigError
from tests.cli.conftest import CLI, env_for, invoke, run


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


# --- settings: one line naming the variable or the flag -------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "REBALANCER_BACKEND",
            "gcp",
            "error: REBALANCER_BACKEND: Input should be 'local' or 'aws' (got 'gcp')",
        ),
        (
            "REBALANCER_YFINANCE_REQUESTS_PER_SECOND",
            "0",
            "error: REBALANCER_YFINANCE_REQUESTS_PER_SECOND: Input should be greater than 0 "
            "(got '0')",
        ),
        (
            "REBALANCER_SYNTHETIC_SEED",
            "[/bold]",
            "error: REBALANCER_SYNTHETIC_SEED: Input should be a valid integer, unable to parse "
            "string as an integer (got '[/bold]')",
        ),
    ],
)
def test_a_bad_environment_value_is_one_line_naming_it(
    tmp_path: Path, variable: str, value: str, line: str
) -> None:
    env = env_for(tmp_path / "lake")
    env[variable] = value
    result = subprocess.run(
        [*CLI, "query", "SELECT 1"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == ConfigError.exit_code  # was 70 with pydantic's text
    assert result.stderr.strip().splitlines() == [line]


def test_a_bad_global_option_names_the_flag(tmp_path: Path) -> None:
    code, _, err = invoke(tmp_path / "lake", "--backend", "gcp", "query", "SELECT 1")
    assert code == ConfigError.exit_code
    assert err.strip().splitlines() == [
        "error: --backend: Input should be 'local' or 'aws' (got 'gcp')"
    ]
    code, _, err = invoke(Path("   "), "query", "SELECT 1")
    assert code == ConfigError.exit_code and err.startswith("error: --lake: ")


def test_markup_in_a_usage_error_prints_as_text(tmp_path: Path) -> None:
    result = run(["[/bold]"], tmp_path / "lake")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "No such command '[/bold]'" in line and "Traceback" not in result.stderr


def test_an_unexpected_exception_is_one_line_with_exit_70(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rebalancer.cli.lake as lake_verbs

    def broken() -> None:
        raise RuntimeError("bad [/bold] state\nsecond line")

    monkeypatch.setattr(lake_verbs, "open_lake", broken)
    code, _, err = invoke(tmp_path / "lake", "query", "SELECT 1")
    assert code == 70
    assert err.strip().splitlines() == [
        "error: RuntimeError: bad [/bold] state second line (re-run with --debug for details)"
    ]
    with pytest.raises(RuntimeError):
        CliRunner().invoke(
            app, ["--lake", str(tmp_path), "--debug", "query", "SELECT 1"], catch_exceptions=False
        )
