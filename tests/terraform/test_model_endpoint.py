"""The SageMaker endpoint runs the XGBoost version the model is saved with."""

from __future__ import annotations

import re

from rebalancer.model import XGBOOST_IMAGE_TAG, XGBOOST_VERSION
from tests.terraform.conftest import REPO_ROOT, Module, clean


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
    assert model["enable_network_isolation"] is True


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
