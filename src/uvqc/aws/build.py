"""Build the arm64 Lambda artifacts (``uvqc.zip``, ``uvqc-digest.zip``) from the uv lock file.

``uvqc.zip`` is the artifact of the check, notify, runs and ingest functions: no plotting
stack. ``uvqc-digest.zip`` is the digest function's alone: the same plus matplotlib, numpy
and the modules that draw and compose run digests (uvqc/report, uvqc/digest), so no other
function's cold start or memory pays for them (docs/AWS.md, "The digest function").

Runtime dependencies are exported from ``uv.lock``, trimmed of what Lambda does not need
(the CLI stack, and boto3 which the python3.13 runtime provides), and installed from
manylinux aarch64 wheels only: nothing is ever compiled on the build machine. The zip is
deterministic (sorted entries, fixed timestamps and permissions), so an unchanged lock and
source tree give a byte-identical artifact and CloudFormation sees no code change.

Bytecode ships in the zip, compiled by a CPython of the runtime's version (3.13) with
`--invalidation-mode unchecked-hash`: /var/task is read-only, so without it every cold start
compiles uvqc, pydantic and Powertools from source (measured: check handler import 480 ms
without, 238 ms with, on 3.13). Timestamp-checked .pyc files would not do: the zip's fixed
1980 timestamps never match the mtime recorded in them, so Python would recompile anyway.
Unchecked-hash .pyc files hold no mtime and no build path (`-s`/`-p` make co_filename
`/var/task/...`), so the artifact stays reproducible.

    python -m uvqc.aws.build --out build/lambda [--python /path/to/python3.13] [--only main]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path, PurePosixPath

ARTIFACT_NAME = "uvqc.zip"
DIGEST_ARTIFACT_NAME = "uvqc-digest.zip"
PLATFORM = "manylinux2014_aarch64"
# The locked matplotlib, numpy, contourpy, kiwisolver and pillow publish aarch64 cp313
# wheels only with manylinux_2_28 tags. The python3.13 Lambda runtime is Amazon Linux 2023
# (glibc 2.34), so glibc 2.28 wheels run there. Only the digest artifact takes them: the
# main artifact keeps manylinux2014 and so stays byte-identical.
DIGEST_PLATFORMS = (PLATFORM, "manylinux_2_28_aarch64")
PYTHON_VERSION = "3.13"
BYTECODE_TAG = "cpython-313"
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the zip: the co_filename prefix

# Not imported by the Lambda handlers: the CLI stack (typer and friends) and the AWS SDK,
# which the Lambda python runtime ships (boto3, botocore, s3transfer, urllib3, dateutil,
# six). jmespath stays: Powertools idempotency imports it.
EXCLUDED_DISTRIBUTIONS = frozenset(
    {
        "annotated-doc",
        "boto3",
        "botocore",
        "click",
        "colorama",
        "ijson",
        # Instrument-file readers used only on a workstation (`uvqc ingest`): numpy (for
        # JCAMP-DX) alone would break the artifact's size budget; the ingest function
        # refuses JCAMP-DX and XLSX files, naming the reason.
        "et-xmlfile",
        "jcamp",
        "openpyxl",
        "markdown-it-py",
        "mdurl",
        "pygments",
        "python-dateutil",
        "rich",
        "s3transfer",
        "shellingham",
        "six",
        "typer",
        "urllib3",
    }
)
# The plotting stack: left out of uvqc.zip, shipped in uvqc-digest.zip only (digest figures).
PLOTTING_DISTRIBUTIONS = frozenset(
    {
        "contourpy",
        "cycler",
        "fonttools",
        "kiwisolver",
        "matplotlib",
        "numpy",
        "pillow",
        "pyparsing",
    }
)

# Parts of the uvqc package that only the embedded runtime or the build machine use.
EXCLUDED_SOURCE = (
    "uvqc/__main__.py",
    "uvqc/cli",
    "uvqc/local/",
    "uvqc/adapters/sqlite",
    "uvqc/adapters/files.py",  # result files: the CLI reads them (with ijson), never a Lambda
    "uvqc/adapters/jsonstream.py",
    "uvqc/adapters/submissions.py",  # `uvqc submit` reading result files (CLI only)
    "uvqc/adapters/submit_journal.py",
    "uvqc/aws/build.py",
    "uvqc/aws/ops.py",  # the CLI's --aws operations
)
# What draws and composes digests (imports matplotlib): the digest artifact only.
DIGEST_SOURCE = (
    "uvqc/report/",
    "uvqc/digest/",
    "uvqc/adapters/dynamodb_report.py",
    "uvqc/adapters/dynamodb_digests.py",
    "uvqc/aws/digest_handler.py",
)

# Install-time noise: hashes of the build machine's files, installer markers, test suites.
# Bytecode other than the runtime's own (BYTECODE_TAG) is noise too.
NOISE_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
NOISE_DIRS = frozenset({"tests", "test"})

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """Raised when a build step (export, install, copy) cannot complete."""


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def runtime_requirements(exported: str, *, digest: bool = False) -> list[str]:
    """Return the ``name==version`` lines of a ``uv export`` that the Lambda needs (the
    digest function's: with the plotting stack)."""
    excluded = EXCLUDED_DISTRIBUTIONS | (frozenset() if digest else PLOTTING_DISTRIBUTIONS)
    requirements: list[str] = []
    for raw in exported.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "-")):
            continue
        name = line.split("==", 1)[0].split(";", 1)[0]
        if _normalise(name) not in excluded:
            requirements.append(line)
    return requirements


def export_lock(project: Path, uv: str) -> str:
    """Export the locked runtime dependencies (no dev group, no project itself)."""
    command = [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"]
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"`{' '.join(command)}` failed in {project}:\n{result.stderr}")
    return result.stdout


def _pip_environment() -> dict[str, str]:
    """The environment for pip: no host config files, find-links or constraints.

    A machine-wide pip.conf or PIP_FIND_LINKS/PIP_CONSTRAINT would mix host wheels into a
    cross-platform install; index and certificate settings (PIP_INDEX_URL, PIP_CERT) stay.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_REQUIREMENT", "PIP_NO_INDEX"}
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def install_wheels(
    requirements: Sequence[str],
    target: Path,
    *,
    platform: str = PLATFORM,
    platforms: Sequence[str] = (),
) -> None:
    """Install ``requirements`` for CPython 3.13 on ``platform`` (manylinux aarch64 for
    Lambda), or on any of ``platforms`` when given, binaries only."""
    tags = [f for p in (platforms or [platform]) for f in ("--platform", p)]
    requirements_file = target.parent / "requirements.txt"
    requirements_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-compile",
        "--only-binary=:all:",
        *tags,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--target",
        str(target),
        "--requirement",
        str(requirements_file),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, env=_pip_environment(), check=False
    )
    if result.returncode != 0:
        raise BuildError(
            f"pip could not install {', '.join(platforms or [platform])} wheels for Python "
            f"{PYTHON_VERSION}:\n"
            f"{result.stdout}{result.stderr}"
        )


def _is_excluded_source(relative: PurePosixPath, excluded: Collection[str]) -> bool:
    text = relative.as_posix()
    return any(text.startswith(prefix) for prefix in excluded)


def copy_package(source: Path, target: Path, *, digest: bool = False) -> None:
    """Copy the ``uvqc`` package into ``target``, leaving out CLI/embedded-only modules (and,
    unless for the digest artifact, the modules that draw and compose digests)."""
    excluded = EXCLUDED_SOURCE if digest else (*EXCLUDED_SOURCE, *DIGEST_SOURCE)
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        relative = PurePosixPath("uvqc", *path.relative_to(source).parts)
        if _is_excluded_source(relative, excluded):
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


def _is_noise(relative: PurePosixPath) -> bool:
    if relative.parts[0] == "bin":  # console scripts pinned to the build machine's python
        return True
    if any(part in NOISE_DIRS for part in relative.parts[:-1]):
        return True
    if relative.suffix == ".pyo":
        return True
    if relative.suffix == ".pyc":
        return not (
            relative.parent.name == "__pycache__" and relative.name.endswith(f".{BYTECODE_TAG}.pyc")
        )
    if "__pycache__" in relative.parts:
        return True
    in_dist_info = any(part.endswith(".dist-info") for part in relative.parts[:-1])
    return in_dist_info and relative.name in NOISE_FILES


def artifact_entries(root: Path) -> list[tuple[PurePosixPath, Path]]:
    """The files of ``root`` to ship, as (archive name, path), sorted by archive name."""
    entries = [
        (PurePosixPath(*path.relative_to(root).parts), path)
        for path in root.rglob("*")
        if path.is_file()
    ]
    return sorted(
        (entry for entry in entries if not _is_noise(entry[0])), key=lambda e: e[0].as_posix()
    )


def write_zip(entries: Iterable[tuple[PurePosixPath, Path]], destination: Path) -> None:
    """Write a reproducible zip: fixed timestamps, normalised permissions, sorted names."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in entries:
            info = zipfile.ZipInfo(name.as_posix(), date_time=FIXED_DATE_TIME)
            mode = 0o755 if os.access(path, os.X_OK) and path.suffix == ".so" else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(destination)


def _python_version(python: str) -> str | None:
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def find_runtime_python(uv: str | None = None) -> str | None:
    """A CPython of the Lambda runtime's version (PYTHON_VERSION) on this machine: on PATH,
    found by uv, or installed by pyenv; None if there is none."""
    candidates = [shutil.which(f"python{PYTHON_VERSION}") or ""]
    if uv:
        try:
            found = subprocess.run(
                [uv, "python", "find", "--no-project", PYTHON_VERSION],
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
            candidates.append(found.stdout.strip() if found.returncode == 0 else "")
        except (OSError, subprocess.TimeoutExpired):
            pass
    home = Path.home()
    versions = home / ".pyenv" / "versions"
    candidates += sorted(
        (str(p / "bin" / "python3") for p in versions.glob(f"{PYTHON_VERSION}*")), reverse=True
    )
    for candidate in candidates:
        if candidate and _python_version(candidate) == PYTHON_VERSION:
            return candidate
    return None


def compile_bytecode(root: Path, python: str) -> None:
    """Compile every .py under ``root`` with ``python`` (unchecked-hash .pyc files whose
    co_filename is the file's path under LAMBDA_TASK_ROOT)."""
    version = _python_version(python)
    if version != PYTHON_VERSION:
        raise BuildError(
            f"{python} is Python {version or '(not runnable)'}; the bytecode must be compiled "
            f"by Python {PYTHON_VERSION}, the Lambda runtime's"
        )
    command = [
        python,
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(root),
        "-p",
        LAMBDA_TASK_ROOT,
        str(root),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"compileall failed:\n{result.stdout}{result.stderr}")


def build(
    project: Path,
    out: Path,
    uv: str,
    *,
    python: str | None = None,
    bytecode: bool = True,
    platform: str = PLATFORM,
    digest: bool = False,
) -> Path:
    """Build ``out/uvqc.zip`` (``digest``: ``out/uvqc-digest.zip``) for ``project`` and
    return its path. ``python`` compiles the bytecode (default: find_runtime_python);
    ``bytecode=False`` ships sources only. ``platform`` other than the default (a bench on
    the host) is used alone; the digest artifact for Lambda takes DIGEST_PLATFORMS."""
    source = project / "src" / "uvqc"
    if not source.is_dir():
        raise BuildError(f"{source} not found: run from the project root or pass --project")
    compiler = None
    if bytecode:
        compiler = python or find_runtime_python(uv)
        if compiler is None:
            raise BuildError(
                f"no Python {PYTHON_VERSION} found to compile the bytecode for the Lambda "
                f"runtime: install one (e.g. `uv python install {PYTHON_VERSION}`), pass "
                "--python PATH, or build without bytecode (--no-bytecode: slower cold starts)"
            )
    requirements = runtime_requirements(export_lock(project, uv), digest=digest)
    platforms = DIGEST_PLATFORMS if digest and platform == PLATFORM else (platform,)
    with tempfile.TemporaryDirectory(prefix="uvqc-lambda-") as scratch:
        staging = Path(scratch) / "package"
        staging.mkdir()
        install_wheels(requirements, staging, platforms=platforms)
        copy_package(source, staging, digest=digest)
        if digest:
            trim_plotting_data(staging)
        if compiler is not None:
            compile_bytecode(staging, compiler)
        artifact = out / (DIGEST_ARTIFACT_NAME if digest else ARTIFACT_NAME)
        write_zip(artifact_entries(staging), artifact)
    return artifact


# matplotlib data the digest figures never use: example data sets, toolbar images, the
# style sheets' sample files. (The DejaVu fonts and matplotlibrc stay.)
PLOTTING_NOISE = ("matplotlib/mpl-data/sample_data", "matplotlib/mpl-data/images")


def trim_plotting_data(root: Path) -> None:
    """Remove PLOTTING_NOISE from an installed tree (present or not)."""
    for relative in PLOTTING_NOISE:
        path = root / relative
        if path.exists():
            shutil.rmtree(path)


def _default_uv() -> str:
    beside_python = Path(sys.executable).with_name("uv")
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("uv") or "uv"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m uvqc.aws.build", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("--out", type=Path, default=Path("build/lambda"), help="output folder")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="project root")
    parser.add_argument("--uv", default=None, help="uv executable (default: the venv's uv)")
    parser.add_argument(
        "--python", default=None, help=f"Python {PYTHON_VERSION} that compiles the bytecode"
    )
    parser.add_argument(
        "--no-bytecode", action="store_true", help="ship sources only (slower cold starts)"
    )
    parser.add_argument(
        "--only",
        choices=("main", "digest"),
        default=None,
        help="build one artifact (default: both, uvqc.zip and uvqc-digest.zip)",
    )
    args = parser.parse_args(argv)
    kinds = [args.only == "digest"] if args.only else [False, True]
    for digest in kinds:
        try:
            artifact = build(
                args.project.resolve(),
                args.out,
                args.uv or _default_uv(),
                python=args.python,
                bytecode=not args.no_bytecode,
                digest=digest,
            )
        except BuildError as error:
            print(f"build failed: {error}", file=sys.stderr)
            return 1
        size = artifact.stat().st_size
        print(f"{artifact} ({size / 1_000_000:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
