"""``dashboard``: the Streamlit dashboard (``src/dashboard/app.py``) on the configured lake."""

from __future__ import annotations

import ipaddress
import os
import sys
import tomllib
from pathlib import Path
from typing import Annotated

import typer

from rebalancer.cli._app import app, settings
from rebalancer.cli._output import err_console
from rebalancer.errors import ConfigError

#: src/dashboard/app.py beside the package in a checkout (the dashboard is not installed).
APP_PATH = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_configured(cwd: Path) -> bool:
    """True when a ``.streamlit/secrets.toml`` Streamlit reads (the working directory's, then
    the user's) has an ``[auth]`` section: st.login then gates every page."""
    for path in (cwd / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"):
        try:
            if "auth" in tomllib.loads(path.read_text(encoding="utf-8")):
                return True
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return False


def streamlit_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line (headless, no usage statistics)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip


@app.command()
def dashboard(
    host: Annotated[
        str, typer.Option(help="Interface to bind (loopback unless OIDC login is configured).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8501,
) -> None:
    """Serve the Streamlit dashboard on the lake (local, no login, unless OIDC is configured)."""
    current = settings()
    if not APP_PATH.is_file():
        raise ConfigError(f"the dashboard runs from a source checkout: {APP_PATH} not found")
    if not _loopback(host) and not auth_configured(Path.cwd()):
        raise ConfigError(
            f"--host {host}: without [auth] in .streamlit/secrets.toml the dashboard has no "
            "login, so it binds loopback only (127.0.0.1)"
        )
    env = {**os.environ, "REBALANCER_LAKE": current.lake, "REBALANCER_BACKEND": current.backend}
    err_console.print(f"Dashboard on http://{host}:{port}  (lake: {current.lake})", markup=False)
    # exec: Ctrl-C and a stop signal reach Streamlit itself, with no wrapper process left over.
    os.execvpe(sys.executable, streamlit_command(host, port), env)  # noqa: S606
