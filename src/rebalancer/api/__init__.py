"""HTTP API: FastAPI routes over the core library."""

from __future__ import annotations

from rebalancer.api.app import create_app

__all__ = ["create_app"]
