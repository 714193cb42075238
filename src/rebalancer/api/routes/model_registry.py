"""The decision model: which one answers. Metadata of the current (``models/latest.json``)
or one registered version; 404 problem+json when none is registered."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from rebalancer.api.deps import AuthDep, LakeDep
from rebalancer.api.routes._common import NOT_FOUND, V1_ERRORS
from rebalancer.usecases import get_model

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[AuthDep])

NO_MODEL = "no model registered"


class ModelOut(BaseModel):
    """A registered model: version, metrics, features in order."""

    version: str
    metrics: dict[str, float]
    features: list[str]
    classes: list[str] = []
    created_at: str | None = None


def _out(meta: dict[str, Any]) -> ModelOut:
    return ModelOut(
        version=str(meta["version"]),
        metrics={k: float(v) for k, v in meta.get("metrics", {}).items() if v is not None},
        features=list(meta.get("features", [])),
        classes=list(meta.get("classes", [])),
        created_at=meta.get("created_at"),
    )


@router.get("/models/current", response_model=ModelOut, responses={**V1_ERRORS, **NOT_FOUND})
def current_model(lake: LakeDep) -> ModelOut:
    """The model that answers now (404 until one is registered)."""
    return _out(get_model(lake))


@router.get("/models/{version}", response_model=ModelOut, responses={**V1_ERRORS, **NOT_FOUND})
def model_version(
    lake: LakeDep,
    version: Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")],
) -> ModelOut:
    """One registered model version (404 if there is no such version)."""
    return _out(get_model(lake, version))
