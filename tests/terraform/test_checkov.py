"""terraform fmt and checkov, as part of the test suite (CI fails when either does).

checkov runs from its own tool environment (``.tools/checkov``, made by ``make checkov``, a
prerequisite of ``make test``): it pins an old boto3 and ships its own hcl2, so it never goes
into the project environment. No ``terraform init/validate/plan``: provider downloads are
blocked here, and faking them would prove nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.terraform.conftest import REPO_ROOT, TERRAFORM_DIR

CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"


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
