"""``serve``: the HTTP API under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import SecretStr

from rebalancer.cli._app import app, settings
from rebalancer.cli._output import err_console


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to bind (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API with uvicorn (X-API-Key required; a key is generated if none is set)."""
    import secrets

    import uvicorn

    from rebalancer.api import create_app

    current = settings()
    if current.api_key is None:
        key = secrets.token_urlsafe(24)
        current = current.model_copy(update={"api_key": SecretStr(key)})
        err_console.print(f"REBALANCER_API_KEY not set; this run's key: [bold]{key}[/]")
    where = f"http://{host}:{port}"
    err_console.print(f"API on {where}  (docs: {where}/docs)", markup=False)
    uvicorn.run(create_app(current), host=host, port=port, log_level="info")
