"""Dependencies injected into routes: settings, the lake, API-key auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from rebalancer.api.guard import API_KEY_HEADER
from rebalancer.config import Settings
from rebalancer.lake import Lake, get_lake

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


def require_api_key(supplied: Annotated[str | None, Security(_api_key_header)]) -> None:
    """Declares ``X-API-Key`` on every ``/v1`` operation (OpenAPI security scheme).

    The check itself runs earlier, in :class:`rebalancer.api.guard.Guard` (constant time,
    before routing and body parsing), so this dependency only documents it.
    """


AuthDep = Depends(require_api_key)
