"""Train the model as a managed SageMaker training job and register its artifact.

1. **Training set**: ``sql/features/training_set.sql`` — the query ``rebalancer train`` reads
   through ``Lake.query`` — bound with the lake's parameter formatter (values are literals made
   by :func:`~rebalancer.lake.bind_params`, never pasted), checked by the same read-only guard
   as every Athena query, and wrapped in ``UNLOAD (...) TO :target WITH (format = 'PARQUET')``
   in the lake's Glue database and Athena workgroup.
2. **Job**: ``create_training_job`` on SageMaker's prebuilt ``sagemaker-xgboost`` image (the
   tag that serves the model, :data:`rebalancer.model.XGBOOST_IMAGE_TAG`) in script mode: the
   entry point ``train.py`` and the light modules it imports travel as ``sourcedir.tar.gz`` in
   a ``code`` channel, so the job runs with network isolation (the toolkit unpacks a local
   submit directory; an ``s3://`` one would need the network). Hyperparameters are the
   :class:`~rebalancer.model.TrainConfig` fields, JSON-encoded as the toolkit expects.
3. **Wait**: ``describe_training_job`` every ``poll_seconds`` until Completed; Failed or
   Stopped is a :class:`~rebalancer.errors.ModelError` with SageMaker's FailureReason; past
   ``timeout_seconds`` the job is stopped (nothing left running) and that is an error too.
4. **Register**: the job's ``model.tar.gz`` must hold ``xgboost-model`` (anything else in it
   is dropped: the registry's archive holds exactly that one file), its ``output.tar.gz`` the
   ``training.json`` facts; :func:`rebalancer.model.register` writes ``models/<version>/``
   exactly as local training does.

boto3 clients are injected (:class:`Clients`), so tests drive every call with botocore's
Stubber or moto; the heavy ``sagemaker`` SDK is not needed.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rebalancer.errors import ConfigError, ModelError, QueryError
from rebalancer.model import XGBOOST_IMAGE_TAG

if TYPE_CHECKING:
    import boto3

    from rebalancer.config import Settings
    from rebalancer.lake import Lake
    from rebalancer.model._train import TrainConfig

#: Accounts of SageMaker's ``sagemaker-xgboost`` ECR repositories by region, as the
#: sagemaker-python-sdk lists them (``image_uri_config/xgboost.json``: the same accounts for
#: every ``sagemaker-xgboost`` version since 0.90-1).
XGBOOST_REGISTRIES: dict[str, str] = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}

ENTRY_POINT = "train.py"
SOURCEDIR = "sourcedir.tar.gz"
#: Where the ``code`` channel lands in the container: the toolkit unpacks it as the submit
#: directory (SAGEMAKER_SUBMIT_DIRECTORY / ``sagemaker_submit_directory``).
CODE_CHANNEL_DIR = "/opt/ml/input/data/code"
TRAINING_FACTS = "training.json"
MODEL_FILE = "xgboost-model"
#: Default prefixes in the lake bucket (Terraform's training role reads the first, writes the
#: second): the training set and code, and the jobs' artifacts.
TRAINING_PREFIX = "training"
OUTPUT_PREFIX = "models/training-jobs"

_SRC = Path(__file__).resolve().parents[2]  # src/
#: Files of the training job's source directory (archive name -> file): the entry script and
#: the modules ``rebalancer.model._train`` imports, nothing that needs the lake or settings
#: (the image has no pydantic, DuckDB or sqlglot), plus the one schema it reads.
TRAINING_SOURCES: tuple[tuple[str, str], ...] = (
    (ENTRY_POINT, "training/train.py"),
    ("rebalancer/__init__.py", "rebalancer/__init__.py"),
    ("rebalancer/errors.py", "rebalancer/errors.py"),
    ("rebalancer/resources.py", "rebalancer/resources.py"),
    ("rebalancer/model/__init__.py", "rebalancer/model/__init__.py"),
    ("rebalancer/model/_container.py", "rebalancer/model/_container.py"),
    ("rebalancer/model/_decisions.py", "rebalancer/model/_decisions.py"),
    ("rebalancer/model/_metrics.py", "rebalancer/model/_metrics.py"),
    ("rebalancer/model/_train.py", "rebalancer/model/_train.py"),
    ("rebalancer/model/serving.py", "rebalancer/model/serving.py"),
)
SCHEMA_FILES = ("decision_features.json",)

JobStatus = Callable[[str, str], None]


def image_uri(region: str, tag: str = XGBOOST_IMAGE_TAG) -> str:
    """The ``sagemaker-xgboost:<tag>`` image in ``region``; ConfigError for an unknown region."""
    account = XGBOOST_REGISTRIES.get(region)
    if account is None:
        raise ConfigError(
            f"no sagemaker-xgboost registry known for region {region!r}: pass the image URI "
            "(--image or REBALANCER_SAGEMAKER_IMAGE)"
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/sagemaker-xgboost:{tag}"


def _targz(files: dict[str, bytes]) -> bytes:
    """A tar.gz of ``files`` with no time, owner or name recorded: same files, same bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def training_sourcedir() -> bytes:
    """The training job's ``sourcedir.tar.gz`` (:data:`TRAINING_SOURCES` plus the schema)."""
    from rebalancer.resources import schemas_dir

    files = {name: (_SRC / path).read_bytes() for name, path in TRAINING_SOURCES}
    for schema in SCHEMA_FILES:
        files[f"rebalancer/_resources/schemas/{schema}"] = (schemas_dir() / schema).read_bytes()
    return _targz(files)


def inference_sourcedir() -> bytes:
    """The endpoint's ``sourcedir.tar.gz``: ``inference.py`` and the ``serving.py`` it imports
    when the rebalancer package is absent (Terraform uploads it; see ``make package``)."""
    return _targz(
        {
            "inference.py": (_SRC / "training/inference.py").read_bytes(),
            "serving.py": (_SRC / "rebalancer/model/serving.py").read_bytes(),
        }
    )


@dataclass(frozen=True)
class JobSettings:
    """Where and how the training job runs (the CLI fills it from flags and Settings).

    ``data_uri`` is the prefix the training set and code are written under (one folder per
    job; the job's role reads it), ``output_uri`` where SageMaker writes the job's artifacts
    (the role writes there). ``kms_key_arn`` encrypts the outputs and the training volume.
    """

    role_arn: str
    region: str
    data_uri: str
    output_uri: str
    instance_type: str = "ml.m5.xlarge"
    volume_gb: int = 30
    max_runtime_seconds: int = 3600
    timeout_seconds: float = 7200.0
    poll_seconds: float = 30.0
    kms_key_arn: str | None = None
    image: str | None = None
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=lambda: {"Project": "rebalancer"})

    def __post_init__(self) -> None:
        if not self.role_arn:
            raise ConfigError(
                "no SageMaker training role: set REBALANCER_SAGEMAKER_ROLE_ARN or --role-arn "
                "(Terraform output sagemaker_training_role_arn)"
            )
        if not self.role_arn.startswith("arn:"):
            raise ConfigError(f"--role-arn must be an IAM role ARN, got {self.role_arn!r}")
        for name in ("data_uri", "output_uri"):
            value = getattr(self, name)
            if not value.startswith("s3://") or len(value.rstrip("/")) <= len("s3://"):
                raise ConfigError(f"{name} must be an s3://bucket/prefix URI, got {value!r}")
        if bool(self.subnets) != bool(self.security_group_ids):
            raise ConfigError("a VPC needs both subnets and security groups, or neither")
        if self.timeout_seconds <= 0 or self.poll_seconds <= 0:
            raise ConfigError("timeout and poll interval must be positive")

    @property
    def training_image(self) -> str:
        return self.image or image_uri(self.region)


@dataclass(frozen=True)
class Clients:
    """The boto3 clients the job needs (injected: tests pass stubbed or moto clients)."""

    sagemaker: Any
    s3: Any
    athena: Any

    @classmethod
    def from_session(cls, session: boto3.Session) -> Clients:
        return cls(
            sagemaker=session.client("sagemaker"),
            s3=session.client("s3"),
            athena=session.client("athena"),
        )


def job_settings(
    settings: Settings,
    lake: Lake,
    *,
    role_arn: str | None = None,
    instance_type: str | None = None,
    image: str | None = None,
    timeout_seconds: float | None = None,
) -> JobSettings:
    """JobSettings from Settings (``REBALANCER_SAGEMAKER_*``) with command-line values on top.
    Data and output default to ``training/`` and ``models/training-jobs/`` in the lake's
    bucket (the prefixes Terraform's training role may read and write)."""
    _athena_of(lake)
    bucket = str(getattr(lake, "root", "")).removeprefix("s3://").partition("/")[0]
    session = getattr(lake, "_session", None)
    region = settings.region or (session.region_name if session is not None else None)
    if not region:
        raise ConfigError("no AWS region: set REBALANCER_REGION or AWS_REGION")
    extra: dict[str, Any] = {}
    if timeout_seconds is not None:
        extra["timeout_seconds"] = timeout_seconds
    return JobSettings(
        role_arn=role_arn or settings.sagemaker_role_arn or "",
        region=region,
        data_uri=settings.sagemaker_training_uri or f"s3://{bucket}/{TRAINING_PREFIX}",
        output_uri=settings.sagemaker_output_uri or f"s3://{bucket}/{OUTPUT_PREFIX}",
        instance_type=instance_type or settings.sagemaker_instance_type,
        kms_key_arn=settings.kms_key_arn,
        image=image or settings.sagemaker_image,
        **extra,
    )


def clients_for(lake: Lake) -> Clients:
    """Clients from the lake's boto3 session (same credentials and region as the lake)."""
    session = getattr(lake, "_session", None)
    if session is None:
        import boto3

        session = boto3.Session()
    return Clients.from_session(session)


def job_name(now: datetime | None = None) -> str:
    """``rebalancer-train-YYYYMMDD-HHMMSS`` (UTC): unique per second, within SageMaker's 63."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return f"rebalancer-train-{when:%Y%m%d-%H%M%S}"


def _split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


# -- 1. the training set through Athena -------------------------------------------------------


def unload_statement(target_uri: str, *, source: str = "") -> str:
    """``UNLOAD (<training_set.sql, bound>) TO '<target>' WITH (format = 'PARQUET', ...)``.

    The SELECT goes through the same parameter binding and read-only guard as
    ``Lake.query``; the target is bound as a parameter too.
    """
    from rebalancer.lake import bind_params, parse_athena
    from rebalancer.model._decisions import SOURCES
    from rebalancer.model._train import training_sql

    if source and source not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if not target_uri.startswith("s3://") or not target_uri.endswith("/"):
        raise ConfigError(f"UNLOAD target must be an s3:// prefix ending in /, got {target_uri!r}")
    select = bind_params(training_sql(), {"source": source}).strip().rstrip(";")
    parse_athena(select)
    wrapper = "UNLOAD (\n{select}\n) TO :target WITH (format = 'PARQUET', compression = 'SNAPPY')"
    head, _, tail = wrapper.partition("{select}")
    return head + select + bind_params(tail, {"target": target_uri})


def unload_training_set(
    lake: Lake,
    athena: Any,
    target_uri: str,
    *,
    source: str = "",
    poll_seconds: float = 2.0,
    timeout_seconds: float = 1800.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Run the UNLOAD in the lake's database and workgroup; the query execution id.
    QueryError with Athena's reason if it fails, or if it is still running at the timeout
    (then it is cancelled)."""
    database, workgroup = _athena_of(lake)
    request: dict[str, Any] = {
        "QueryString": unload_statement(target_uri, source=source),
        "QueryExecutionContext": {"Database": database},
        "WorkGroup": workgroup,
    }
    output = getattr(lake, "s3_output", None)
    if output:
        request["ResultConfiguration"] = {"OutputLocation": output}
    query_id: str = athena.start_query_execution(**request)["QueryExecutionId"]
    deadline = clock() + timeout_seconds
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        state = status["State"]
        if state == "SUCCEEDED":
            return query_id
        if state in ("FAILED", "CANCELLED"):
            reason = " ".join(str(status.get("StateChangeReason", "no reason given")).split())
            raise QueryError(f"Athena UNLOAD of the training set {state.lower()}: {reason}")
        if clock() >= deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise QueryError(
                f"Athena UNLOAD of the training set still {state} after {timeout_seconds:g} s: "
                "cancelled"
            )
        sleep(poll_seconds)


def _athena_of(lake: Lake) -> tuple[str, str]:
    database, workgroup = getattr(lake, "database", None), getattr(lake, "workgroup", None)
    if not database or not workgroup or not str(getattr(lake, "root", "")).startswith("s3://"):
        raise ConfigError(
            "training on SageMaker reads the training set through Athena: use the aws backend "
            "(REBALANCER_BACKEND=aws, an s3:// REBALANCER_LAKE)"
        )
    return str(database), str(workgroup)


# -- 2. the job --------------------------------------------------------------------------------


def hyperparameters(config: TrainConfig, name: str, region: str) -> dict[str, str]:
    """The job's HyperParameters: every TrainConfig field plus the toolkit's ``sagemaker_*``
    keys, each value JSON-encoded (the toolkit ``json.loads`` them back)."""
    values: dict[str, Any] = {f.name: getattr(config, f.name) for f in fields(config)}
    values.update(
        sagemaker_program=ENTRY_POINT,
        sagemaker_submit_directory=f"{CODE_CHANNEL_DIR}/{SOURCEDIR}",
        sagemaker_region=region,
        sagemaker_job_name=name,
        sagemaker_container_log_level=20,
    )
    return {key: json.dumps(value) for key, value in values.items()}


def _channel(name: str, uri: str, content_type: str | None = None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "InputMode": "File",
        "CompressionType": "None",
    }
    if content_type:
        channel["ContentType"] = content_type
    return channel


def training_job_request(
    name: str, settings: JobSettings, config: TrainConfig, *, data_uri: str, code_uri: str
) -> dict[str, Any]:
    """The ``create_training_job`` parameters."""
    resources: dict[str, Any] = {
        "InstanceType": settings.instance_type,
        "InstanceCount": 1,
        "VolumeSizeInGB": settings.volume_gb,
    }
    output: dict[str, Any] = {"S3OutputPath": settings.output_uri.rstrip("/") + "/"}
    if settings.kms_key_arn:
        resources["VolumeKmsKeyId"] = settings.kms_key_arn
        output["KmsKeyId"] = settings.kms_key_arn
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": settings.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": settings.training_image,
            "TrainingInputMode": "File",
        },
        "HyperParameters": hyperparameters(config, name, settings.region),
        "InputDataConfig": [
            _channel("train", data_uri, "application/x-parquet"),
            _channel("code", code_uri),
        ],
        "OutputDataConfig": output,
        "ResourceConfig": resources,
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_seconds},
        "EnableNetworkIsolation": True,
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(settings.tags.items())],
    }
    if settings.subnets:
        request["VpcConfig"] = {
            "Subnets": list(settings.subnets),
            "SecurityGroupIds": list(settings.security_group_ids),
        }
    return request


def wait_for_job(
    sagemaker: Any,
    name: str,
    *,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 7200.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_status: JobStatus | None = None,
) -> dict[str, Any]:
    """Poll ``describe_training_job`` until the job completes; its description. ModelError
    with SageMaker's FailureReason if it fails or is stopped; past the timeout the job is
    stopped and that is a ModelError too."""
    deadline = clock() + timeout_seconds
    while True:
        job: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=name)
        status, secondary = job["TrainingJobStatus"], job.get("SecondaryStatus", "")
        if on_status is not None:
            on_status(status, secondary)
        if status == "Completed":
            return job
        if status in ("Failed", "Stopped"):
            reason = " ".join(str(job.get("FailureReason") or "no reason given").split())
            raise ModelError(f"SageMaker training job {name} {status.lower()}: {reason}")
        if clock() >= deadline:
            sagemaker.stop_training_job(TrainingJobName=name)
            raise ModelError(
                f"SageMaker training job {name} still {status} ({secondary}) after "
                f"{timeout_seconds:g} s: stopped it"
            )
        sleep(poll_seconds)


# -- 3. the artifact ---------------------------------------------------------------------------


def _get(s3: Any, uri: str) -> bytes:
    bucket, key = _split_uri(uri)
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ModelError(f"cannot read {uri}: {code}") from None
    return body


def _tar_members(archive: bytes, what: str) -> dict[str, bytes]:
    """Regular files of a tar.gz by name (``./`` dropped); ModelError if unreadable."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            out = {}
            for member in tar.getmembers():
                if member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        out[member.name.removeprefix("./")] = handle.read()
            return out
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModelError(f"{what} is not a readable tar.gz ({exc})") from None


def job_model(archive: bytes, uri: str) -> tuple[bytes, list[str]]:
    """``xgboost-model`` from the job's ``model.tar.gz`` and every file name the archive held
    (the registry re-packs the one file alone); ModelError if it is not there."""
    members = _tar_members(archive, uri)
    if MODEL_FILE not in members:
        raise ModelError(f"{uri} holds {sorted(members)}, not {MODEL_FILE}")
    return members[MODEL_FILE], sorted(members)


def register_job(
    lake: Lake,
    s3: Any,
    job: dict[str, Any],
    *,
    snapshot: dict[str, Any] | None = None,
    promote: bool = True,
) -> dict[str, Any]:
    """Register a completed job's model under ``models/<version>/`` (as local training does:
    the one-file archive, ``metadata.json`` with the job's evaluation, the report, and
    ``models/latest.json`` when ``promote``). Its metadata."""
    from rebalancer.model._registry import register
    from rebalancer.model._train import TrainConfig, TrainedModel, model_features
    from rebalancer.model.serving import ServingError, booster_from_bytes

    name = job["TrainingJobName"]
    model_uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    output_uri = model_uri.rsplit("/", 1)[0] + "/output.tar.gz"
    model, members = job_model(_get(s3, model_uri), model_uri)
    facts_raw = _tar_members(_get(s3, output_uri), output_uri).get(TRAINING_FACTS)
    if facts_raw is None:
        raise ModelError(f"{output_uri} holds no {TRAINING_FACTS}: not a rebalancer training job")
    facts = json.loads(facts_raw)
    try:
        booster = booster_from_bytes(model, model_uri)
    except ServingError as exc:
        raise ModelError(str(exc)) from None
    features = list(facts["features"])
    if features != model_features() or list(booster.feature_names or []) != features:
        raise ModelError(
            f"job {name} trained on other features than this version's decision_features"
        )
    trained = TrainedModel(
        booster=booster,
        features=features,
        config=TrainConfig(**facts["config"]),
        split=facts["split"],
        evaluation=facts["evaluation"],
        train_seconds=float(facts["train_seconds"]),
        rows=int(facts["rows"]),
        sources={str(k): int(v) for k, v in facts["sources"].items()},
    )
    record = {
        "rows": trained.rows,
        "sources": trained.sources,
        "first_as_of": facts.get("first_as_of"),
        "last_as_of": facts.get("last_as_of"),
        "sha256": facts.get("sha256"),
        "query": "sql/features/training_set.sql",
        **(snapshot or {}),
        "sagemaker": {
            "job_name": name,
            "job_arn": job.get("TrainingJobArn"),
            "image": job.get("AlgorithmSpecification", {}).get("TrainingImage"),
            "instance_type": job.get("ResourceConfig", {}).get("InstanceType"),
            "billable_seconds": job.get("BillableTimeInSeconds"),
            "model_artifacts": model_uri,
            "archive_members": members,
            "libraries": facts.get("libraries", {}),
        },
    }
    return register(lake, trained, snapshot=record, promote=promote)


# -- all of it ---------------------------------------------------------------------------------


def train_on_sagemaker(
    lake: Lake,
    settings: JobSettings,
    clients: Clients,
    config: TrainConfig | None = None,
    *,
    source: str = "",
    promote: bool = True,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_status: JobStatus | None = None,
) -> dict[str, Any]:
    """UNLOAD the training set, upload the source directory, run the job, wait, register.
    Returns the registered version's metadata."""
    from rebalancer.model._train import TrainConfig

    config = config or TrainConfig()
    name = job_name(now)
    base = _join(settings.data_uri, name)
    data_uri, code_uri = _join(base, "data") + "/", _join(base, "code") + "/"
    _athena_of(lake)
    say = on_status or (lambda _status, _detail: None)
    say("Unloading", data_uri)
    query_id = unload_training_set(
        lake, clients.athena, data_uri, source=source, sleep=sleep, clock=clock
    )
    bucket, key = _split_uri(_join(code_uri, SOURCEDIR))
    put: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": training_sourcedir()}
    if settings.kms_key_arn:
        put.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=settings.kms_key_arn)
    clients.s3.put_object(**put)
    request = training_job_request(name, settings, config, data_uri=data_uri, code_uri=code_uri)
    clients.sagemaker.create_training_job(**request)
    say("Created", name)
    job = wait_for_job(
        clients.sagemaker,
        name,
        poll_seconds=settings.poll_seconds,
        timeout_seconds=settings.timeout_seconds,
        sleep=sleep,
        clock=clock,
        on_status=on_status,
    )
    snapshot = {
        "source_filter": source or "all",
        "athena_query_id": query_id,
        "training_data": data_uri,
    }
    return register_job(lake, clients.s3, job, snapshot=snapshot, promote=promote)
