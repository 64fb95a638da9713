"""The Lambda zip holds the handlers and aarch64 binaries, nothing CLI-only, and stays small."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import Packaged

EM_AARCH64 = 183
MAX_ZIPPED_BYTES = 15_000_000


@pytest.fixture(scope="module")
def names(lab: Packaged) -> list[str]:
    with zipfile.ZipFile(lab.artifact) as zf:
        return zf.namelist()


def test_artifact_holds_both_handlers_the_core_and_the_pipeline(names: list[str]) -> None:
    assert "uvqc/__init__.py" in names
    assert "uvqc/aws/check_handler.py" in names
    assert "uvqc/aws/notify_handler.py" in names
    assert any(n.startswith("uvqc/core/") and n.endswith(".py") for n in names)
    assert any(n.startswith("uvqc/pipeline/") and n.endswith(".py") for n in names)


def test_artifact_holds_the_runtime_dependencies(names: list[str]) -> None:
    tops = {n.split("/", 1)[0] for n in names}
    for package in ["pydantic", "pydantic_core", "pydantic_settings", "aws_lambda_powertools"]:
        assert package in tops
    assert "jmespath" in tops  # Powertools idempotency imports it


def test_artifact_leaves_out_cli_embedded_runtime_sdk_and_install_noise(names: list[str]) -> None:
    tops = {n.split("/", 1)[0] for n in names}
    assert not tops & {"typer", "rich", "click", "pygments", "markdown_it", "boto3", "botocore"}
    assert not tops & {"s3transfer", "urllib3", "dateutil", "six.py", "bin"}
    assert not [n for n in names if n.startswith(("uvqc/cli", "uvqc/local/", "uvqc/__main__"))]
    assert not [n for n in names if n.startswith("uvqc/adapters/sqlite")]
    assert "uvqc/aws/build.py" not in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.endswith((".dist-info/RECORD", ".dist-info/INSTALLER"))]


def test_native_extensions_are_cpython_313_aarch64_elf(lab: Packaged) -> None:
    with zipfile.ZipFile(lab.artifact) as zf:
        shared = [n for n in zf.namelist() if n.endswith(".so")]
        assert any(n.startswith("pydantic_core/") for n in shared)
        for name in shared:
            assert "cpython-313-aarch64-linux-gnu" in name, name
            header = zf.read(name)[:20]
            assert header[:4] == b"\x7fELF", name
            assert header[4] == 2, f"{name}: not a 64-bit ELF"
            assert int.from_bytes(header[18:20], "little") == EM_AARCH64, name


def test_artifact_is_reproducible_sorted_with_fixed_timestamps(lab: Packaged) -> None:
    with zipfile.ZipFile(lab.artifact) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_artifact_stays_small(lab: Packaged, record_property: Callable[[str, Any], None]) -> None:
    size = lab.artifact.stat().st_size
    with zipfile.ZipFile(lab.artifact) as zf:
        unzipped = sum(i.file_size for i in zf.infolist())
    record_property("artifact_bytes", size)
    record_property("artifact_unzipped_bytes", unzipped)
    print(f"uvqc.zip: {size / 1e6:.2f} MB zipped, {unzipped / 1e6:.2f} MB unzipped")
    assert size < MAX_ZIPPED_BYTES
    assert unzipped < 50_000_000  # Lambda's limit is 250 MB; this one should stay far below
