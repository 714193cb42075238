"""`rebalance_portfolio` Lambda: the FastAPI app behind API Gateway, through Mangum.

Thin on purpose: the routes live in `rebalancer.api`, the logic in the use cases. The app, its
lake and its API key are set up once per container (at import), so warm invocations reuse
them. The key comes from Secrets Manager (``REBALANCER_API_KEY_SECRET_ID``) or SSM
(``REBALANCER_API_KEY_PARAMETER``); the app checks it on every ``/v1`` request, on top of API
Gateway's own key and usage plan.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from rebalancer.api import create_app
from rebalancer.api.keys import with_api_key
from rebalancer.config import get_settings

logger = Logger(service="rebalance_portfolio")
app = create_app(with_api_key(get_settings()))
# problem+json is text: API Gateway gets it as a plain body, like application/json.
_asgi = Mangum(
    app, lifespan="off", text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, "application/problem+json"]
)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway (REST, proxy integration) event in, HTTP response out."""
    response: dict[str, Any] = _asgi(event, context)
    return response
