"""Lambda functions in Terraform agree with the code: handlers exist, environment variable
names are Settings fields, the fetch runs every 5 minutes and never overlaps, and the zips
Terraform deploys are the ones ``make layer package`` builds."""

from __future__ import annotations

import ast
import re
import sys
from typing import Any

from rebalancer.config import env_var_names
from tests.terraform.conftest import REPO_ROOT, Module, clean, is_expression

sys.path.insert(0, str(REPO_ROOT / "layers"))

import build_layer
import package

EXPECTED_HANDLERS = {
    "fetch_market_data": "lambdas.fetch_market_data.handler",
    "compact": "lambdas.compact.handler",
    "rebalance_portfolio": "lambdas.rebalance_portfolio.handler",
    "shard_worker": "lambdas.shard_worker.handler.handler",
}


def _functions(modules: dict[str, Module]) -> dict[str, tuple[Module, dict[str, Any]]]:
    found = {}
    for module in modules.values():
        for name, body in module.resources("aws_lambda_function").items():
            found[name] = (module, clean(body))
    return found


def _env_names(module: Module, value: Any) -> set[str]:
    """Environment variable names an ``environment.variables`` value can produce."""
    value = module.resolve_local(value)
    if isinstance(value, dict):
        return {clean(k) for k in value}
    assert is_expression(value), value
    names = set(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=", value))
    for ref in re.findall(r"\blocal\.(\w+)", value):
        names |= _env_names(module, module.locals[ref])
    return names


def test_the_functions_have_the_expected_handlers(modules: dict[str, Module]) -> None:
    functions = _functions(modules)
    assert {name: body["handler"] for name, (_, body) in functions.items()} == EXPECTED_HANDLERS
    assert set(package.FUNCTIONS) == set(EXPECTED_HANDLERS)
    for name, (_, body) in functions.items():
        assert body["runtime"] == "python3.12", name
        assert body["architectures"] == ["x86_64"], name
        assert body["tracing_config"][0]["mode"] == "Active", name
        assert body["kms_key_arn"] == "${var.kms_key_arn}", name
        assert body["source_code_hash"].startswith("${filebase64sha256(var."), name


def test_handlers_exist_in_src_lambdas() -> None:
    """Each handler path resolves to a module-level ``handler`` in src/lambdas (the Lambda
    code is written by other engineers; this fails until it lands)."""
    missing = []
    for dotted in EXPECTED_HANDLERS.values():
        module_path, attribute = dotted.rsplit(".", 1)
        source = REPO_ROOT / "src" / (module_path.replace(".", "/") + ".py")
        if not source.is_file():
            missing.append(f"{source.relative_to(REPO_ROOT)} does not exist")
            continue
        tree = ast.parse(source.read_text())
        defined = {
            n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            defined |= {t.id for t in targets if isinstance(t, ast.Name)}
        if attribute not in defined:
            missing.append(f"{source.relative_to(REPO_ROOT)} defines no {attribute}")
    assert not missing, missing


def test_environment_names_are_settings_fields(modules: dict[str, Module]) -> None:
    allowed = env_var_names()
    for name, (module, _body) in _functions(modules).items():
        names = _env_names(
            module, module.resources("aws_lambda_function")[name]["environment"][0]["variables"]
        )
        unknown = {n for n in names - allowed if not n.startswith("POWERTOOLS_")}
        assert not unknown, f"{name}: {unknown} are not Settings fields"
        assert "REBALANCER_API_KEY" not in names, f"{name}: the API key must not be a plain env var"
        assert {
            "REBALANCER_BACKEND",
            "REBALANCER_LAKE",
            "REBALANCER_GLUE_DATABASE",
            "REBALANCER_ATHENA_WORKGROUP",
            "REBALANCER_KMS_KEY_ARN",
            "POWERTOOLS_SERVICE_NAME",
        } <= names, name
    fetch_module, _ = _functions(modules)["fetch_market_data"]
    fetch_env = fetch_module.resources("aws_lambda_function")["fetch_market_data"]["environment"]
    assert "REBALANCER_MARKET_SOURCE" in _env_names(fetch_module, fetch_env[0]["variables"])
    api_module = modules["rebalance_api"]
    api_env = api_module.resources("aws_lambda_function")["rebalance_portfolio"]["environment"]
    assert "REBALANCER_SAGEMAKER_ENDPOINT" in _env_names(api_module, api_env[0]["variables"])
    assert clean(modules["ingest"].locals["common_environment"])["REBALANCER_BACKEND"] == "aws"
    assert '"REBALANCER_BACKEND" = "aws"' in api_module.locals["environment"].replace(
        "REBALANCER_BACKEND =", '"REBALANCER_BACKEND" ='
    )


def test_fetch_runs_every_five_minutes_one_at_a_time(modules: dict[str, Module]) -> None:
    ingest = modules["ingest"]
    rule = clean(ingest.resources("aws_cloudwatch_event_rule")["fetch_market_data"])
    assert clean(ingest.resolve_local(rule["schedule_expression"])) == "rate(5 minutes)"
    fetch = clean(ingest.resources("aws_lambda_function")["fetch_market_data"])
    assert fetch["reserved_concurrent_executions"] == 1
    assert fetch["dead_letter_config"][0]["target_arn"] == "${aws_sqs_queue.dlq.arn}"
    timeout = ingest.variables["fetch_timeout_seconds"]
    assert timeout["default"] < 300
    assert "< 300" in timeout["validation"][0]["condition"]
    compact_rule = clean(ingest.resources("aws_cloudwatch_event_rule")["compact"])
    assert compact_rule["schedule_expression"] == "${var.compact_schedule}"
    assert re.fullmatch(
        r"cron\(\d+ 0 \* \* \? \*\)", ingest.variables["compact_schedule"]["default"]
    )
    permission = clean(ingest.resources("aws_lambda_permission")["fetch_market_data_schedule"])
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.fetch_market_data.arn}"


def test_missed_slot_alarm_watches_invocations(modules: dict[str, Module]) -> None:
    alarm = clean(modules["ingest"].resources("aws_cloudwatch_metric_alarm")["fetch_missed_slots"])
    assert alarm["metric_name"] == "Invocations"
    assert alarm["comparison_operator"] == "LessThanThreshold"
    assert alarm["threshold"] == 1
    assert alarm["period"] * alarm["evaluation_periods"] == 900
    assert alarm["treat_missing_data"] == "breaching"


def test_api_permission_is_scoped_to_this_api(modules: dict[str, Module]) -> None:
    permission = clean(modules["rebalance_api"].resources("aws_lambda_permission")["api_gateway"])
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["source_arn"].startswith("${aws_api_gateway_rest_api.api.execution_arn}/")


def test_zip_paths_are_what_the_build_scripts_write(root: Module) -> None:
    zips = {k: clean(v) for k, v in root.locals.items() if k.endswith("_zip")}
    assert zips["deps_layer_zip"].endswith(f'/layer/{build_layer.LAYER_NAME}")}}')
    for function in package.FUNCTIONS:
        assert zips[f"{function}_zip"].endswith(f'/lambda/{function}.zip")}}'), function
    assert root.variables["dist_dir"]["default"] == "../dist"


def test_managed_pandas_layer_arn_is_region_aware(root: Module) -> None:
    arn = clean(root.locals["aws_sdk_pandas_layer_arn"])
    assert arn == (
        "arn:${local.partition}:lambda:${local.region}:${var.aws_sdk_pandas_layer_account}"
        ":layer:AWSSDKPandas-Python312:${var.aws_sdk_pandas_layer_version}"
    )
    assert clean(root.locals["layer_arns"]) == [
        "${local.aws_sdk_pandas_layer_arn}",
        "${aws_lambda_layer_version.deps.arn}",
    ]
    layer = clean(root.resources("aws_lambda_layer_version")["deps"])
    assert layer["compatible_runtimes"] == ["python3.12"]
