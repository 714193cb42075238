"""``rebalancer dashboard``: the command line it runs, and loopback-only without a login."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rebalancer.cli.dashboard import APP_PATH, auth_configured, streamlit_command
from tests.cli.conftest import invoke


def test_command_runs_the_checked_out_app() -> None:
    assert APP_PATH.is_file()
    cmd = streamlit_command("127.0.0.1", 8599)
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert cmd[4] == str(APP_PATH)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8599"


def test_remote_host_needs_a_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _out, err = invoke(tmp_path / "lake", "dashboard", "--host", "0.0.0.0")
    assert code == 2
    assert err.count("\n") == 1 and "binds loopback only" in err
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\n')
    assert auth_configured(tmp_path)
    secrets.write_text("[api]\nurl = 'http://127.0.0.1:8000'\n")
    assert not auth_configured(tmp_path)
