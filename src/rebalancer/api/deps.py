"""Dependencies injected into routes: settings, the lake, API-key auth."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

from rebalancer.config import Settings
from rebalancer.lake import Lake, get_lake

API_KEY_HEADER = "X-API-Key"
_api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


def get_app_settings(request: Request) -> Settings:
    """The Settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_app_lake(request: Request) -> Lake:
    """The app's lake, created once per process (Lambda warm starts reuse it)."""
    lake: Lake | None = getattr(request.app.state, "lake", None)
    if lake is None:
        lake = get_lake(request.app.state.settings)
        request.app.state.lake = lake
    return lake


LakeDep = Annotated[Lake, Depends(get_app_lake)]


def require_api_key(
    settings: SettingsDep, supplied: Annotated[str | None, Depends(_api_key_header)]
) -> None:
    """Check ``X-API-Key`` in constant time when the app has a key configured.

    Behind API Gateway the gateway enforces its own API key; locally `rebalancer serve`
    always configures one.
    """
    expected = settings.api_key.get_secret_value() if settings.api_key else None
    if expected is None:
        return
    if supplied is None or not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise HTTPException(
            status_code=401,
            detail=f"missing or invalid {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": "ApiKey"},
        )


AuthDep = Depends(require_api_key)
