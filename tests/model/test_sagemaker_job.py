"""The SageMaker training job: the Athena UNLOAD, the job request, polling, and registering the
job's artifact — every AWS call through botocore's Stubber (Athena, SageMaker) or moto (S3) —
and the job's entry point run as the container runs it (only the shipped files, no lake)."""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
from botocore.stub import Stubber
from moto import mock_aws

from rebalancer.config import Settings
from rebalancer.errors import ConfigError, ModelError, QueryError
from rebalancer.lake import AwsLake, LocalLake
from rebalancer.model import LocalPredictor, current_model, load_model, model_features, train
from rebalancer.model._sagemaker_job import (
    CODE_CHANNEL_DIR,
    TRAINING_SOURCES,
    Clients,
    JobSettings,
    hyperparameters,
    image_uri,
    inference_sourcedir,
    job_model,
    job_settings,
    train_on_sagemaker,
    training_sourcedir,
    unload_statement,
    wait_for_job,
)
from rebalancer.model._train import training_sql
from tests.model.conftest import SMALL

REGION = "us-east-1"
BUCKET = "advisor-lake"
ROLE = "arn:aws:iam::111122223333:role/rebalancer-dev-sagemaker-training"
KMS = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
JOB = "rebalancer-train-20240701-120000"
NOW = pd.Timestamp("2024-07-01T12:00:00Z").to_pydatetime()
#: What the training image lacks: the job must not import any of it.
NOT_IN_IMAGE = (
    "pydantic", "pydantic_settings", "sqlglot", "duckdb", "awswrangler", "boto3", "botocore",
    "rich", "typer", "dotenv", "fastapi", "skfolio", "rebalancer.lake", "rebalancer.config",
)  # fmt: skip


def settings(**overrides: Any) -> JobSettings:
    values: dict[str, Any] = {
        "role_arn": ROLE,
        "region": REGION,
        "data_uri": f"s3://{BUCKET}/training",
        "output_uri": f"s3://{BUCKET}/models/training-jobs",
        "kms_key_arn": KMS,
        "poll_seconds": 30.0,
        "timeout_seconds": 600.0,
    }
    return JobSettings(**{**values, **overrides})


class FakeClock:
    """time.monotonic / time.sleep without waiting; ``on_sleep`` runs at each sleep."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, 0
        self.on_sleep: list[Any] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        for hook in self.on_sleep:
            hook(self.sleeps)


# ------------------------------------------------------------------------ image, settings
def test_image_uri_per_region() -> None:
    assert image_uri("us-east-1") == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
    )
    assert image_uri("eu-west-1", "3.0-5") == (
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5"
    )
    assert image_uri("cn-north-1").startswith("450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/")
    with pytest.raises(ConfigError, match="--image"):
        image_uri("xx-nowhere-1")
    assert settings(image="my/image:1").training_image == "my/image:1"
    assert settings(region="eu-west-1").training_image.endswith(":3.2-0")


def test_job_settings_need_a_role_and_s3_prefixes() -> None:
    with pytest.raises(ConfigError, match="no SageMaker training role"):
        settings(role_arn="")
    with pytest.raises(ConfigError, match="IAM role ARN"):
        settings(role_arn="my-role")
    with pytest.raises(ConfigError, match="data_uri"):
        settings(data_uri="/tmp/training")
    with pytest.raises(ConfigError, match="subnets and security groups"):
        settings(subnets=("subnet-1",))


def test_job_settings_from_settings_default_to_the_lake_bucket() -> None:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        lake = AwsLake(f"s3://{BUCKET}/lake", database="db", workgroup="wg", boto3_session=session)
        job = job_settings(Settings(sagemaker_role_arn=ROLE, kms_key_arn=KMS), lake)
    assert job.region == REGION and job.role_arn == ROLE and job.kms_key_arn == KMS
    assert job.data_uri == f"s3://{BUCKET}/training"
    assert job.output_uri == f"s3://{BUCKET}/models/training-jobs"
    assert job.instance_type == "ml.m5.xlarge"
    with pytest.raises(ConfigError, match="aws backend"):
        job_settings(Settings(sagemaker_role_arn=ROLE), LocalLake(Path("/nonexistent-lake")))


# ------------------------------------------------------------------------ the UNLOAD
def test_unload_statement_binds_values_and_guards_the_select() -> None:
    sql = unload_statement("s3://b/it's/data/", source="simulated")
    assert sql.startswith("UNLOAD (\n") and "source = 'simulated'" in sql
    assert sql.endswith(
        ") TO 's3://b/it''s/data/' WITH (format = 'PARQUET', compression = 'SNAPPY')"
    )
    code = "\n".join(line.split("--")[0] for line in sql.splitlines())  # comments aside
    assert ":source" not in code and ":target" not in code
    assert "WHERE 'simulated' = '' OR source = 'simulated'" in code
    assert "FROM decision_features f" in sql  # the very query `rebalancer train` reads
    assert training_sql().strip().splitlines()[-1] in sql
    with pytest.raises(ConfigError, match="source"):
        unload_statement("s3://b/data/", source="x' OR 1=1 --")
    with pytest.raises(ConfigError, match="ending in /"):
        unload_statement("s3://b/data")


def athena_stubbed(statement: str, states: list[str], reason: str = "") -> tuple[Any, Stubber]:
    client = boto3.client("athena", region_name=REGION)
    stub = Stubber(client)
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {
            "QueryString": statement,
            "QueryExecutionContext": {"Database": "advisor_db"},
            "WorkGroup": "advisor_wg",
        },
    )
    for state in states:
        status: dict[str, Any] = {"State": state}
        if reason:
            status["StateChangeReason"] = reason
        stub.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status}},
            {"QueryExecutionId": "q-1"},
        )
    return client, stub


# ------------------------------------------------------------------------ the container side
def container_args(config: Any = SMALL) -> list[str]:
    """The script's argv as the toolkit builds it from the job's HyperParameters."""
    args = []
    for key, value in hyperparameters(config, JOB, REGION).items():
        if not key.startswith("sagemaker_"):
            args += [f"--{key}", str(json.loads(value))]
    return args


def unload_files(data: pd.DataFrame, directory: Path) -> Path:
    """The training set as Athena's UNLOAD leaves it: Parquet files without an extension, in
    no particular row order, with the partition column."""
    directory.mkdir(parents=True, exist_ok=True)
    shuffled = data.sample(frac=1.0, random_state=1).assign(
        dt=data["as_of"].dt.strftime("%Y-%m-%d")
    )
    for i, rows in enumerate(np.array_split(np.arange(len(shuffled)), 3)):
        part = shuffled.iloc[rows]
        pq.write_table(
            pa.Table.from_pandas(part, preserve_index=False), directory / f"2024_{i:05d}_q-1"
        )
    (directory / "_SUCCESS").write_bytes(b"")
    return directory


BOOTSTRAP = """
import importlib.abc, runpy, sys
BLOCKED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in BLOCKED or name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"not in the training image: {name}")
        return None
sys.meta_path.insert(0, Block())
here = sys.path[0]
sys.path[:] = [here] + [p for p in sys.path[1:] if not p.rstrip("/").endswith("/src") and p not in ("", ".")]
sys.argv = ["train.py"] + sys.argv[2:]
runpy.run_path("train.py", run_name="__main__")
import rebalancer
assert rebalancer.__file__.startswith(here), rebalancer.__file__
"""


@pytest.fixture(scope="module")
def job_run(tmp_path_factory: pytest.TempPathFactory, data: pd.DataFrame) -> dict[str, Path]:
    """The shipped source directory run as SageMaker runs it: only its files importable,
    nothing the image lacks, the hyperparameters as the toolkit passes them."""
    root = tmp_path_factory.mktemp("job")
    code, channel = root / "code", unload_files(data, root / "input" / "train")
    with tarfile.open(fileobj=io.BytesIO(training_sourcedir()), mode="r:gz") as tar:
        tar.extractall(code, filter="data")
    (code / "bootstrap.py").write_text(BOOTSTRAP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "REBALANCER_"))} | {
        "SM_CHANNEL_TRAIN": str(channel),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_OUTPUT_DIR": str(root / "output"),
    }
    result = subprocess.run(
        [sys.executable, "bootstrap.py", ",".join(NOT_IN_IMAGE), *container_args()],
        cwd=code, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "macro_f1=" in result.stdout
    return {"root": root, "code": code, "model": root / "model", "output": root / "output" / "data"}


def test_sourcedir_holds_the_entry_point_and_light_modules_only(job_run: dict[str, Path]) -> None:
    with tarfile.open(fileobj=io.BytesIO(training_sourcedir()), mode="r:gz") as tar:
        names = tar.getnames()
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
    assert names == sorted(names) and "train.py" in names
    assert "rebalancer/_resources/schemas/decision_features.json" in names
    assert not any(n.startswith(("rebalancer/lake", "rebalancer/cli")) for n in names)
    assert training_sourcedir() == training_sourcedir()  # reproducible bytes
    for name, _ in TRAINING_SOURCES:  # the image runs Python 3.10
        ast.parse((job_run["code"] / name).read_text(), feature_version=(3, 10))
        assert "from datetime import UTC" not in (job_run["code"] / name).read_text()


def test_the_job_trains_exactly_what_rebalancer_train_trains(
    job_run: dict[str, Path], data: pd.DataFrame
) -> None:
    assert sorted(p.name for p in job_run["model"].iterdir()) == ["xgboost-model"]
    booster = xgb.Booster()
    booster.load_model(bytearray((job_run["model"] / "xgboost-model").read_bytes()))
    local = train(data, SMALL)
    assert booster.num_boosted_rounds() == local.booster.num_boosted_rounds()
    x = xgb.DMatrix(data[model_features()].to_numpy(np.float64), feature_names=model_features())
    np.testing.assert_allclose(booster.predict(x), local.booster.predict(x), rtol=0, atol=1e-6)
    facts = json.loads((job_run["output"] / "training.json").read_text())
    assert facts["features"] == model_features() and facts["rows"] == len(data)
    assert facts["config"]["num_boost_round"] == SMALL.num_boost_round
    assert facts["evaluation"]["model"]["macro_f1"] == pytest.approx(
        local.evaluation["model"]["macro_f1"]
    )
    assert facts["split"] == json.loads(json.dumps(local.split, default=str))


def test_a_failing_job_writes_its_reason_for_sagemaker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rebalancer.model._container import main

    (tmp_path / "train").mkdir()
    pq.write_table(pa.table({"x": [1]}), tmp_path / "train" / "part-0")
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "out"))
    with pytest.raises(KeyError):
        main(["--train", str(tmp_path / "train"), "--model-dir", str(tmp_path / "m"),
              "--output-data-dir", str(tmp_path / "d")])  # fmt: skip
    assert (tmp_path / "out" / "failure").read_text().startswith("KeyError: ")


# ------------------------------------------------------------------------ the whole path
def targz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return raw.getvalue()


@pytest.fixture
def aws() -> Iterator[tuple[AwsLake, boto3.Session]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        lake = AwsLake(
            f"s3://{BUCKET}/lake", database="advisor_db", workgroup="advisor_wg",
            boto3_session=session,
        )  # fmt: skip
        yield lake, session


def expected_request(job: JobSettings) -> dict[str, Any]:
    data = f"s3://{BUCKET}/training/{JOB}/data/"
    code = f"s3://{BUCKET}/training/{JOB}/code/"
    return {
        "TrainingJobName": JOB,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {
            "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
            "TrainingInputMode": "File",
        },
        "HyperParameters": {
            "seed": "3",
            "test_households": "0.3",
            "valid_households": "0.15",
            "test_dates": "0.3",
            "embargo_days": "3",
            "num_boost_round": "30",
            "early_stopping_rounds": "30",
            "max_depth": "4",
            "eta": "0.3",
            "nthread": "1",
            "reasons": '"approx"',
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"{CODE_CHANNEL_DIR}/sourcedir.tar.gz"',
            "sagemaker_region": '"us-east-1"',
            "sagemaker_job_name": f'"{JOB}"',
            "sagemaker_container_log_level": "20",
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": data,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "InputMode": "File",
                "CompressionType": "None",
                "ContentType": "application/x-parquet",
            },
            {
                "ChannelName": "code",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": code,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "InputMode": "File",
                "CompressionType": "None",
            },
        ],
        "OutputDataConfig": {
            "S3OutputPath": f"s3://{BUCKET}/models/training-jobs/",
            "KmsKeyId": KMS,
        },
        "ResourceConfig": {
            "InstanceType": "ml.m5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
            "VolumeKmsKeyId": KMS,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "EnableNetworkIsolation": True,
        "Tags": [{"Key": "Project", "Value": "rebalancer"}],
        **(
            {"VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}}
            if job.subnets
            else {}
        ),
    }


def describe(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "TrainingJobName": JOB,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:111122223333:training-job/{JOB}",
        "TrainingJobStatus": status,
        "SecondaryStatus": {"InProgress": "Training", "Completed": "Completed"}.get(status, status),
        "AlgorithmSpecification": {"TrainingImage": image_uri(REGION), "TrainingInputMode": "File"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "ModelArtifacts": {
            "S3ModelArtifacts": f"s3://{BUCKET}/models/training-jobs/{JOB}/output/model.tar.gz"
        },
        "CreationTime": NOW,
        **extra,
    }


@pytest.mark.parametrize("vpc", [False, True])
def test_train_on_sagemaker_end_to_end(
    aws: tuple[AwsLake, boto3.Session], job_run: dict[str, Path], data: pd.DataFrame, vpc: bool
) -> None:
    lake, session = aws
    job = settings(**({"subnets": ("subnet-1",), "security_group_ids": ("sg-1",)} if vpc else {}))
    data_uri = f"s3://{BUCKET}/training/{JOB}/data/"
    athena, athena_stub = athena_stubbed(
        unload_statement(data_uri), ["QUEUED", "RUNNING", "SUCCEEDED"]
    )
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sm_stub = Stubber(sagemaker)
    sm_stub.add_response(
        "create_training_job",
        {"TrainingJobArn": describe("InProgress")["TrainingJobArn"]},
        expected_request(job),
    )
    for status in ("InProgress", "InProgress", "Completed"):
        extra = {"BillableTimeInSeconds": 95} if status == "Completed" else {}
        sm_stub.add_response(
            "describe_training_job", describe(status, **extra), {"TrainingJobName": JOB}
        )
    s3 = session.client("s3")
    clock = FakeClock()
    # The "job": after the second poll, SageMaker's uploads appear (the model archive also
    # carries a stray file, which registration must drop).
    model_file = (job_run["model"] / "xgboost-model").read_bytes()
    facts = (job_run["output"] / "training.json").read_bytes()

    def finish(sleeps: int) -> None:
        if sleeps == 4:  # 2 Athena polls, then 2 job polls
            prefix = f"models/training-jobs/{JOB}/output"
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}/model.tar.gz",
                          Body=targz({"xgboost-model": model_file, "notes.txt": b"x"}))  # fmt: skip
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}/output.tar.gz",
                          Body=targz({"training.json": facts}))  # fmt: skip

    clock.on_sleep.append(finish)
    seen: list[tuple[str, str]] = []
    with athena_stub, sm_stub:
        meta = train_on_sagemaker(
            lake, job, Clients(sagemaker=sagemaker, s3=s3, athena=athena), SMALL,
            now=NOW, sleep=clock.sleep, clock=clock.clock,
            on_status=lambda status, detail: seen.append((status, detail)),
        )  # fmt: skip
        athena_stub.assert_no_pending_responses()
        sm_stub.assert_no_pending_responses()
    assert clock.now == 2 * 2.0 + 2 * 30.0  # Athena polled every 2 s, the job every 30 s
    assert [s for s, _ in seen] == ["Unloading", "Created", "InProgress", "InProgress", "Completed"]
    # the code channel holds the shipped source directory, KMS-encrypted
    code = s3.get_object(Bucket=BUCKET, Key=f"training/{JOB}/code/sourcedir.tar.gz")
    assert code["Body"].read() == training_sourcedir()
    assert code["ServerSideEncryption"] == "aws:kms" and code["SSEKMSKeyId"] == KMS
    # registered like local training: models/<version>/, latest.json, the one-file archive
    assert current_model(lake)["version"] == meta["version"]
    snapshot = meta["data_snapshot"]
    assert snapshot["sagemaker"]["job_name"] == JOB
    assert snapshot["sagemaker"]["archive_members"] == ["notes.txt", "xgboost-model"]
    assert snapshot["sagemaker"]["billable_seconds"] == 95
    assert snapshot["athena_query_id"] == "q-1" and snapshot["training_data"] == data_uri
    assert meta["training"]["rows"] == len(data) and meta["features"] == model_features()
    archive = lake.blobs.get(f"models/{meta['version']}/model.tar.gz")
    assert archive is not None
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert tar.getnames() == ["xgboost-model"]
    assert lake.blobs.get(f"models/{meta['version']}/report.md") is not None
    loaded = load_model(lake)
    rows = data[model_features()].head(20)
    expected = xgb.Booster()
    expected.load_model(bytearray(model_file))
    x = xgb.DMatrix(rows.to_numpy(np.float64), feature_names=model_features())
    np.testing.assert_array_equal(loaded.booster.predict(x), expected.predict(x))
    scored = LocalPredictor(loaded).predict(data.head(20))
    assert len(scored) == 20 and set(scored["model_action"]) <= {"SELL", "HOLD", "BUY"}


def test_a_failed_job_is_a_model_error_with_its_reason() -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    stub = Stubber(sagemaker)
    stub.add_response("describe_training_job", describe("InProgress"), {"TrainingJobName": JOB})
    stub.add_response(
        "describe_training_job",
        describe("Failed", FailureReason="AlgorithmError: KeyError: 'as_of'\nexit 1"),
        {"TrainingJobName": JOB},
    )
    clock = FakeClock()
    with (
        stub,
        pytest.raises(ModelError, match=r"failed: AlgorithmError: KeyError: 'as_of' exit 1$"),
    ):
        wait_for_job(sagemaker, JOB, sleep=clock.sleep, clock=clock.clock)
    stub.assert_no_pending_responses()


def test_a_job_past_the_timeout_is_stopped() -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    stub = Stubber(sagemaker)
    for _ in range(3):
        stub.add_response("describe_training_job", describe("InProgress"), {"TrainingJobName": JOB})
    stub.add_response("stop_training_job", {}, {"TrainingJobName": JOB})
    clock = FakeClock()
    with stub, pytest.raises(ModelError, match=r"still InProgress .* after 60 s: stopped it"):
        wait_for_job(
            sagemaker,
            JOB,
            poll_seconds=30,
            timeout_seconds=60,
            sleep=clock.sleep,
            clock=clock.clock,
        )
    stub.assert_no_pending_responses()


def test_a_failed_unload_is_a_query_error(aws: tuple[AwsLake, boto3.Session]) -> None:
    lake, session = aws
    athena, stub = athena_stubbed(
        unload_statement(f"s3://{BUCKET}/training/{JOB}/data/"),
        ["FAILED"],
        reason="HIVE_PATH_ALREADY_EXISTS: Target directory for table is not empty",
    )
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with stub, Stubber(sagemaker) as sm_stub, pytest.raises(QueryError, match="HIVE_PATH_ALREADY"):
        train_on_sagemaker(
            lake, settings(), Clients(sagemaker=sagemaker, s3=session.client("s3"), athena=athena),
            now=NOW, sleep=FakeClock().sleep,
        )  # fmt: skip
    sm_stub.assert_no_pending_responses()  # no job was created


def test_the_job_archive_must_hold_the_model_file() -> None:
    model, members = job_model(targz({"./xgboost-model": b"{}"}), "s3://b/model.tar.gz")
    assert model == b"{}" and members == ["xgboost-model"]
    with pytest.raises(ModelError, match=r"holds \['model.json'\], not xgboost-model"):
        job_model(targz({"model.json": b"{}"}), "s3://b/model.tar.gz")
    with pytest.raises(ModelError, match=r"not a readable tar\.gz"):
        job_model(b"not a tarball", "s3://b/model.tar.gz")


def test_cli_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli.conftest import invoke

    code, _, err = invoke(tmp_path / "lake", "train", "--on", "sagemaker")
    assert code == 2 and "use the aws backend" in err and len(err.strip().splitlines()) == 1
    code, _, err = invoke(tmp_path / "lake", "train", "--on", "mars")
    assert code == 2 and "--on" in err
    monkeypatch.delenv("REBALANCER_SAGEMAKER_ROLE_ARN", raising=False)
    with mock_aws():
        monkeypatch.setenv("REBALANCER_BACKEND", "aws")
        monkeypatch.setenv("REBALANCER_REGION", REGION)
        code, _, err = invoke(f"s3://{BUCKET}/lake", "train", "--on", "sagemaker")
    assert code == 2 and "no SageMaker training role" in err
    assert len(err.strip().splitlines()) == 1


def test_inference_sourcedir_serves_without_the_package(
    tmp_path: Path, job_run: dict[str, Path], data: pd.DataFrame
) -> None:
    """What Terraform ships to the endpoint works on its own (the image has no rebalancer)."""
    with tarfile.open(fileobj=io.BytesIO(inference_sourcedir()), mode="r:gz") as tar:
        assert tar.getnames() == ["inference.py", "serving.py"]
        tar.extractall(tmp_path / "code", filter="data")
    csv = "\n".join(
        ",".join(f"{v:.6g}" for v in row) for row in data[model_features()].head(3).to_numpy()
    )
    script = (
        "import sys, json\n"
        f"sys.meta_path.insert(0, type('B', (), {{'find_spec': staticmethod("
        f"lambda n, p=None, t=None: (_ for _ in ()).throw(ModuleNotFoundError(n)) "
        f"if n.split('.')[0] == 'rebalancer' else None)}})())\n"
        "import inference\n"
        f"m = inference.model_fn({str(job_run['model'])!r})\n"
        f"out, ctype = inference.output_fn(inference.predict_fn(inference.input_fn({csv!r}, 'text/csv'), m), 'application/json')\n"
        "print(json.dumps([ctype, json.loads(out)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path / "code", capture_output=True, text=True,
        check=False, env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ctype, body = json.loads(result.stdout)
    assert ctype == "application/json" and body["classes"] == ["SELL", "HOLD", "BUY"]
    assert (
        len(body["probabilities"]) == 3
        and len(body["contributions"][0]) == len(model_features()) + 1
    )


def test_hyperparameters_are_json_for_the_toolkit() -> None:
    hp = hyperparameters(SMALL, JOB, REGION)
    assert {k: json.loads(v) for k, v in hp.items()}["eta"] == SMALL.eta
    assert all(isinstance(v, str) and len(v) <= 2500 for v in hp.values())
    assert json.loads(hp["sagemaker_submit_directory"]).startswith(CODE_CHANNEL_DIR)
