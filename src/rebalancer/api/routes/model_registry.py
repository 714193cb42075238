"""The decision model: which one answers. No model registry exists yet, so both routes are a
404 problem+json saying so (the model issue adds the registry and fills these in)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from rebalancer.api.deps import AuthDep
from rebalancer.api.routes._common import NOT_FOUND, V1_ERRORS
from rebalancer.errors import NotFoundError

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[AuthDep])

NO_MODEL = "no model registered"


class ModelOut(BaseModel):
    """A registered model: version, metrics, features in order."""

    version: str
    metrics: dict[str, float]
    features: list[str]


@router.get("/models/current", response_model=ModelOut, responses={**V1_ERRORS, **NOT_FOUND})
def current_model() -> ModelOut:
    """The model that answers now (404 until one is registered)."""
    raise NotFoundError(NO_MODEL)


@router.get("/models/{version}", response_model=ModelOut, responses={**V1_ERRORS, **NOT_FOUND})
def model_version(
    version: Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")],
) -> ModelOut:
    """One model version (404 until one is registered)."""
    raise NotFoundError(f"{NO_MODEL}: no version {version}")
