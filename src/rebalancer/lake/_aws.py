"""AwsLake: the same tables on S3, written with awswrangler and queried through Athena.

Writers never touch the Glue catalog: Terraform owns the tables and uses partition projection
on ``dt``, so an object put at its deterministic key is visible to Athena at once.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import pandas as pd

from rebalancer.errors import ConfigError, QueryError
from rebalancer.lake._base import LakeBase, empty_frame, validate_object_name
from rebalancer.lake._manifest import S3Blobs
from rebalancer.lake._schema import TableSchema, get_schema
from rebalancer.lake._sql import parse_athena
from rebalancer.lake._views import view_definitions

if TYPE_CHECKING:
    import boto3
    import pyarrow as pa


def _wr() -> ModuleType:
    """awswrangler, imported on first use: it costs a second at import and the CLI's local
    path never needs it."""
    import awswrangler

    return awswrangler


class AwsLake(LakeBase):
    """A lake at ``s3://bucket/prefix`` with a Glue database and an Athena workgroup.

    Parameters
    ----------
    root
        ``s3://bucket/prefix`` of the lake.
    database
        Glue database holding the tables (created by Terraform).
    workgroup
        Athena workgroup; its enforced configuration decides result location and encryption.
    s3_output
        Athena result location, only needed when the workgroup does not enforce one.
    kms_key_arn
        KMS key for SSE-KMS on every object written.
    boto3_session
        Session to use; a default one is created when omitted (tests inject moto's).
    """

    def __init__(
        self,
        root: str,
        *,
        database: str,
        workgroup: str,
        s3_output: str | None = None,
        kms_key_arn: str | None = None,
        boto3_session: boto3.Session | None = None,
        region: str | None = None,
    ) -> None:
        if not root.startswith("s3://") or len(root) <= len("s3://"):
            raise ConfigError(f"AwsLake needs an s3://bucket/prefix root, got {root!r}")
        self._root = root.rstrip("/")
        self.database = database
        self.workgroup = workgroup
        self.s3_output = s3_output
        self.kms_key_arn = kms_key_arn
        if boto3_session is None:
            import boto3

            boto3_session = boto3.Session(region_name=region)
        self._session = boto3_session
        self.blobs = S3Blobs(self._root, boto3_session, self._s3_kwargs())

    @property
    def root(self) -> str:
        """The lake's S3 URI, without a trailing slash."""
        return self._root

    def __repr__(self) -> str:
        return f"AwsLake({self.root!r}, database={self.database!r}, workgroup={self.workgroup!r})"

    def _s3_kwargs(self) -> dict[str, str]:
        if self.kms_key_arn:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_arn}
        return {}

    def object_key(self, table: str, name: str, dt: str | None = None) -> str:
        """The S3 URI a (table, dt, name) object lives at."""
        base = f"{self._root}/{get_schema(table).name}"
        if dt is not None:
            base += f"/dt={dt}"
        return f"{base}/{validate_object_name(name)}.parquet"

    def _put(self, schema: TableSchema, rows: pa.Table, *, name: str, dt: str | None) -> str:
        """Put one object (path-only: no catalog changes)."""
        key = self.object_key(schema.name, name, dt)
        _wr().s3.to_parquet(
            df=rows.to_pandas(types_mapper=_nullable_types),
            path=key,
            index=False,
            compression="zstd",
            dtype={c.name: c.type for c in schema.columns},
            boto3_session=self._session,
            s3_additional_kwargs=self._s3_kwargs() or None,
        )
        return key

    def _list_keys(self, schema: TableSchema, dt: str | None) -> list[str]:
        prefix = f"{self._root}/{schema.name}/"
        if dt:
            prefix += f"dt={dt}/"
        keys: list[str] = _wr().s3.list_objects(
            prefix, suffix=".parquet", boto3_session=self._session
        )
        return keys

    def read_objects(self, table: str, keys: list[str]) -> pd.DataFrame:
        """Read exactly these objects (data columns only)."""
        schema = get_schema(table)
        if not keys:
            return empty_frame(schema, schema.column_names)
        frame = _wr().s3.read_parquet(keys, boto3_session=self._session)
        return frame[schema.column_names]

    def delete_objects(self, keys: list[str]) -> None:
        """Delete objects under this lake's root."""
        outside = [k for k in keys if not k.startswith(self._root + "/")]
        if outside:
            raise QueryError(f"refusing to delete {outside[0]}: outside the lake {self.root}")
        if keys:
            _wr().s3.delete_objects(keys, boto3_session=self._session)

    def _read_keys(
        self, schema: TableSchema, keys: list[str], columns: list[str] | None
    ) -> pd.DataFrame:
        """Read listed objects straight from S3."""
        frame = _wr().s3.read_parquet(
            keys,
            dataset=schema.partitioned,
            path_root=f"{self._root}/{schema.name}/" if schema.partitioned else None,
            columns=[c for c in columns if c != "dt"] if columns else None,
            boto3_session=self._session,
        )
        if schema.partitioned and "dt" in frame.columns:
            frame["dt"] = frame["dt"].astype("string")
        return frame[columns] if columns else frame

    def _query(self, sql: str) -> pd.DataFrame:
        """Run one bound, read-only Athena statement (``ctas_approach=False``: CSV results).

        Parameters are bound by the same formatter as locally (:meth:`LakeBase.query`), not by
        awswrangler's ``params=``: its named style also replaces ``:name`` inside string
        literals and prints floats with six decimals.
        """
        parse_athena(sql)  # same read-only guard and syntax errors as the local backend
        return self._run(sql)

    def _run(self, sql: str) -> pd.DataFrame:
        kwargs: dict[str, Any] = {
            "database": self.database,
            "workgroup": self.workgroup,
            "ctas_approach": False,
            "boto3_session": self._session,
        }
        if self.s3_output:
            kwargs["s3_output"] = self.s3_output
        try:
            return _wr().athena.read_sql_query(sql, **kwargs)
        except _wr().exceptions.QueryFailed as exc:
            raise QueryError(f"Athena query failed: {str(exc).splitlines()[0]}") from None

    def sync_views(self) -> list[str]:
        """``CREATE OR REPLACE VIEW`` for each ``sql/views/*.sql`` through Athena."""
        created = []
        for name, body in view_definitions().items():
            parse_athena(body)
            query_id = _wr().athena.start_query_execution(
                f'CREATE OR REPLACE VIEW "{name}" AS\n{body}',
                database=self.database,
                workgroup=self.workgroup,
                s3_output=self.s3_output,
                boto3_session=self._session,
            )
            _wr().athena.wait_query(query_id, boto3_session=self._session)
            created.append(name)
        return created


def _nullable_types(arrow_type: Any) -> Any:
    """Keep integer columns with nulls as pandas nullable ints, not floats."""
    import pyarrow as pa

    mapping = {
        pa.int64(): pd.Int64Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    return mapping.get(arrow_type)
