"""The API key in AWS: a KMS-encrypted Secrets Manager secret holding the API Gateway key's
value, named to the function by REBALANCER_API_KEY_SECRET_ID (a Settings field), readable by
the function's role and nothing wider."""

from __future__ import annotations

from rebalancer.config import Settings
from tests.terraform.conftest import Module, clean


def test_secret_is_kms_encrypted_and_holds_the_gateway_key(modules: dict[str, Module]) -> None:
    api = modules["rebalance_api"]
    secret = clean(api.resources("aws_secretsmanager_secret")["api_key"])
    assert secret["kms_key_id"] == "${var.kms_key_arn}"
    version = clean(api.resources("aws_secretsmanager_secret_version")["api_key"])
    assert "aws_api_gateway_api_key.default.value" in version["secret_string"]
    assert "api_key" in version["secret_string"]  # the JSON shape rebalancer.api.keys reads


def test_function_gets_the_secret_id_not_the_key(modules: dict[str, Module]) -> None:
    api = modules["rebalance_api"]
    env = api.resolve_local("${local.environment}")
    assert "REBALANCER_API_KEY_SECRET_ID" in env
    assert "aws_secretsmanager_secret.api_key.arn" in env
    assert "REBALANCER_API_KEY =" not in env and "REBALANCER_API_KEY=" not in env
    assert "api_key_secret_id" in Settings.model_fields


def test_only_the_function_role_reads_only_this_secret(modules: dict[str, Module]) -> None:
    api = modules["rebalance_api"]
    policy = clean(api.data("aws_iam_policy_document")["rebalance_portfolio"])
    reads = [
        s for s in policy["statement"]
        if any(a.startswith("secretsmanager:") for a in s["actions"])
    ]  # fmt: skip
    assert len(reads) == 1
    assert reads[0]["actions"] == ["secretsmanager:GetSecretValue"]
    assert reads[0]["resources"] == ["${aws_secretsmanager_secret.api_key.arn}"]
