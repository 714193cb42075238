"""Optional dependencies (the extras in ``pyproject.toml``), imported where they are used.

A core install (``pip install rebalancer``) has no boto3, yfinance, FastAPI, XGBoost or
Streamlit. Code that needs one imports it through :func:`require`, so a missing extra is a
one-line :class:`~rebalancer.errors.ConfigError` naming the extra to install, not a traceback
from deep inside a command.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rebalancer.errors import ConfigError

EXTRAS: dict[str, str] = {
    "boto3": "aws",
    "awswrangler": "aws",
    "aws_lambda_powertools": "aws",
    "yfinance": "yfinance",
    "fastapi": "api",
    "mangum": "api",
    "uvicorn": "api",
    "xgboost": "model",
    "sklearn": "model",
    "streamlit": "dashboard",
    "plotly": "dashboard",
}
"""Top-level import name -> the extra that installs it (tests check it against pyproject)."""


def require(module: str) -> ModuleType:
    """Import ``module`` (an optional dependency), or say which extra installs it."""
    top = module.partition(".")[0]
    extra = EXTRAS[top]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing != top and not module.startswith(f"{missing}."):
            raise  # the package is there but broken: a different problem, keep the traceback
        raise ConfigError(
            f"{top} is not installed; it comes with the {extra!r} extra: "
            f"pip install 'rebalancer[{extra}]'"
        ) from exc
