"""The dashboard users' managed policy is least privilege: Athena on the workgroup, read on the
lake, writes only to the decisions table's prefix (and Athena's results), execute-api:Invoke on
this API's stage only; its ARN is a root output."""

from __future__ import annotations

from typing import Any

from rebalancer.lake import get_schema
from tests.terraform.conftest import Module, clean

WRITES = {"s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject", "s3:DeleteObjects"}


def _statements(api: Module) -> list[dict[str, Any]]:
    document = clean(api.data("aws_iam_policy_document")["dashboard_users"])
    return list(document["statement"])


def _resources(api: Module, statement: dict[str, Any]) -> list[str]:
    resources = api.resolve_local(statement["resources"])
    return [clean(r) for r in (resources if isinstance(resources, list) else [resources])]


def test_policy_is_a_managed_policy_of_that_document(modules: dict[str, Module]) -> None:
    api = modules["rebalance_api"]
    policy = clean(api.resources("aws_iam_policy")["dashboard_users"])
    assert policy["policy"] == "${data.aws_iam_policy_document.dashboard_users.json}"
    assert policy["name"] == "${var.name}-dashboard-users"


def test_writes_only_to_the_decisions_prefix_and_athena_results(
    modules: dict[str, Module],
) -> None:
    api = modules["rebalance_api"]
    decisions = f"${{local.lake_objects}}/{get_schema('decisions').name}/*"
    written: set[str] = set()
    for statement in _statements(api):
        assert statement.get("effect", "Allow") == "Allow"
        writes = WRITES & set(statement["actions"])
        if not writes:
            continue
        assert not {"s3:DeleteObject", "s3:DeleteObjects"} & writes, statement["sid"]
        written.update(_resources(api, statement))
    assert written == {decisions, "${var.athena_results_bucket_arn}/results/*"}


def test_reads_the_lake_and_queries_only_the_workgroup(modules: dict[str, Module]) -> None:
    api = modules["rebalance_api"]
    by_sid = {s["sid"]: s for s in _statements(api)}
    assert by_sid["ReadLake"]["actions"] == ["s3:GetObject"]
    assert _resources(api, by_sid["ReadLake"]) == ["${local.lake_objects}/*"]
    listing = by_sid["ListLake"]
    assert listing["condition"][0]["values"] == ["${var.lake_prefix}/*"]
    athena = [s for s in _statements(api) if any(a.startswith("athena:") for a in s["actions"])]
    assert len(athena) == 1
    assert _resources(api, athena[0]) == ["${var.athena_workgroup_arn}"]
    assert "athena:StartQueryExecution" in athena[0]["actions"]
    glue = [a for s in _statements(api) for a in s["actions"] if a.startswith("glue:")]
    assert glue and all(a.split(":")[1].startswith("Get") for a in glue)


def test_invokes_only_this_api_stage(modules: dict[str, Module]) -> None:
    api = modules["rebalance_api"]
    invoke = [s for s in _statements(api) if "execute-api:Invoke" in s["actions"]]
    assert len(invoke) == 1 and invoke[0]["actions"] == ["execute-api:Invoke"]
    stage = "${aws_api_gateway_rest_api.api.execution_arn}/${aws_api_gateway_stage.api.stage_name}"
    resources = _resources(api, invoke[0])
    assert resources and all(r.startswith(stage + "/") for r in resources)
    assert {r.removeprefix(stage + "/") for r in resources} == {"GET/*", "POST/*"}
    services = {a.split(":")[0] for s in _statements(api) for a in s["actions"]}
    assert services == {"kms", "s3", "athena", "glue", "execute-api"}


def test_policy_arn_is_a_root_output(root: Module, modules: dict[str, Module]) -> None:
    outputs: dict[str, Any] = {}
    for parsed in root.files.values():
        for entry in parsed.get("output", []):
            outputs.update(clean(entry))
    assert outputs["dashboard_users_policy_arn"]["value"] == (
        "${module.rebalance_api.dashboard_users_policy_arn}"
    )
    module_outputs: dict[str, Any] = {}
    for parsed in modules["rebalance_api"].files.values():
        for entry in parsed.get("output", []):
            module_outputs.update(clean(entry))
    assert module_outputs["dashboard_users_policy_arn"]["value"] == (
        "${aws_iam_policy.dashboard_users.arn}"
    )
