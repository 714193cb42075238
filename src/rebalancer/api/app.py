"""The one FastAPI app: uvicorn locally, Mangum in the rebalance_portfolio Lambda."""

from __future__ import annotations

from fastapi import FastAPI

from rebalancer import __version__
from rebalancer.api import problems
from rebalancer.api.routes import health, recommendations
from rebalancer.config import Settings, get_settings
from rebalancer.lake import Lake


def create_app(settings: Settings | None = None, *, lake: Lake | None = None) -> FastAPI:
    """Build the API; ``settings`` and ``lake`` are injectable for tests."""
    app = FastAPI(
        title="rebalancer",
        version=__version__,
        description="Rebalancing recommendations per client account.",
    )
    app.state.settings = settings or get_settings()
    app.state.lake = lake
    problems.install(app)
    app.include_router(health.router)
    app.include_router(recommendations.router)
    return app
