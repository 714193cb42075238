"""terraform fmt, terraform validate and checkov, as part of the test suite (CI fails when any
does).

checkov runs from its own tool environment (``.tools/checkov``, made by ``make checkov``, a
prerequisite of ``make test``): it pins an old boto3 and ships its own hcl2, so it never goes
into the project environment. Provider downloads are blocked here, but the machine carries a
local provider mirror (``/opt/tf-plugins``: hashicorp/aws 5.100.0), so ``terraform init
-plugin-dir`` + ``terraform validate`` run for real, on a copy of the tree in a temporary
directory. ``plan`` needs AWS credentials and is not run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.terraform.conftest import REPO_ROOT, TERRAFORM_DIR

CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"
PLUGIN_DIR = Path(os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins"))


def _terraform() -> str:
    found = shutil.which("terraform") or "/usr/local/bin/terraform"
    assert Path(found).is_file(), "terraform binary not found (expected on PATH)"
    return found


def test_terraform_fmt_is_clean() -> None:
    result = subprocess.run(
        [_terraform(), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_reports_no_failed_checks() -> None:
    assert CHECKOV.is_file(), "checkov tool env missing: run `make checkov` (make test does)"
    result = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(TERRAFORM_DIR),
            "--framework",
            "terraform",
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in report.get("results", {}).get("failed_checks", [])
    ]
    assert summary["failed"] == 0, failed
    assert result.returncode == 0, result.stderr[-2000:]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 200, "checkov scanned far less than the whole tree"
    assert summary["skipped"] == len(report["results"]["skipped_checks"]) > 0
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped.get("check_result", {}).get("suppress_comment", "")
        assert len(reason) >= 20, f"{skipped['check_id']} on {skipped['resource']}: no reason"


def test_terraform_validate_against_the_local_provider_mirror(tmp_path: Path) -> None:
    assert (PLUGIN_DIR / "registry.terraform.io" / "hashicorp" / "aws").is_dir(), (
        f"no local AWS provider under {PLUGIN_DIR} (set TF_PLUGIN_DIR)"
    )
    skip = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfvars")
    for tree in ("terraform", "schemas", "sql"):  # the root module reads ../schemas, ../sql
        shutil.copytree(REPO_ROOT / tree, tmp_path / tree, ignore=skip)
    config = tmp_path / "terraformrc"
    config.write_text("")
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_DATA_DIR": str(tmp_path / ".terraform"),
    }
    workdir = tmp_path / "terraform"
    init = subprocess.run(
        [_terraform(), "init", "-backend=false", "-input=false", "-no-color",
         f"-plugin-dir={PLUGIN_DIR}"],
        capture_output=True, text=True, check=False, cwd=workdir, env=env,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    validate = subprocess.run(
        [_terraform(), "validate", "-json", "-no-color"],
        capture_output=True, text=True, check=False, cwd=workdir, env=env,
    )  # fmt: skip
    report = json.loads(validate.stdout)
    messages = [
        f"{d['severity']}: {d['summary']} {d.get('detail', '')}" for d in report["diagnostics"]
    ]
    assert report["valid"] is True, messages
    assert report["error_count"] == 0 and report["warning_count"] == 0, messages
