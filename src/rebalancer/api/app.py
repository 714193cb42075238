"""The one FastAPI app: uvicorn locally, Mangum in the rebalance_portfolio Lambda."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI

from rebalancer import __version__
from rebalancer.api import problems
from rebalancer.api.guard import Guard
from rebalancer.api.routes import (
    accounts,
    health,
    market,
    model_registry,
    portfolio,
    recommendations,
    runs,
)
from rebalancer.config import Settings, get_settings
from rebalancer.lake import Lake

logger = logging.getLogger(__name__)

_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 7807 problem details.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def create_app(settings: Settings | None = None, *, lake: Lake | None = None) -> FastAPI:
    """Build the API; ``settings`` and ``lake`` are injectable for tests.

    ``/v1`` needs ``X-API-Key`` equal to ``settings.api_key``; with no key configured it
    refuses every request, unless ``settings.allow_insecure_api`` (logged as a warning).
    """
    settings = settings or get_settings()
    app = FastAPI(
        title="rebalancer",
        version=__version__,
        description="Rebalancing recommendations: for the book's accounts and for posted "
        "portfolios. Every /v1 operation needs the X-API-Key header; errors are "
        "application/problem+json.",
    )
    app.state.settings = settings
    app.state.lake = lake
    problems.install(app)
    for module in (health, portfolio, accounts, recommendations, runs, model_registry, market):
        app.include_router(module.router)
    key = settings.api_key.get_secret_value() if settings.api_key else None
    if key is None and settings.allow_insecure_api:
        logger.warning("REBALANCER_ALLOW_INSECURE_API is set: /v1 is served WITHOUT an API key")
    elif key is None:
        logger.warning("no API key configured (REBALANCER_API_KEY): /v1 refuses every request")
    app.add_middleware(
        Guard,
        api_key=key,
        insecure=settings.allow_insecure_api,
        max_body_bytes=settings.api_max_body_bytes,
    )
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Add the Problem schema the error responses reference to the OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
