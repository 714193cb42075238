"""Root module layout: pinned providers, described and validated variables, one locals block
for names and tags, nothing account- or region-specific hard-coded."""

from __future__ import annotations

import re
from typing import Any

from tests.terraform.conftest import MODULE_NAMES, TERRAFORM_DIR, Module, clean, unquote

REGION = re.compile(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx)(?:-gov)?-[a-z]+-\d\b")
ACCOUNT = re.compile(r"\b\d{12}\b")


def _strings(node: Any, skip_keys: frozenset[str]) -> list[str]:
    """Every string value under ``node``, except under keys in ``skip_keys``."""
    if isinstance(node, dict):
        out: list[str] = []
        for key, value in node.items():
            if key not in skip_keys:
                out += _strings(value, skip_keys)
        return out
    if isinstance(node, list):
        return [s for item in node for s in _strings(item, skip_keys)]
    return [node] if isinstance(node, str) else []


def test_aws_provider_pinned_in_every_module(all_modules: dict[str, Module]) -> None:
    for name, module in all_modules.items():
        terraform = clean(module.files["versions.tf"]["terraform"][0])
        providers = terraform["required_providers"][0]["aws"]
        assert providers["source"] == "hashicorp/aws", name
        assert re.fullmatch(r"~> 5\.1\d\d", providers["version"]), (name, providers["version"])
        assert terraform["required_version"].startswith(">= 1."), name


def test_backend_is_s3_with_locking_but_commented() -> None:
    text = (TERRAFORM_DIR / "versions.tf").read_text()
    assert re.search(r'^\s*# backend "s3" \{', text, flags=re.MULTILINE)
    assert re.search(r"^\s*#\s+use_lockfile\s+=\s+true", text, flags=re.MULTILINE)
    assert not re.search(r'^\s*backend "s3"', text, flags=re.MULTILINE)


def test_every_variable_has_type_and_description(all_modules: dict[str, Module]) -> None:
    for name, module in all_modules.items():
        assert module.variables, name
        for var, body in module.variables.items():
            assert body.get("description", "").strip(), f"{name}: variable {var} has no description"
            assert "type" in body, f"{name}: variable {var} has no type"


def test_root_variables_that_take_free_input_are_validated(root: Module) -> None:
    unvalidated = {
        var
        for var, body in root.variables.items()
        if "validation" not in body and body["type"] in ("${string}", "${number}")
    }
    # Free-form paths (checked by filebase64sha256 at plan) and counts passed to validated
    # module variables are the only unvalidated scalars.
    assert unvalidated <= {
        "dist_dir",
        "deps_layer_zip",
        "fetch_market_data_zip",
        "compact_zip",
        "rebalance_portfolio_zip",
        "endpoint_instance_type",
        "endpoint_instance_count",
    }, unvalidated
    assert "validation" in root.variables["region"]
    assert "default" not in root.variables["region"], "the region must be chosen, not defaulted"


def test_every_output_has_a_description(all_modules: dict[str, Module]) -> None:
    for name, module in all_modules.items():
        for parsed in module.files.values():
            for entry in parsed.get("output", []):
                for output, body in clean(entry).items():
                    assert body.get("description", "").strip(), f"{name}: output {output}"


def test_names_and_tags_come_from_one_locals_block(root: Module) -> None:
    blocks = [b for parsed in root.files.values() for b in parsed.get("locals", [])]
    assert len([b for b in blocks if "name" in b and "tags" in b]) == 1
    provider = clean(root.files["providers.tf"]["provider"][0])["aws"]
    assert provider["default_tags"][0]["tags"] == "${local.tags}"
    assert provider["region"] == "${var.region}"
    for call, body in root.module_calls.items():
        assert body["name"] == "${local.name}", call
        assert body["source"] == f"./modules/{call}"
    assert set(root.module_calls) == set(MODULE_NAMES)


def test_no_region_or_account_hard_coded(all_modules: dict[str, Module]) -> None:
    skip = frozenset({"description", "error_message"})
    for name, module in all_modules.items():
        for filename, parsed in module.files.items():
            for value in _strings(clean(parsed), skip):
                assert not REGION.search(value), f"{name}/{filename}: region in {value!r}"
                if ACCOUNT.search(value):
                    # The AWS SDK for pandas publisher account is AWS's, not ours.
                    assert value == "336392948345", f"{name}/{filename}: account in {value!r}"


def test_tfvars_example_sets_only_declared_variables(root: Module) -> None:
    text = (TERRAFORM_DIR / "terraform.tfvars.example").read_text()
    assigned = set(re.findall(r"^\s*#?\s*([a-z_]+)\s*=", text, flags=re.MULTILINE))
    assert "region" in assigned
    assert assigned <= set(root.variables), assigned - set(root.variables)


def test_region_and_account_come_from_data_sources(root: Module) -> None:
    local_values = {k: unquote(v) if isinstance(v, str) else v for k, v in root.locals.items()}
    assert local_values["region"] == "${data.aws_region.current.name}"
    assert local_values["account_id"] == "${data.aws_caller_identity.current.account_id}"
    assert local_values["partition"] == "${data.aws_partition.current.partition}"
