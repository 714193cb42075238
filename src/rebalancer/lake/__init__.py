"""The lake: tables as Parquet at Hive-style keys, queried with Athena SQL.

``get_lake()`` is the one factory; it reads :class:`rebalancer.config.Settings`.
"""

from __future__ import annotations

from rebalancer.config import Settings, get_settings
from rebalancer.errors import ConfigError
from rebalancer.lake._aws import AwsLake
from rebalancer.lake._base import DEFAULT_OBJECT_NAME, Lake, partition_of, split_by_partition
from rebalancer.lake._local import LocalLake
from rebalancer.lake._params import bind_params, sql_literal
from rebalancer.lake._schema import (
    Column,
    TableSchema,
    get_schema,
    load_schemas,
    partition_values,
    table_names,
)
from rebalancer.lake._sql import athena_to_duckdb, joda_to_strftime, parse_athena
from rebalancer.lake._views import view_definitions

__all__ = [
    "DEFAULT_OBJECT_NAME",
    "AwsLake",
    "Column",
    "Lake",
    "LocalLake",
    "TableSchema",
    "athena_to_duckdb",
    "bind_params",
    "get_lake",
    "get_schema",
    "joda_to_strftime",
    "load_schemas",
    "parse_athena",
    "partition_of",
    "partition_values",
    "split_by_partition",
    "sql_literal",
    "table_names",
    "view_definitions",
]


def get_lake(settings: Settings | None = None, **overrides: object) -> Lake:
    """The lake the settings describe; keyword overrides beat the environment.

    >>> get_lake(lake="/tmp/lake")  # doctest: +SKIP
    LocalLake('/tmp/lake')
    """
    base = settings or get_settings()
    if overrides:
        base = base.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if base.backend == "aws":
        if not base.lake_is_s3:
            raise ConfigError(
                "REBALANCER_BACKEND=aws needs REBALANCER_LAKE=s3://bucket/prefix, "
                f"got {base.lake!r}"
            )
        return AwsLake(
            base.lake,
            database=base.glue_database,
            workgroup=base.athena_workgroup,
            s3_output=base.athena_output,
            kms_key_arn=base.kms_key_arn,
            region=base.region,
        )
    if base.lake_is_s3:
        raise ConfigError(
            f"REBALANCER_LAKE={base.lake} is on S3: set REBALANCER_BACKEND=aws to use it"
        )
    return LocalLake(
        base.lake,
        query_timeout_seconds=base.query_timeout_seconds,
        memory_limit=base.duckdb_memory_limit,
    )
