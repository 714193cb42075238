"""The SageMaker endpoint runs the XGBoost version the model is saved with."""

from __future__ import annotations

import re

from rebalancer.model import XGBOOST_IMAGE_TAG, XGBOOST_VERSION
from rebalancer.model._sagemaker_job import OUTPUT_PREFIX, TRAINING_PREFIX
from tests.terraform.conftest import REPO_ROOT, TERRAFORM_DIR, Module, clean, is_expression


def test_contract_constants() -> None:
    assert XGBOOST_VERSION == "3.2"
    assert XGBOOST_IMAGE_TAG == "3.2-0"
    assert XGBOOST_IMAGE_TAG.startswith(XGBOOST_VERSION + "-")


def test_image_tag_matches_the_xgboost_version(modules: dict[str, Module]) -> None:
    endpoint = modules["model_endpoint"]
    image = clean(endpoint.data("aws_sagemaker_prebuilt_ecr_image")["xgboost"])
    assert image["repository_name"] == "sagemaker-xgboost"
    assert image["image_tag"] == "${local.xgboost_image_tag}"
    assert clean(endpoint.resolve_local(image["image_tag"])) == XGBOOST_IMAGE_TAG
    model = clean(endpoint.resources("aws_sagemaker_model")["xgboost"])
    assert model["primary_container"][0]["image"] == (
        "${data.aws_sagemaker_prebuilt_ecr_image.xgboost.registry_path}"
    )
    # Script mode downloads the inference script from S3 at start: isolation is off, with a
    # checkov skip saying why (the role still reads only models/).
    assert model["enable_network_isolation"] is False


def test_locked_xgboost_matches_the_image() -> None:
    """Whenever xgboost is in uv.lock, its version is the one the image serves."""
    lock = (REPO_ROOT / "uv.lock").read_text()
    versions = re.findall(r'name = "xgboost(?:-cpu)?"\nversion = "([^"]+)"', lock)
    for version in versions:
        assert version.startswith(XGBOOST_VERSION + "."), version


def test_endpoint_config_is_replaceable_and_encrypted(modules: dict[str, Module]) -> None:
    endpoint = modules["model_endpoint"]
    config = clean(endpoint.resources("aws_sagemaker_endpoint_configuration")["advisor"])
    assert "name_prefix" in config and "name" not in config
    assert config["lifecycle"][0]["create_before_destroy"] is True
    assert config["kms_key_arn"] == "${var.kms_key_arn}"
    variant = config["production_variants"][0]
    assert variant["dynamic"][0]["serverless_config"]["for_each"] == "${var.serverless ? [1] : []}"
    assert endpoint.variables["serverless"]["default"] is True


def test_the_endpoint_runs_the_inference_script_in_script_mode(
    modules: dict[str, Module], root: Module
) -> None:
    """SAGEMAKER_PROGRAM / SAGEMAKER_SUBMIT_DIRECTORY are the names the image's toolkit reads
    (sagemaker-containers ``_params``: ``sagemaker_program`` / ``sagemaker_submit_directory``
    upper-cased); the directory is the uploaded sourcedir.tar.gz."""
    endpoint = modules["model_endpoint"]
    model = clean(endpoint.resources("aws_sagemaker_model")["xgboost"])
    env = model["primary_container"][0]["environment"]
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"
    assert env["SAGEMAKER_SUBMIT_DIRECTORY"] == "${local.inference_code_uri}"
    assert env["SAGEMAKER_REGION"] == "${var.region}"
    assert clean(endpoint.locals["inference_code_uri"]) == (
        "s3://${var.lake_bucket}/${local.inference_code_key}"
    )
    # under models/ (the endpoint role's only read), named by its content
    assert clean(endpoint.locals["inference_code_key"]) == (
        "${var.models_prefix}/code/inference-${local.inference_code_md5}.tar.gz"
    )
    assert clean(endpoint.locals["inference_code_md5"]) == "${filemd5(var.inference_sourcedir)}"
    code = clean(endpoint.resources("aws_s3_object")["inference_code"])
    assert code["key"] == "${local.inference_code_key}"
    assert code["source"] == "${var.inference_sourcedir}"
    assert code["source_hash"] == "${local.inference_code_md5}"
    assert (
        code["kms_key_id"] == "${var.kms_key_arn}" and code["server_side_encryption"] == "aws:kms"
    )
    fingerprint = clean(endpoint.locals["model_fingerprint"])
    assert "local.inference_code_uri" in fingerprint  # a new script is a new model
    assert "${aws_s3_object.inference_code}" in model["depends_on"]
    call = root.module_calls["model_endpoint"]
    assert call["inference_sourcedir"] == "${local.inference_sourcedir}"
    assert "sagemaker/sourcedir.tar.gz" in clean(root.locals["inference_sourcedir"])


def test_the_shipped_script_is_what_the_package_builds() -> None:
    """`make package` writes the tarball Terraform uploads: inference.py + serving.py."""
    import io
    import tarfile

    from rebalancer.model._sagemaker_job import inference_sourcedir

    assert "--package-inference dist/sagemaker/sourcedir.tar.gz" in " ".join(
        (REPO_ROOT / "Makefile").read_text().split()
    )
    with tarfile.open(fileobj=io.BytesIO(inference_sourcedir()), mode="r:gz") as tar:
        assert tar.getnames() == ["inference.py", "serving.py"]
        assert (
            tar.extractfile("inference.py").read()
            == (  # type: ignore[union-attr]
                REPO_ROOT / "src/training/inference.py"
            ).read_bytes()
        )


def test_training_role_is_least_privilege(modules: dict[str, Module], root: Module) -> None:
    training = modules["model_training"]
    doc = clean(training.data("aws_iam_policy_document")["training"])
    statements = {s["sid"]: s for s in doc["statement"]}
    assert set(statements) == {
        "ReadTrainingSetAndCode", "ListTrainingSetAndCode", "WriteJobArtifacts", "LakeKey",
        "GrantForTrainingVolume", "TrainingLogs", "TrainingMetrics",
    }  # fmt: skip
    assert statements["ReadTrainingSetAndCode"]["actions"] == ["s3:GetObject"]
    assert statements["ReadTrainingSetAndCode"]["resources"] == ["${local.training_objects}"]
    assert clean(training.locals["training_objects"]) == (
        "${var.lake_bucket_arn}/${var.training_prefix}/*"
    )
    assert statements["ListTrainingSetAndCode"]["condition"][0]["values"] == [
        "${var.training_prefix}/*"
    ]
    write = statements["WriteJobArtifacts"]
    assert write["actions"] == ["s3:PutObject", "s3:AbortMultipartUpload"]
    assert clean(training.locals["output_objects"]) == (
        "${var.lake_bucket_arn}/${var.output_prefix}/*"
    )
    s3_actions = {a for s in statements.values() for a in s["actions"] if a.startswith("s3:")}
    assert s3_actions == {
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
    }
    assert statements["LakeKey"]["resources"] == ["${var.kms_key_arn}"]
    logs = statements["TrainingLogs"]["resources"]
    assert all(
        "/aws/sagemaker/TrainingJobs" in clean(training.locals["log_group_arn"]) for _ in logs
    )
    assert statements["TrainingMetrics"]["condition"][0]["values"] == [
        "/aws/sagemaker/TrainingJobs"
    ]
    assume = clean(training.data("aws_iam_policy_document")["assume"])["statement"][0]
    assert assume["principals"][0]["identifiers"] == ["sagemaker.amazonaws.com"]
    # wired at the root whatever enable_model_endpoint says, with the prefixes the CLI uses
    call = root.module_calls["model_training"]
    assert "count" not in call
    assert call["training_prefix"] == "training"
    assert call["output_prefix"] == "${module.data_lake.models_prefix}/training-jobs"
    assert (call["training_prefix"], OUTPUT_PREFIX) == (TRAINING_PREFIX, "models/training-jobs")
    assert is_expression(call["kms_key_arn"])
    outputs = [o for parsed in root.files.values() for o in parsed.get("output", [])]
    assert any("sagemaker_training_role_arn" in clean(o) for o in outputs)
    text = (TERRAFORM_DIR / "sagemaker.tf").read_text()
    assert "REBALANCER_SAGEMAKER_ROLE_ARN" in text
