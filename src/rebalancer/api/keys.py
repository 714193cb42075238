"""Where the API key comes from: Settings locally; Secrets Manager or SSM in AWS.

The Lambda reads the key once per container (at import, with the app), never per request; a
secret that cannot be read fails the cold start loudly rather than serving ``/v1`` keyless.
"""

from __future__ import annotations

import json
import logging

from pydantic import SecretStr

from rebalancer.config import Settings
from rebalancer.errors import ConfigError

logger = logging.getLogger(__name__)


def _from_secret(secret_id: str, region: str | None) -> str:
    import boto3

    value = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_id)[
        "SecretString"
    ]
    try:  # a JSON secret {"api_key": "..."} or the bare key
        parsed = json.loads(value)
    except ValueError:
        return str(value)
    if isinstance(parsed, dict) and "api_key" in parsed:
        return str(parsed["api_key"])
    return str(value)


def _from_parameter(name: str, region: str | None) -> str:
    import boto3

    response = boto3.client("ssm", region_name=region).get_parameter(Name=name, WithDecryption=True)
    return str(response["Parameter"]["Value"])


def with_api_key(settings: Settings) -> Settings:
    """``settings`` with ``api_key`` filled from Secrets Manager or SSM when one is named
    (an explicit ``REBALANCER_API_KEY`` wins)."""
    if settings.api_key is not None:
        return settings
    if settings.api_key_secret_id:
        key = _from_secret(settings.api_key_secret_id, settings.region)
    elif settings.api_key_parameter:
        key = _from_parameter(settings.api_key_parameter, settings.region)
    else:
        return settings
    key = key.strip()
    if not key:
        raise ConfigError("the API key secret is empty")
    return settings.model_copy(update={"api_key": SecretStr(key)})
