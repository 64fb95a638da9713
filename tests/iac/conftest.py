"""Build the Lambda artifact and package the CloudFormation template once per test session.

Under pytest-xdist every worker asks for the same outputs: the first one to take the file
lock builds them into a directory shared by all workers, the others wait and reuse them.
Packaging runs in a scratch copy of the service (serverless.yml + the artifact), so the
working tree's build/ and .serverless/ are never touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OSLS = ROOT / "node_modules" / ".bin" / "osls"
REGION = "eu-west-1"


@dataclass(frozen=True)
class Packaged:
    """The outputs of `make package` for one stage."""

    stage: str
    artifact: Path
    service_dir: Path
    package_dir: Path
    build_seconds: float

    @property
    def template_path(self) -> Path:
        return self.package_dir / "cloudformation-template-update-stack.json"

    @property
    def create_template_path(self) -> Path:
        return self.package_dir / "cloudformation-template-create-stack.json"

    def template(self) -> dict[str, Any]:
        return json.loads(self.template_path.read_text(encoding="utf-8"))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # xdist workers get basetemp/popen-gwN; their parent is common to the session.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = shared / "uvqc-iac"
    path.mkdir(exist_ok=True)
    return path


def _offline_env() -> dict[str, str]:
    """No AWS credentials or profiles and no telemetry: packaging must work offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(SLS_TELEMETRY_DISABLED="1", SLS_NOTIFICATIONS_MODE="off", CI="1")
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )


def _build_artifact(shared: Path) -> tuple[Path, float]:
    out = shared / "lambda"
    artifact = out / "uvqc.zip"
    timing = shared / "build-seconds.txt"
    with _locked(shared / "artifact.lock"):
        if not artifact.exists():
            started = time.monotonic()
            _run(
                [sys.executable, "-m", "uvqc.aws.build", "--out", str(out), "--project", str(ROOT)],
                cwd=ROOT,
            )
            timing.write_text(f"{time.monotonic() - started:.1f}", encoding="utf-8")
    return artifact, float(timing.read_text(encoding="utf-8"))


def _package(shared: Path, stage: str) -> Packaged:
    if not OSLS.exists():
        pytest.fail("osls is not installed: run `make node_modules/.installed` (npm ci)")
    artifact, build_seconds = _build_artifact(shared)
    service = shared / f"service-{stage}"
    package_dir = service / ".serverless"
    with _locked(shared / f"package-{stage}.lock"):
        if not (package_dir / "cloudformation-template-update-stack.json").exists():
            shutil.rmtree(service, ignore_errors=True)
            (service / "build" / "lambda").mkdir(parents=True)
            shutil.copyfile(ROOT / "serverless.yml", service / "serverless.yml")
            shutil.copyfile(artifact, service / "build" / "lambda" / "uvqc.zip")
            digest = artifact.with_name("uvqc-digest.zip")  # built beside it (uvqc.aws.build)
            shutil.copyfile(digest, service / "build" / "lambda" / "uvqc-digest.zip")
            _run(
                [str(OSLS), "package", "--stage", stage, "--region", REGION],
                cwd=service,
                env=_offline_env(),
            )
    return Packaged(stage, artifact, service, package_dir, build_seconds)


@pytest.fixture(scope="session")
def iac_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _shared_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def lab(iac_dir: Path) -> Packaged:
    """Artifact + `osls package --stage lab` output, built once for all workers."""
    return _package(iac_dir, "lab")


@pytest.fixture(scope="session")
def prod(iac_dir: Path) -> Packaged:
    return _package(iac_dir, "prod")


@pytest.fixture(scope="session")
def template(lab: Packaged) -> dict[str, Any]:
    return lab.template()


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = template["Resources"]
    return res
