"""terraform/modules/batch_run: the nightly batch on Step Functions, checked against the code
(python-hcl2): a Distributed Map over the plan's shards invoking the shard worker, retries with
backoff, a failure threshold, failed shards to a KMS-encrypted DLQ, a final state writing the
run, an EventBridge schedule, alarms and least-privilege IAM; ``terraform validate`` on the
module (local provider mirror)."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rebalancer.config import env_var_names
from tests.terraform.conftest import TERRAFORM_DIR, Module, clean, parse_module

MODULE_DIR = TERRAFORM_DIR / "modules" / "batch_run"
PLUGIN_DIR = Path(os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins"))
WORKER = "${aws_lambda_function.shard_worker.arn}"


@pytest.fixture(scope="module")
def batch() -> Module:
    return parse_module(MODULE_DIR)


@pytest.fixture(scope="module")
def definition(batch: Module) -> dict[str, Any]:
    body: dict[str, Any] = clean(batch.locals["definition"])
    return body


def _retries(batch: Module, task: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        clean(batch.locals["lambda_retry"]) if r == "${local.lambda_retry}" else r
        for r in task["Retry"]
    ]


def test_plan_then_a_distributed_map_over_the_shards_then_finish(
    definition: dict[str, Any],
) -> None:
    states = definition["States"]
    assert definition["StartAt"] == "Plan"
    assert states["Plan"]["Next"] == "Shards" and states["Shards"]["Next"] == "Finish"
    assert states["Finish"]["End"] is True
    for name, action in (("Plan", "plan"), ("Finish", "finish")):
        params = states[name]["Parameters"]
        assert params["FunctionName"] == WORKER and params["Payload"]["action"] == action
    shards = states["Shards"]
    assert shards["Type"] == "Map" and shards["ItemsPath"] == "$.plan.shards"
    assert shards["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert shards["ItemSelector"] == {
        "action": "shard",
        "run_key.$": "$.plan.run_key",
        "shard.$": "$$.Map.Item.Value",
    }
    assert shards["MaxConcurrency"] == "${var.max_concurrency}"
    assert shards["ToleratedFailurePercentage"] == "${var.tolerated_failure_percentage}"
    assert shards["ResultPath"] is None  # 10,000 shard results never reach the state payload


def test_the_worker_retries_with_backoff_and_dead_letters(
    batch: Module, definition: dict[str, Any]
) -> None:
    inner = definition["States"]["Shards"]["ItemProcessor"]["States"]
    worker = inner["Shard"]
    assert worker["Parameters"] == {"FunctionName": WORKER, "Payload.$": "$"}
    retries = _retries(batch, worker)
    caught = {e for r in retries for e in r["ErrorEquals"]}
    assert {"States.TaskFailed", "Lambda.TooManyRequestsException"} <= caught
    for retry in retries:
        assert retry["BackoffRate"] >= 2 and retry["JitterStrategy"] == "FULL"
    assert worker["Catch"][0]["Next"] == "DeadLetter"
    assert inner["DeadLetter"]["Parameters"]["QueueUrl"] == "${aws_sqs_queue.dlq.url}"
    assert inner["DeadLetter"]["Next"] == "ShardFailed" and inner["ShardFailed"]["Type"] == "Fail"
    for state in ("Plan", "Finish"):
        assert _retries(batch, definition["States"][state])[0]["MaxAttempts"] >= 3
    dlq = clean(batch.resources("aws_sqs_queue")["dlq"])
    assert dlq["kms_master_key_id"] == "${var.kms_key_arn}"


def test_the_worker_function_is_the_shard_worker_handler(batch: Module) -> None:
    function = clean(batch.resources("aws_lambda_function")["shard_worker"])
    module_name, _, attr = function["handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module_name), attr))
    assert function["runtime"] == "python3.12" and function["timeout"] == (
        "${var.worker_timeout_seconds}"
    )
    assert function["kms_key_arn"] == "${var.kms_key_arn}"
    assert function["dead_letter_config"][0]["target_arn"] == "${aws_sqs_queue.dlq.arn}"
    env = clean(batch.locals["worker_environment"])
    settings = {n for n in env if n.startswith("REBALANCER_")}
    assert settings <= set(env_var_names()), settings - set(env_var_names())
    assert env["REBALANCER_BACKEND"] == "aws"


def test_state_machine_schedule_encryption_logs_and_alarms(batch: Module) -> None:
    machine = clean(batch.resources("aws_sfn_state_machine")["batch_run"])
    assert machine["definition"] == "${jsonencode(local.definition)}"
    assert machine["encryption_configuration"][0]["type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert machine["logging_configuration"][0]["level"] == "ALL"
    assert machine["tracing_configuration"][0]["enabled"] is True
    rule = clean(batch.resources("aws_cloudwatch_event_rule")["batch_run"])
    assert rule["schedule_expression"] == "${var.schedule}"
    assert batch.variables["schedule"]["default"].startswith("cron(")
    target = clean(batch.resources("aws_cloudwatch_event_target")["batch_run"])
    assert target["arn"] == "${aws_sfn_state_machine.batch_run.arn}"
    assert target["dead_letter_config"][0]["arn"] == "${aws_sqs_queue.dlq.arn}"
    alarms = batch.resources("aws_cloudwatch_metric_alarm")
    assert set(alarms) == {"run_failed", "worker_errors", "dead_letters"}
    assert "ExecutionsFailed" in clean(alarms["run_failed"])["for_each"]


def test_iam_is_least_privilege(batch: Module) -> None:
    docs = {name: clean(body) for name, body in batch.data("aws_iam_policy_document").items()}
    for name in ("shard_worker", "state_machine", "events"):
        for statement in docs[name]["statement"]:
            assert all("*" not in a for a in statement["actions"]), (name, statement["sid"])
            if statement["resources"] == ["*"]:
                assert statement["sid"] in {"XRayTraces", "LogDelivery"}, (name, statement)
    writes = next(
        s for s in docs["shard_worker"]["statement"] if s["sid"] == "WriteRunStagingAndResult"
    )
    assert (
        writes["resources"] == '${[for p in local.write_prefixes : "${local.lake_objects}/${p}/*"]}'
    )
    assert clean(batch.locals["write_prefixes"]) == ["_runs", "recommendations"]
    invoke = next(s for s in docs["state_machine"]["statement"] if s["sid"] == "InvokeWorker")
    assert invoke["resources"][0] == WORKER
    assert docs["events"]["statement"][0]["resources"] == ["${aws_sfn_state_machine.batch_run.arn}"]


def test_terraform_validate_on_the_module(tmp_path: Path) -> None:
    terraform = shutil.which("terraform") or "/usr/local/bin/terraform"
    assert Path(terraform).is_file() and PLUGIN_DIR.is_dir(), "terraform or provider mirror"
    work = tmp_path / "batch_run"
    shutil.copytree(MODULE_DIR, work, ignore=shutil.ignore_patterns(".terraform*"))
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    for args in (["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"],
                 ["validate", "-no-color"]):  # fmt: skip
        done = subprocess.run(
            [terraform, *args], cwd=work, capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_root_module_wires_the_batch_run(root: Module) -> None:
    """terraform/batch.tf calls the module with the lake's outputs, the shard_worker zip
    ``make package`` builds, the shared layers and alarm actions, and exports its ARN."""
    call = root.module_calls["batch_run"]
    assert call["source"] == "./modules/batch_run"
    assert call["shard_worker_zip"] == "${local.shard_worker_zip}"
    assert clean(root.locals["shard_worker_zip"]) == (
        '${coalesce(var.shard_worker_zip, "${var.dist_dir}/lambda/shard_worker.zip")}'
    )
    assert call["layer_arns"] == "${local.layer_arns}"
    assert call["alarm_actions"] == "${local.alarm_actions}"
    for name in ("kms_key_arn", "lake_uri", "lake_bucket_arn", "lake_prefix", "glue_database",
                 "athena_workgroup", "athena_workgroup_arn", "athena_results_bucket_arn"):  # fmt: skip
        assert call[name] == "${module.data_lake." + name + "}", name
    batch = parse_module(MODULE_DIR)
    required = {n for n, v in batch.variables.items() if "default" not in v}
    assert required <= set(call) - {"source"}, required - set(call)
    assert set(call) - {"source"} <= set(batch.variables)
    outputs = {}
    for parsed in root.files.values():
        for entry in parsed.get("output", []):
            outputs.update(clean(entry))
    assert outputs["batch_state_machine_arn"]["value"] == "${module.batch_run.state_machine_arn}"
