"""cfn-lint and checkov accept the packaged template; every checkov skip is justified."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import Packaged

BIN = Path(sys.executable).parent

# Each skip carries its reason in the template Metadata next to the resource (serverless.yml).
EXPECTED_SKIPS = {
    ("CKV_AWS_18", "ServerlessDeploymentBucket"),
    *((check, q) for check in ["CKV_AWS_27"] for q in ["IntakeQueue", "IntakeDLQ"]),
    *((check, q) for check in ["CKV_AWS_27"] for q in ["NotifyQueue", "NotifyDLQ"]),
    ("CKV_AWS_27", "IngestDLQ"),
    *((check, q) for check in ["CKV_AWS_27"] for q in ["DigestQueue", "DigestDLQ"]),
    ("CKV_AWS_158", "DigestLogGroup"),
    ("CKV_AWS_18", "IngestBucket"),
    ("CKV_AWS_158", "IngestLogGroup"),
    *((check, "IngestLambdaFunction") for check in ["CKV_AWS_115", "CKV_AWS_117", "CKV_AWS_173"]),
    ("CKV_AWS_119", "RecordsTable"),
    ("CKV_AWS_119", "LedgerTable"),
    ("CKV_AWS_119", "RunsTable"),
    ("CKV_AWS_158", "CheckLogGroup"),
    ("CKV_AWS_158", "NotifyLogGroup"),
    ("CKV_AWS_158", "RunsLogGroup"),
    ("CKV_AWS_158", "DailyLogGroup"),
    *(
        (check, function)
        for check in ["CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"]
        for function in [
            *("CheckLambdaFunction", "NotifyLambdaFunction", "RunsLambdaFunction"),
            "DigestLambdaFunction",
            "DailyLambdaFunction",
        ]
    ),
}


def _checkov(template: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "checkov"), "-f", str(template), "--framework", "cloudformation"]
    # --skip-download: no call to the Prisma Cloud guidelines API (offline, and faster)
    return subprocess.run(
        [*command, "--skip-download", *extra],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_cfn_lint_reports_no_errors_or_warnings(lab: Packaged) -> None:
    result = subprocess.run(
        [str(BIN / "cfn-lint"), "--format", "json", str(lab.template_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    matches = json.loads(result.stdout or "[]")
    problems = [m for m in matches if m["Level"] in {"Error", "Warning"}]
    assert problems == [], json.dumps(problems, indent=2)
    assert result.returncode == 0, result.stderr


def test_checkov_reports_no_failed_check(lab: Packaged) -> None:
    result = _checkov(lab.template_path, "--quiet", "--compact")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout


def test_every_checkov_skip_is_expected_and_justified_in_the_template(lab: Packaged) -> None:
    result = _checkov(lab.template_path, "--compact", "--output", "json")
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] == 0
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 30
    skipped = report["results"]["skipped_checks"]
    assert {(c["check_id"], c["resource"].split(".", 1)[1]) for c in skipped} == EXPECTED_SKIPS
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) > 40, check["check_id"]
