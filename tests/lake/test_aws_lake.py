"""AwsLake under moto: same keys as the local lake, Athena plumbing to the right workgroup."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import boto3
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from rebalancer.config import Settings
from rebalancer.errors import ConfigError, QueryError, SchemaValidationError
from rebalancer.lake import (
    AwsLake,
    LocalLake,
    bind_params,
    get_lake,
    get_schema,
    view_definitions,
)
from rebalancer.market._latest import LATEST_KEY
from tests.conftest import sample_frame

REGION = "us-east-1"
BUCKET = "lake-bucket"
RESULTS = "athena-results"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=RESULTS)
        session.client("athena").create_work_group(
            Name="analysts",
            Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/out/"}},
        )
        yield session


@pytest.fixture
def aws_lake(aws: boto3.Session) -> AwsLake:
    return AwsLake(
        f"s3://{BUCKET}/lake",
        database="rebalancer_db",
        workgroup="analysts",
        s3_output=f"s3://{RESULTS}/out/",
        boto3_session=aws,
    )


def _keys(session: boto3.Session, prefix: str) -> list[str]:
    listed = session.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_same_keys_as_local_lake(aws_lake: AwsLake, aws: boto3.Session, lake: LocalLake) -> None:
    frame = sample_frame("market_prices", 9)
    s3_keys = aws_lake.write("market_prices", frame, name="slot-1430")
    local_keys = lake.write("market_prices", frame, name="slot-1430")
    local_rel = [Path(k).relative_to(lake.root).as_posix() for k in local_keys]
    assert [k.removeprefix(f"s3://{BUCKET}/lake/") for k in s3_keys] == local_rel
    # Plus the latest-prices object every price write refreshes (rebalancer.market._latest).
    assert (Path(lake.root) / LATEST_KEY).is_file()
    assert _keys(aws, "lake/") == sorted([f"lake/{k}" for k in local_rel] + [f"lake/{LATEST_KEY}"])


def test_objects_are_parquet_with_schema_types(aws_lake: AwsLake, aws: boto3.Session) -> None:
    frame = sample_frame("market_prices", 3)
    (key, *_) = aws_lake.write("market_prices", frame)
    bucket, _, path = key.removeprefix("s3://").partition("/")
    body = aws.client("s3").get_object(Bucket=bucket, Key=path)["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    expected = get_schema("market_prices").arrow_schema()
    for field in expected:
        got = table.schema.field(field.name).type
        assert got == field.type or (field.type.id == got.id), (field.name, got, field.type)


def test_round_trip_and_pruned_read(aws_lake: AwsLake) -> None:
    frame = sample_frame("market_prices", 9)
    aws_lake.write("market_prices", frame)
    back = aws_lake.read("market_prices")
    assert len(back) == 9
    assert sorted(back["close"].round(6)) == sorted(frame["close"].round(6))
    days = sorted(frame["ts"].dt.strftime("%Y-%m-%d").unique())
    part = aws_lake.read("market_prices", start=days[-1])
    assert set(part["dt"]) == {days[-1]}


def test_idempotent_write(aws_lake: AwsLake, aws: boto3.Session) -> None:
    frame = sample_frame("holdings", 5)
    aws_lake.write("holdings", frame)
    aws_lake.write("holdings", frame)
    assert _keys(aws, "lake/holdings/") == ["lake/holdings/part-00000.parquet"]
    assert len(aws_lake.read("holdings")) == 5


def test_kms_encryption_requested(aws: boto3.Session) -> None:
    key_id = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
    lake = AwsLake(
        f"s3://{BUCKET}/lake",
        database="d",
        workgroup="analysts",
        kms_key_arn=key_id,
        boto3_session=aws,
    )
    (key,) = lake.write("accounts", sample_frame("accounts", 2))
    head = aws.client("s3").head_object(Bucket=BUCKET, Key=key.removeprefix(f"s3://{BUCKET}/"))
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_id


def test_invalid_frame_writes_nothing(aws_lake: AwsLake, aws: boto3.Session) -> None:
    frame = sample_frame("market_prices", 4).drop(columns=["source"])
    with pytest.raises(SchemaValidationError, match="missing column"):
        aws_lake.write("market_prices", frame)
    assert _keys(aws, "lake/") == []


def _queue_result(rows: list[list[str]], columns: list[tuple[str, str]]) -> None:
    """Queue a canned Athena result in moto (moto runs no SQL)."""
    payload = {
        "account_id": DEFAULT_ACCOUNT_ID,
        "region": REGION,
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": c} for c, _ in columns]}]
                + [{"Data": [{"VarCharValue": v} for v in row]} for row in rows],
                "column_info": [
                    {
                        "CatalogName": "hive",
                        "SchemaName": "",
                        "TableName": "",
                        "Name": name,
                        "Label": name,
                        "Type": kind,
                        "Precision": 17,
                        "Scale": 0,
                        "Nullable": "NULLABLE",
                        "CaseSensitive": False,
                    }
                    for name, kind in columns
                ],
            }
        ],
    }
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/athena/query-results", json=payload, timeout=5
    )
    assert response.status_code == 201


def test_query_goes_to_workgroup_and_database(aws_lake: AwsLake, aws: boto3.Session) -> None:
    _queue_result([["AAPL", "3"], ["MSFT", "5"]], [("symbol", "varchar"), ("n", "bigint")])
    sql = "SELECT symbol, count(*) AS n FROM market_prices GROUP BY 1"
    frame = aws_lake.query(sql)
    assert frame["symbol"].tolist() == ["AAPL", "MSFT"]
    assert frame["n"].tolist() == [3, 5]

    athena = aws.client("athena")
    (query_id,) = athena.list_query_executions(WorkGroup="analysts")["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert execution["Query"] == sql
    assert execution["WorkGroup"] == "analysts"
    assert execution["QueryExecutionContext"]["Database"] == "rebalancer_db"


def test_params_are_bound_by_the_shared_formatter(aws_lake: AwsLake, aws: boto3.Session) -> None:
    # The text Athena receives is bind_params' output, the same the local lake transpiles.
    _queue_result([["x"]], [("account_id", "varchar")])
    sql = "SELECT account_id FROM accounts WHERE account_id = :id AND cash > :c AND dt IN :days"
    params = {"id": "O'Brien\\ -- ü 📈 /* */ ;", "c": -0.5, "days": ["2024-03-01", "2024-03-02"]}
    aws_lake.query(sql, params=params)
    athena = aws.client("athena")
    (query_id,) = athena.list_query_executions(WorkGroup="analysts")["QueryExecutionIds"]
    sent = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Query"]
    assert sent == bind_params(sql, params)
    assert sent == (
        "SELECT account_id FROM accounts WHERE account_id = 'O''Brien\\ -- ü 📈 /* */ ;' "
        "AND cash > (-0.5E0) AND dt IN ('2024-03-01', '2024-03-02')"
    )


def test_query_rejected_before_athena(aws_lake: AwsLake, aws: boto3.Session) -> None:
    for sql in (
        "DROP TABLE market_prices",
        "SELEC 1",
        "",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * INTO t FROM accounts",
    ):
        with pytest.raises(QueryError):
            aws_lake.query(sql)
    assert (
        aws.client("athena").list_query_executions(WorkGroup="analysts")["QueryExecutionIds"] == []
    )


def test_views_sync_runs_create_or_replace(aws_lake: AwsLake, aws: boto3.Session) -> None:
    names = aws_lake.sync_views()
    assert names == list(view_definitions())
    athena = aws.client("athena")
    ids = athena.list_query_executions(WorkGroup="analysts")["QueryExecutionIds"]
    queries = [
        athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids
    ]
    for name in names:
        assert any(q.startswith(f'CREATE OR REPLACE VIEW "{name}" AS') for q in queries), name


def test_delete_refuses_outside_root(aws_lake: AwsLake) -> None:
    with pytest.raises(QueryError, match="outside the lake"):
        aws_lake.delete_objects([f"s3://{BUCKET}/other/precious.parquet"])


def test_factory_picks_backend(tmp_path: Path) -> None:
    assert isinstance(get_lake(Settings(lake=str(tmp_path))), LocalLake)
    lake = get_lake(
        Settings(backend="aws", lake="s3://b/p", athena_workgroup="wg", glue_database="db")
    )
    assert isinstance(lake, AwsLake)
    assert (lake.root, lake.workgroup, lake.database) == ("s3://b/p", "wg", "db")
    with pytest.raises(ConfigError, match="REBALANCER_BACKEND=aws"):
        get_lake(Settings(lake="s3://b/p"))
    with pytest.raises(ConfigError, match="s3://bucket/prefix"):
        get_lake(Settings(backend="aws", lake=str(tmp_path)))


def test_bad_root() -> None:
    with pytest.raises(ConfigError):
        AwsLake("s3://", database="d", workgroup="w")
    with pytest.raises(ConfigError):
        AwsLake("/tmp/x", database="d", workgroup="w")


def test_read_empty_table(aws_lake: AwsLake) -> None:
    frame = aws_lake.read("market_prices")
    assert frame.empty
    assert "dt" in frame.columns
    pd.testing.assert_index_equal(
        frame.columns, pd.Index([*get_schema("market_prices").column_names, "dt"])
    )
