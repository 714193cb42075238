"""One Settings object for the whole platform.

Every environment variable the code reads is a field here (prefix ``REBALANCER_``), so the
Terraform consistency tests can check Lambda environments against this one list. An explicit
argument beats the environment: ``Settings(lake="/tmp/x")`` wins over ``REBALANCER_LAKE``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rebalancer.errors import ConfigError

ENV_PREFIX = "REBALANCER_"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


def memory_size(value: str) -> str:
    """A memory size as DuckDB reads it (``512MB``, ``2 GiB`` -> ``2GiB``); ValueError if not
    one."""
    match = _SIZE.fullmatch(value.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"a memory limit must be a size like 512MB or 2GB, got {value!r}")
    return f"{match.group(1)}{match.group(2)}"


Backend = Literal["local", "aws"]


class Settings(BaseSettings):
    """Runtime configuration, read from ``REBALANCER_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    backend: Backend = Field("local", description="local (Parquet + DuckDB) or aws (S3 + Athena)")
    lake: str = Field("./lake", description="Lake root: a directory or s3://bucket/prefix")
    region: str | None = Field(None, description="AWS region; default from the AWS config chain")
    glue_database: str = Field("rebalancer", description="Glue database holding the lake tables")
    athena_workgroup: str = Field("rebalancer", description="Athena workgroup for queries")
    athena_output: str | None = Field(
        None, description="s3:// location for Athena results; default: the workgroup's setting"
    )
    kms_key_arn: str | None = Field(None, description="KMS key for S3 writes (SSE-KMS)")
    api_key: SecretStr | None = Field(None, description="API key required by the HTTP API")
    sagemaker_endpoint: str | None = Field(None, description="SageMaker endpoint name")
    sagemaker_role_arn: str | None = Field(
        None, description="IAM role of SageMaker training jobs (`train --on sagemaker`)"
    )
    sagemaker_instance_type: str = Field(
        "ml.m5.xlarge", description="Instance type of SageMaker training jobs"
    )
    sagemaker_image: str | None = Field(
        None, description="Training image URI; default: sagemaker-xgboost for the region"
    )
    sagemaker_training_uri: str | None = Field(
        None,
        description="s3:// prefix for training jobs' data and code; default "
        "s3://<lake bucket>/training",
    )
    sagemaker_output_uri: str | None = Field(
        None,
        description="s3:// prefix for training jobs' output; default "
        "s3://<lake bucket>/models/training-jobs",
    )
    market_source: Literal["yfinance", "synthetic", "history"] = Field(
        "synthetic", description="Default market data provider for ingestion"
    )
    symbols_file: str | None = Field(
        None, description="CSV of extra securities (symbol,name,asset_class,currency)"
    )
    yfinance_requests_per_second: float = Field(
        2.0, gt=0, description="Client-side rate limit for yfinance requests"
    )
    synthetic_seed: int = Field(0, description="Seed of the synthetic market data provider")
    query_timeout_seconds: float = Field(
        300.0,
        gt=0,
        description="Local lake: a query running longer is stopped (Athena has its own limit)",
    )
    duckdb_memory_limit: str | None = Field(
        None,
        description="Local lake: memory a query may hold before DuckDB spills to disk, "
        "e.g. 2GB (unset: DuckDB's default, 80% of RAM)",
    )
    allow_insecure_api: bool = Field(
        False, description="Serve /v1 without an API key (local experiments only; logged)"
    )
    api_key_secret_id: str | None = Field(
        None, description="Secrets Manager secret holding the API key (read once per Lambda)"
    )
    api_key_parameter: str | None = Field(
        None, description="SSM SecureString parameter holding the API key (read once per Lambda)"
    )
    api_max_body_bytes: int = Field(
        1_048_576, ge=1_024, description="Largest request body the API accepts, bytes"
    )
    api_max_holdings: int = Field(
        500, ge=1, le=100_000, description="Most holdings a posted portfolio may list"
    )
    api_url: str | None = Field(
        None,
        description="Base URL of the HTTP API the dashboard asks for what-ifs "
        "(http:// or https://; unset: the dashboard runs the use case in process)",
    )

    @field_validator("lake")
    @classmethod
    def _lake_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("lake must be a directory or an s3:// URI")
        return value.strip()

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_limit_is_a_size(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return memory_size(value)

    @field_validator("api_url")
    @classmethod
    def _api_url_is_http(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        spaced = any(c.isspace() for c in url)
        if parts.scheme not in ("http", "https") or not parts.netloc or spaced:
            raise ValueError("the API URL must be http:// or https://host[:port][/path]")
        return url

    @property
    def lake_is_s3(self) -> bool:
        """True when the lake root is an S3 URI."""
        return self.lake.startswith("s3://")


def settings_error(exc: ValidationError, names: Mapping[str, str] | None = None) -> ConfigError:
    """One line naming the first bad setting by its environment variable (or by ``names``,
    e.g. a command-line flag that supplied it), pydantic's reason and the value (secrets not)."""
    errors = exc.errors()
    first = errors[0]
    loc = first.get("loc", ())
    field = str(loc[0]) if loc else ""
    name = (names or {}).get(field) or (ENV_PREFIX + field.upper() if field else "settings")
    message = " ".join(str(first.get("msg", "invalid value")).split())
    annotation = Settings.model_fields[field].annotation if field in Settings.model_fields else None
    secret = SecretStr in (annotation, *get_args(annotation))
    got = "" if secret or "input" not in first else f" (got {first['input']!r})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ConfigError(f"{name}: {message}{got}{more}")


def load_settings(names: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from the environment with ``overrides`` on top; a bad value is a one-line
    :class:`ConfigError` naming its variable (``names`` maps a field to the flag that set it)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise settings_error(exc, names) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, cached for the process (Lambda warm starts reuse it).
    A bad ``REBALANCER_*`` value is a one-line :class:`ConfigError` naming the variable."""
    return load_settings()


def env_var_names() -> set[str]:
    """Every environment variable name Settings reads (for IaC consistency checks)."""
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}
