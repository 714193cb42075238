"""`rebalance_portfolio` Lambda: the FastAPI app behind API Gateway, through Mangum.

Thin on purpose: the routes live in `rebalancer.api`, the logic in `rebalancer.engine`. The app
and its lake are created once per container, so warm invocations reuse them.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from mangum import Mangum

from rebalancer.api import create_app

logger = Logger(service="rebalance_portfolio")
app = create_app()
_asgi = Mangum(app, lifespan="off")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway (REST, proxy integration) event in, HTTP response out."""
    response: dict[str, Any] = _asgi(event, context)
    return response
