"""Liveness: no auth, no I/O."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from rebalancer import __version__

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Liveness answer."""

    status: str
    version: str


@router.get("/health", response_model=Health)
def health() -> Health:
    """The service is up."""
    return Health(status="ok", version=__version__)
