"""Liveness (no I/O) and readiness (the lake answers). Neither needs the key: a load balancer
or API Gateway health check has none, and neither reveals data."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from rebalancer import __version__
from rebalancer.api.deps import LakeDep, SettingsDep
from rebalancer.api.models import Ready
from rebalancer.api.problems import problem
from rebalancer.api.routes._common import _problem

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


class Health(BaseModel):
    """Liveness answer."""

    status: str
    version: str


@router.get("/health", response_model=Health)
def health() -> Health:
    """The service is up."""
    return Health(status="ok", version=__version__)


@router.get(
    "/ready", response_model=Ready, responses={503: _problem("The lake (or model) does not answer")}
)
def ready(lake: LakeDep, settings: SettingsDep) -> Ready | JSONResponse:
    """The lake answers a listing (and, once models exist, the configured model answers)."""
    try:
        lake.list_objects("accounts")
    except Exception as exc:  # any failure means not ready; the reason goes to the log only
        logger.warning("readiness: the lake did not answer: %s", exc)
        return problem(503, "Service Unavailable", "the lake does not answer")
    model = "configured" if settings.sagemaker_endpoint else "none"
    return Ready(status="ready", lake="ok", model=model)
