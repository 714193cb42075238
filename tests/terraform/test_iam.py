"""IAM is least-privilege: one role per function, actions spelled out, "*" resources only
where AWS offers no resource-level permission, each with an inline comment saying so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tests.terraform.conftest import TERRAFORM_DIR, Module, clean, comments

# Actions AWS authorises only on "*": no resource-level permissions exist for them.
ACTIONS_REQUIRING_STAR = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    # A traced Step Functions state machine also reads the sampling rules (batch_run).
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "cloudwatch:PutMetricData",
    # A state machine's CloudWatch Logs delivery (AWS documents these with Resource "*").
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
}


def _statements(module: Module) -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """(policy document name, cleaned statement, its comments) for every statement."""
    for name, body in module.data("aws_iam_policy_document").items():
        for raw in body.get("statement", []):
            yield name, clean(raw), comments(raw)
        for dynamic in body.get("dynamic", []):
            for label, block in dynamic.items():
                if clean(label) == "statement":
                    for raw in block["content"]:
                        yield name, clean(raw), comments(raw)


def _actions(module: Module, statement: dict[str, Any]) -> list[str]:
    actions = module.resolve_local(statement.get("actions", []))
    return [clean(a) for a in actions]


def _key_policy_documents(module: Module) -> set[str]:
    """Policy documents used as a KMS key policy ("*" there means "this key")."""
    return {
        m[1]
        for key in module.resources("aws_kms_key").values()
        if (
            m := re.fullmatch(
                r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", clean(key["policy"])
            )
        )
    }


def test_allow_statements_list_actions_without_wildcards(all_modules: dict[str, Module]) -> None:
    checked = 0
    for module_name, module in all_modules.items():
        for document, statement, _ in _statements(module):
            actions = _actions(module, statement)
            assert actions, f"{module_name}.{document}: statement without actions"
            assert "not_actions" not in statement
            if statement.get("effect", "Allow") == "Deny":
                continue  # a Deny's wildcard only widens what is refused (TLS-only policies)
            for action in actions:
                checked += 1
                assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), (
                    f"{module_name}.{document}: {action!r} is a wildcard or malformed"
                )
    assert checked > 50


def test_star_resources_only_where_aws_requires_them(all_modules: dict[str, Module]) -> None:
    exceptions = 0
    for module_name, module in all_modules.items():
        key_policies = _key_policy_documents(module)
        for document, statement, notes in _statements(module):
            resources = statement.get("resources", [])
            if isinstance(resources, str):  # an expression, e.g. a for over table names
                assert not re.search(r'(?<![/\w])"\*"', resources), (document, resources)
                continue
            if "*" not in resources:
                continue
            exceptions += 1
            where = f"{module_name}.{document}.{statement.get('sid')}"
            assert statement.get("effect", "Allow") == "Allow", where
            assert statement["resources"] == ["*"], where
            assert any(note.startswith('AWS requires "*"') for note in notes), (
                f"{where}: a '*' resource needs an inline comment saying why AWS requires it"
            )
            if document not in key_policies:
                assert set(_actions(module, statement)) <= ACTIONS_REQUIRING_STAR, where
    assert exceptions >= 4  # X-Ray in each function role, the key policy's statements


def test_no_inline_json_policy_has_a_star_action_or_resource() -> None:
    for tf in sorted(TERRAFORM_DIR.rglob("*.tf")):
        text = tf.read_text()
        assert not re.search(r'"Action"\s*[:=]\s*"\*"', text), tf
        assert not re.search(r'"Resource"\s*[:=]\s*"\*"', text), tf
        assert "jsonencode({\n    Version" not in text, f"{tf}: use aws_iam_policy_document"


def test_one_role_per_function(modules: dict[str, Module]) -> None:
    roles: dict[str, str] = {}
    for module in modules.values():
        for name, body in module.resources("aws_lambda_function").items():
            role = clean(body)["role"]
            assert role not in roles.values(), f"{name} shares {role}"
            roles[name] = role
    assert len(roles) == 4  # fetch_market_data, compact, rebalance_portfolio, shard_worker
    assert len({r for r in roles.values()}) == 4


def test_lambda_roles_have_no_managed_policies(all_modules: dict[str, Module]) -> None:
    for module in all_modules.values():
        assert not module.resources("aws_iam_role_policy_attachment")
        for role in module.resources("aws_iam_role").values():
            assert "managed_policy_arns" not in clean(role)


def test_model_role_reads_only_the_models_prefix(modules: dict[str, Module]) -> None:
    endpoint = modules["model_endpoint"]
    statements = {s["sid"]: s for _, s, _ in _statements(endpoint) if "sid" in s}
    read = statements["ReadModelArtifacts"]
    assert read["actions"] == ["s3:GetObject"]
    assert read["resources"] == ["${local.models_objects}"]
    assert (
        clean(endpoint.locals["models_objects"]) == "${var.lake_bucket_arn}/${var.models_prefix}/*"
    )
    listing = statements["ListModelArtifacts"]
    assert listing["condition"][0]["values"] == ["${var.models_prefix}/*"]
    s3_actions = {
        a for _, s, _ in _statements(endpoint) for a in _actions(endpoint, s) if a.startswith("s3:")
    }
    assert s3_actions == {"s3:GetObject", "s3:ListBucket"}


def test_checkov_skips_carry_a_reason() -> None:
    skips = []
    for tf in sorted(TERRAFORM_DIR.rglob("*.tf")):
        for line in tf.read_text().splitlines():
            if "checkov:skip" in line:
                match = re.fullmatch(r"\s*#checkov:skip=(CKV2?_AWS_\d+):(.{20,})", line)
                assert match, f"{tf.name}: {line.strip()!r} needs an id and a one-line reason"
                skips.append(match[1])
    assert skips  # the skips exist and are all of that shape
