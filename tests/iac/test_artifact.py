"""The Lambda zip holds the handlers and aarch64 binaries, nothing CLI-only, and stays small."""

from __future__ import annotations

import ast
import sys
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
    for package in ["pydantic", "pydantic_core", "aws_lambda_powertools"]:
        assert package in tops
    assert "jmespath" in tops  # Powertools idempotency imports it


def test_artifact_leaves_out_cli_embedded_runtime_sdk_and_install_noise(names: list[str]) -> None:
    tops = {n.split("/", 1)[0] for n in names}
    assert not tops & {"typer", "rich", "click", "pygments", "markdown_it", "boto3", "botocore"}
    assert not tops & {"s3transfer", "urllib3", "dateutil", "six.py", "bin"}
    assert not [n for n in names if n.startswith(("uvqc/cli", "uvqc/local/", "uvqc/__main__"))]
    assert not [n for n in names if n.startswith("uvqc/adapters/sqlite")]
    assert "uvqc/aws/build.py" not in names
    assert not [n for n in names if n.endswith(".pyc") and not n.endswith(".cpython-313.pyc")]
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


# CPython 3.13's bytecode magic number (importlib.util.MAGIC_NUMBER: 3571, then \r\n) and
# the PEP 552 flags of an unchecked hash-based .pyc (bit 0 hash-based, bit 1 check_source).
MAGIC_313 = (3571).to_bytes(2, "little") + b"\r\n"
UNCHECKED_HASH = 0b01


def _pyc_name(source: str) -> str:
    folder, _, name = source.rpartition("/")
    cached = f"__pycache__/{name.removesuffix('.py')}.cpython-313.pyc"
    return f"{folder}/{cached}" if folder else cached


def test_every_module_ships_unchecked_hash_bytecode_for_python_313(lab: Packaged) -> None:
    """/var/task is read-only: without .pyc files every cold start compiles every module.
    Timestamp .pyc files would be stale against the zip's 1980 dates, so they must be
    unchecked-hash ones, compiled by 3.13 with /var/task paths (no build-machine path)."""
    with zipfile.ZipFile(lab.artifact) as zf:
        names = set(zf.namelist())
        sources = sorted(n for n in names if n.endswith(".py"))
        assert sources
        assert not [s for s in sources if _pyc_name(s) not in names]
        for source in sources:
            header = zf.read(_pyc_name(source))[:16]
            assert header[:4] == MAGIC_313, source
            assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH, source
        handler = zf.read(_pyc_name("uvqc/aws/check_handler.py"))
    assert b"/var/task/uvqc/aws/check_handler.py" in handler
    assert b"/tmp/" not in handler


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


# Provided by the Lambda python3.13 runtime, so deliberately not in the zip.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six"}
# Standard-library modules of the (3.11) test interpreter that Python 3.13 no longer has.
REMOVED_BY_313 = {
    *("aifc", "asynchat", "asyncore", "audioop", "cgi", "cgitb", "chunk", "crypt"),
    *("distutils", "imghdr", "imp", "lib2to3", "mailcap", "msilib", "nis", "nntplib"),
    *("ossaudiodev", "pipes", "smtpd", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib"),
}


STDLIB = set(sys.stdlib_module_names)


def _runtime_imports(source: str) -> set[str]:
    """Modules a file imports when it runs (imports under `if TYPE_CHECKING:` excluded, and
    optional ones: `try: import x` / `except ModuleNotFoundError:` handles their absence)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Try) and any(
            h.type is not None and ast.unparse(h.type) in {"ModuleNotFoundError", "ImportError"}
            for h in node.handlers
        ):
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def test_every_uvqc_module_in_the_zip_imports_only_what_the_zip_or_runtime_has(
    lab: Packaged,
) -> None:
    with zipfile.ZipFile(lab.artifact) as zf:
        names = set(zf.namelist())
        tops = {n.split("/", 1)[0].removesuffix(".py") for n in names}
        missing = set()
        for name in sorted(n for n in names if n.startswith("uvqc/") and n.endswith(".py")):
            for module in _runtime_imports(zf.read(name).decode("utf-8")):
                top = module.split(".", 1)[0]
                if top == "uvqc":
                    path = module.replace(".", "/")
                    if f"{path}.py" not in names and f"{path}/__init__.py" not in names:
                        missing.add((name, module))
                elif top in REMOVED_BY_313 or top not in STDLIB | RUNTIME_PROVIDED | tops:
                    missing.add((name, module))
    assert not missing, f"imports the Lambda cannot satisfy: {sorted(missing)}"


# --------------------------------------------------------------------- the digest artifact

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # Lambda: function + layers, unzipped


@pytest.fixture(scope="module")
def digest_names(lab: Packaged) -> list[str]:
    with zipfile.ZipFile(lab.artifact.with_name("uvqc-digest.zip")) as zf:
        return zf.namelist()


def test_main_artifact_holds_no_plotting_stack_nor_the_digest_function(names: list[str]) -> None:
    tops = {n.split("/", 1)[0] for n in names}
    assert not tops & {"matplotlib", "numpy", "PIL", "contourpy", "kiwisolver", "fontTools"}
    assert not [n for n in names if n.startswith(("uvqc/report/", "uvqc/digest/"))]
    assert "uvqc/aws/digest_handler.py" not in names
    assert "uvqc/adapters/dynamodb_digests.py" not in names


def test_digest_artifact_holds_its_handler_the_report_stack_and_aarch64_plotting_wheels(
    lab: Packaged, digest_names: list[str]
) -> None:
    for name in [
        "uvqc/aws/digest_handler.py",
        "uvqc/adapters/dynamodb_digests.py",
        "uvqc/digest/compose.py",
        "uvqc/report/render.py",
        "uvqc/aws/notify_handler.py",
    ]:
        assert name in digest_names
    tops = {n.split("/", 1)[0] for n in digest_names}
    assert {"matplotlib", "numpy", "PIL", "jinja2", "pydantic_core"} <= tops
    assert not tops & {"boto3", "botocore", "typer", "rich", "bin"}
    assert not [n for n in digest_names if n.startswith("uvqc/cli")]
    assert not [n for n in digest_names if n.startswith("matplotlib/mpl-data/sample_data/")]
    assert any(n.startswith("matplotlib/mpl-data/fonts/ttf/DejaVuSans") for n in digest_names)
    with zipfile.ZipFile(lab.artifact.with_name("uvqc-digest.zip")) as zf:
        for name in [n for n in digest_names if n.endswith(".so")]:
            header = zf.read(name)[:20]
            assert header[:4] == b"\x7fELF", name
            assert int.from_bytes(header[18:20], "little") == EM_AARCH64, name


def test_digest_artifact_stays_under_lambdas_unzipped_limit(
    lab: Packaged, record_property: Callable[[str, Any], None]
) -> None:
    artifact = lab.artifact.with_name("uvqc-digest.zip")
    with zipfile.ZipFile(artifact) as zf:
        unzipped = sum(i.file_size for i in zf.infolist())
    record_property("digest_artifact_bytes", artifact.stat().st_size)
    record_property("digest_artifact_unzipped_bytes", unzipped)
    print(
        f"uvqc-digest.zip: {artifact.stat().st_size / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB"
    )
    assert unzipped < LAMBDA_UNZIPPED_LIMIT * 0.8  # a fifth kept free for upgrades
    assert artifact.stat().st_size < 70_000_000  # osls uploads it through S3 (no 50 MB cap)


def test_every_uvqc_module_in_the_digest_zip_imports_only_what_it_or_the_runtime_has(
    lab: Packaged,
) -> None:
    with zipfile.ZipFile(lab.artifact.with_name("uvqc-digest.zip")) as zf:
        names = set(zf.namelist())
        tops = {n.split("/", 1)[0].removesuffix(".py") for n in names}
        missing = set()
        for name in sorted(n for n in names if n.startswith("uvqc/") and n.endswith(".py")):
            for module in _runtime_imports(zf.read(name).decode("utf-8")):
                top = module.split(".", 1)[0]
                if top == "uvqc":
                    path = module.replace(".", "/")
                    if f"{path}.py" not in names and f"{path}/__init__.py" not in names:
                        missing.add((name, module))
                elif top in REMOVED_BY_313 or top not in STDLIB | RUNTIME_PROVIDED | tops:
                    missing.add((name, module))
    assert not missing, f"imports the digest Lambda cannot satisfy: {sorted(missing)}"
