"""What several routes share: path parameter types, documented error responses, frame rows."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from fastapi import Path

from rebalancer.api.models import ID_PATTERN

AccountId = Annotated[
    str,
    Path(
        pattern=ID_PATTERN,
        description="Account identifier (letters, digits, '-' and '_').",
        examples=["A0000001"],
    ),
]


PROBLEM_REF = "#/components/schemas/Problem"


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}},
    }


#: Errors every ``/v1`` operation may answer (problem+json).
V1_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("Bad request (e.g. a cursor this listing did not issue)"),
    401: _problem("Missing or invalid API key"),
    422: _problem("Invalid request: the field at fault is named"),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _problem("Not found")}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    413: _problem("Body larger than the configured limit"),
    415: _problem("Body is not application/json"),
}
CONFLICT: dict[int | str, dict[str, Any]] = {409: _problem("The book is being published; retry")}
MODEL_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: _problem("policy.model is advise or gate and no model can serve (none registered)")
}


def records(frame: pd.DataFrame, fields: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows as dicts, missing values as ``None`` (only ``fields`` present in the frame)."""
    present = [f for f in (fields or list(frame.columns)) if f in frame.columns]
    clean = frame[present].astype(object).where(frame[present].notna(), None)
    return list(clean.to_dict("records"))
